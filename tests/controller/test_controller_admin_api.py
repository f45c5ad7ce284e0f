"""The token and user routes (``/api/v1/tokens``, ``/api/v1/users``) against a real controller.

The controller is the real application served from a thread
(:class:`~sparkwing_server.controller.threaded.ThreadedController`) over a
fresh home's SQLite state; requests go over HTTP with urllib. The CLI and
these routes share their checks, so a token made over HTTP shows in `token
list` and one revoked over HTTP is refused by the next request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Answer, http


class Served:
    """A threaded controller over a fresh home and its token store."""

    def __init__(self, url: str, stores: Any, tokens: Any) -> None:
        self.url = url
        self.stores = stores
        self.tokens = tokens

    def call(self, method: str, path: str, token: str = "", body: Any = None,
             **kw: Any) -> Answer:
        """One request to the controller."""
        return http(method, self.url + path, token=token, body=body, **kw)


def _serve(tmp_path: Path, *, require_auth: bool) -> Iterator[Served]:
    from sparkwing_server.controller.threaded import ThreadedController
    from sparkwing_server.controller.tokens import open_token_store
    from sparkwing_server.localws.serve import open_profile_stores

    work = tmp_path / "work"
    work.mkdir()
    stores = open_profile_stores(None, work)
    tokens = open_token_store(stores)
    server = ThreadedController(stores, tokens, require_auth=require_auth)
    try:
        yield Served(server.start(), stores, tokens)
    finally:
        server.stop()
        tokens.close()
        stores.close()


@pytest.fixture
def served(sparkwing_home: Path, tmp_path: Path) -> Iterator[Served]:
    """A controller started open (no token, no user yet)."""
    yield from _serve(tmp_path, require_auth=False)


def _admin(served: Served) -> str:
    raw, _ = served.tokens.create("user", "root", ["admin"])
    return raw


def test_create_use_list_and_revoke_a_token(served: Served) -> None:
    admin = _admin(served)
    made = served.call("POST", "/api/v1/tokens", admin, {
        "principal": "box-7", "kind": "runner", "scopes": ["runner"], "ttl_secs": 3600})
    assert made.status == 201, made.body
    data = made.json()
    raw, meta = data["token"], data["metadata"]
    assert raw.startswith("swr_") and meta["prefix"] == raw[:12]
    assert meta["principal"] == meta["name"] == "box-7"
    assert meta["kind"] == "runner" and meta["scopes"] == ["runner"]
    assert meta["expires_at"] - meta["created_at"] == pytest.approx(3600)
    assert meta["status"] == "active" and "hash" not in meta and raw not in str(meta)
    # Only the hash is stored, and the token works at once.
    assert served.tokens.get(meta["prefix"]).name == "box-7"
    who = served.call("GET", "/api/v1/auth/whoami", raw).json()
    assert who["principal"] == "runner:box-7" and who["token_prefix"] == meta["prefix"]
    one = served.call("GET", f"/api/v1/tokens/{meta['prefix']}", admin)
    assert one.status == 200 and one.json()["prefix"] == meta["prefix"]
    assert "token" not in one.json()
    listed = served.call("GET", "/api/v1/tokens", admin).json()["tokens"]
    assert [t["prefix"] for t in listed] == [meta["prefix"], admin[:12]]  # newest first
    runners = served.call("GET", "/api/v1/tokens?kind=runner", admin).json()["tokens"]
    assert [t["prefix"] for t in runners] == [meta["prefix"]]
    # Revocation takes effect on the very next request.
    assert served.call("GET", "/api/v1/runs", raw).status == 200
    assert served.call("DELETE", f"/api/v1/tokens/{meta['prefix']}", admin).status == 204
    refused = served.call("GET", "/api/v1/runs", raw).assert_error(401, "unauthenticated")
    assert "revoked" in refused["message"]
    again = served.call("DELETE", f"/api/v1/tokens/{meta['prefix']}", admin)
    assert "already revoked" in again.assert_error(404, "not_found")["message"]
    live = served.call("GET", "/api/v1/tokens?kind=runner", admin).json()["tokens"]
    assert live == []
    both = served.call("GET", "/api/v1/tokens?kind=runner&include_revoked=1", admin).json()
    assert [t["status"] for t in both["tokens"]] == ["revoked"]
    served.call("GET", "/api/v1/tokens/swu_nosuchxx", admin).assert_error(404, "not_found")


def test_bad_token_bodies_are_400_naming_the_field(served: Served) -> None:
    admin = _admin(served)

    def refused(body: dict[str, Any], code: str = "bad_request") -> dict[str, Any]:
        return served.call("POST", "/api/v1/tokens", admin, body).assert_error(400, code)

    base = {"principal": "ci", "kind": "service", "scopes": ["runs.read"]}
    unknown = refused({**base, "name": "ci"}, "unknown_field")
    assert unknown["field"] == "name" and "allowed: principal, kind, scopes, ttl_secs" in \
        unknown["message"]
    bad_scope = refused({**base, "scopes": ["runs.read", "root"]})
    assert bad_scope["field"] == "scopes"
    assert "unknown scope 'root'" in bad_scope["message"]
    assert "valid: runs.read, runs.write" in bad_scope["message"]
    assert "runner" in bad_scope["message"]  # bundles are valid names too
    assert refused({**base, "kind": "robot"})["field"] == "kind"
    assert "expected one of user, runner, service" in refused({**base, "kind": "robot"})["message"]
    assert refused({k: v for k, v in base.items() if k != "principal"})["field"] == "principal"
    assert refused({**base, "principal": "  "})["field"] == "principal"
    assert refused({**base, "scopes": []})["field"] == "scopes"
    assert refused({**base, "scopes": "runs.read"})["field"] == "scopes"
    assert refused({k: v for k, v in base.items() if k != "scopes"})["field"] == "scopes"
    assert refused({**base, "ttl_secs": -5})["field"] == "ttl_secs"
    assert refused({**base, "ttl_secs": "1h"})["field"] == "ttl_secs"
    assert refused({**base, "ttl_secs": 10**12})["field"] == "ttl_secs"
    served.call("GET", "/api/v1/tokens?kind=robot", admin).assert_error(400, "bad_request")
    # Nothing was created by any of those.
    assert [r.prefix for r in served.tokens.list()] == [admin[:12]]


def test_rotate_keeps_kind_name_scopes_and_ends_the_old_token(served: Served) -> None:
    admin = _admin(served)
    old = served.call("POST", "/api/v1/tokens", admin, {
        "principal": "deploy", "kind": "service", "scopes": ["runs.read", "runs.write"]}).json()
    prefix = old["metadata"]["prefix"]
    served.call("POST", f"/api/v1/tokens/{prefix}/rotate", admin,
                {"grace": 5}).assert_error(400, "unknown_field")
    rotated = served.call("POST", f"/api/v1/tokens/{prefix}/rotate", admin, {"ttl_secs": 600})
    assert rotated.status == 200, rotated.body
    data = rotated.json()
    new = data["new"]
    assert data["token"][:12] == new["prefix"] != prefix
    assert (new["kind"], new["name"], new["scopes"]) == ("service", "deploy",
                                                         ["runs.read", "runs.write"])
    assert new["expires_at"] - new["created_at"] == pytest.approx(600)
    assert data["old_replaced_by"] == new["prefix"] and data["old_revoked_at"] is not None
    assert data["old"]["status"] == "revoked"
    served.call("GET", "/api/v1/runs", old["token"]).assert_error(401, "unauthenticated")
    assert served.call("GET", "/api/v1/runs", data["token"]).status == 200
    served.call("POST", f"/api/v1/tokens/{prefix}/rotate", admin).assert_error(404, "not_found")
    # A grace period keeps the old token working until it ends.
    graced = served.call("POST", f"/api/v1/tokens/{new['prefix']}/rotate", admin,
                         {"grace_secs": 3600}).json()
    assert graced["old"]["status"] == "rotating"
    assert served.call("GET", "/api/v1/runs", data["token"]).status == 200


def test_token_routes_need_admin(served: Served) -> None:
    _admin(served)
    reader, _ = served.tokens.create("user", "ada", ["runs.read", "secrets.read"])
    runner, _ = served.tokens.create("runner", "box", ["runner"])
    for token in (reader, runner):
        for method, path, body in (("GET", "/api/v1/tokens", None),
                                   ("POST", "/api/v1/tokens", {"principal": "x", "kind": "user",
                                                               "scopes": ["admin"]}),
                                   ("DELETE", f"/api/v1/tokens/{reader[:12]}", None),
                                   ("GET", "/api/v1/users", None),
                                   ("POST", "/api/v1/users", {"name": "eve",
                                                              "password": "x" * 12})):
            denied = served.call(method, path, token, body).assert_error(403, "missing_scope")
            assert denied["missing_scope"] == "admin"
    served.call("GET", "/api/v1/tokens").assert_error(401, "unauthenticated")
    assert len(served.tokens.list()) == 3


def test_first_admin_signup_then_users_need_admin(served: Served) -> None:
    origin = {"Origin": served.url}
    assert served.call("GET", "/api/v1/auth/bootstrap-needed").json() == {"needed": True}
    served.call("POST", "/api/v1/users", body={"name": "ann", "password": "long-enough-pw",
                                               "scopes": ["runs.read"]},
                headers=origin).assert_error(400, "bad_request")
    first = served.call("POST", "/api/v1/users", body={"name": "ann",
                                                       "password": "long-enough-pw"},
                        headers=origin)
    assert first.status == 201, first.body
    assert first.json()["name"] == "ann" and first.json()["scopes"] == ["admin"]
    assert b"long-enough" not in first.body
    # The sign-up is closed now: auth is on, bootstrap-needed says so, a second try is refused.
    assert served.call("GET", "/api/v1/auth/bootstrap-needed").json() == {"needed": False}
    served.call("POST", "/api/v1/users", body={"name": "mallory", "password": "long-enough-pw"},
                headers=origin).assert_error(401, "unauthenticated")
    # The first user logs in and, as admin, manages users with its session.
    login = served.call("POST", "/login", body={"username": "ann",
                                               "password": "long-enough-pw"}, headers=origin)
    assert login.status == 200, login.body
    cookie = login.headers["Set-Cookie"].split(";")[0]
    session = {"Cookie": cookie, "X-CSRF-Token": login.json()["csrf_token"], **origin}
    made = served.call("POST", "/api/v1/users", body={
        "name": "bob", "password": "another-password", "scopes": ["runs.read", "logs.read"]},
        headers=session)
    assert made.status == 201, made.body
    assert made.json()["scopes"] == ["logs.read", "runs.read"]
    dup = served.call("POST", "/api/v1/users", body={
        "name": "bob", "password": "another-password", "scopes": ["runs.read"]}, headers=session)
    assert "exists" in dup.assert_error(409, "conflict")["message"]
    listed = served.call("GET", "/api/v1/users", headers=session).json()["users"]
    assert [(u["name"], u["live_sessions"]) for u in listed] == [("ann", 1), ("bob", 0)]
    assert all("password" not in str(u) for u in listed)
    # Strict bodies, field by field.
    for body, field in (({"name": "c", "password": "p" * 9, "scopes": ["x"]}, "scopes"),
                        ({"name": "c d", "password": "p" * 9, "scopes": ["admin"]}, "name"),
                        ({"name": "c", "password": "short", "scopes": ["admin"]}, "password"),
                        ({"name": "c", "scopes": ["admin"]}, "password"),
                        ({"name": "c", "password": "p" * 9}, "scopes")):
        err = served.call("POST", "/api/v1/users", body=body, headers=session)
        assert err.assert_error(400, "bad_request")["field"] == field, body
    extra = served.call("POST", "/api/v1/users", body={"name": "c", "password": "p" * 9,
                                                       "scopes": ["admin"], "email": "x"},
                        headers=session)
    assert extra.assert_error(400, "unknown_field")["field"] == "email"
    # Deleting a user ends its sessions at once.
    bob = served.call("POST", "/login", body={"username": "bob", "password": "another-password"},
                      headers=origin)
    bob_cookie = {"Cookie": bob.headers["Set-Cookie"].split(";")[0]}
    assert served.call("GET", "/api/v1/runs", headers=bob_cookie).status == 200
    assert served.call("DELETE", "/api/v1/users/bob", headers=session).status == 204
    served.call("GET", "/api/v1/runs", headers=bob_cookie).assert_error(401, "unauthenticated")
    served.call("DELETE", "/api/v1/users/bob", headers=session).assert_error(404, "not_found")


def test_racing_first_admin_signups_one_wins_the_other_gets_409(served: Served) -> None:
    origin = {"Origin": served.url}
    answers: dict[str, Answer] = {}
    start = threading.Barrier(2)

    def signup(name: str) -> None:
        start.wait()
        answers[name] = served.call("POST", "/api/v1/users", body={
            "name": name, "password": "long-enough-pw"}, headers=origin)

    threads = [threading.Thread(target=signup, args=(n,)) for n in ("ann", "eve")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(a.status for a in answers.values())
    # The loser is refused: 409 when its insert found the table filled, or 401 when it
    # arrived after the winner's user had switched auth on.
    assert statuses[0] == 201 and statuses[1] in (401, 409), statuses
    from sparkwing_server.controller.users import UserStore

    assert len(UserStore(served.tokens.db).list()) == 1


def test_signup_is_closed_while_a_token_exists(served: Served) -> None:
    """A controller with tokens but no user is not open to an anonymous admin sign-up."""
    _admin(served)
    assert served.call("GET", "/api/v1/auth/bootstrap-needed").json() == {"needed": False}
    served.call("POST", "/api/v1/users", body={"name": "eve", "password": "long-enough-pw"},
                headers={"Origin": served.url}).assert_error(401, "unauthenticated")


def test_the_store_refuses_a_second_first_user(served: Served, tmp_path: Path) -> None:
    """The emptiness check and the insert are one statement (the race above, made certain)."""
    from sparkwing_server.controller.users import UserExists, UserStore

    users = UserStore(served.tokens.db)
    users.create("ann", "long-enough-pw", ["admin"], first=True)
    with pytest.raises(UserExists, match="first-user sign-up is closed"):
        users.create("eve", "long-enough-pw", ["admin"], first=True)
    assert [u.name for u in users.list()] == ["ann"]

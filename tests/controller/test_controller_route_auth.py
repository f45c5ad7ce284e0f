"""The whole route table against the auth check: every authed route refuses bad callers.

The table is read from :data:`sparkwing_server.controller.routes.ROUTES`, so a
route added later is covered without touching this test.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

from sparkwing_server.controller.routes import ROUTES, Route
from sparkwing_server.controller.scopes import AUTHENTICATED, BUNDLES, PUBLIC, SCOPES

#: What each path parameter is filled with (the run, its job with a gate and a pause, a file).
_SAMPLES = {"node_id": "gate", "path": "app.js"}


def _path(route: Route, values: dict[str, str]) -> str:
    """The route's path with each ``{param}`` replaced by an existing object's id."""
    return re.sub(r"\{([a-z_]+)(?::[^}]+)?\}",
                  lambda m: values.get(m.group(1), values["run_id"]), route.path)


def _stored_commit(stores: Any, tmp_path: Path) -> tuple[str, str]:
    """A one-commit repository bundled into the controller's code store: (sha, bundle digest)."""
    import os
    import subprocess

    from sparkwing.gitbundle import Sender
    from sparkwing_server.controller.code import CodeStore

    repo = tmp_path / "code"
    repo.mkdir()
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "a",
           "GIT_AUTHOR_EMAIL": "a@example.invalid", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@example.invalid"}
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    sender = Sender(repo)
    sha = sender.snapshot().sha
    return sha, CodeStore(stores.cache).store(sender.bundle(sha, [])).digest


#: The entry the ``{cache_key}`` of the cache routes names (the bundle's digest is a stored blob).
_CACHE_KEY = "route-auth/entry"


def _refused(answer: Any, route: Route, status: int, code: str) -> dict[str, Any]:
    """The error body of a refusal (a HEAD answer has no body: its status only)."""
    if route.method == "HEAD":
        assert answer.status == status, (route.key, answer.status)
        return {}
    return dict(answer.assert_error(status, code))


#: The body of a write route whose path starts with the key (other POSTs: a trigger's).
_BODIES = {"/api/v1/secrets/": {"value": "route-auth-value"}}


def _body(route: Route) -> Any:
    for prefix, body in _BODIES.items():
        if route.path.startswith(prefix) and route.method in ("POST", "PUT"):
            return body
    return {"pipeline": "build"} if route.method == "POST" else None


def _seed_run(state: Any, run_id: str) -> None:
    """The finished run the routes act on: a job ``gate`` with an approval and a pause."""
    from sparkwing.storage.records import Approval, Node, Pause, Run

    now = time.time()
    state.create_run(Run(id=run_id, pipeline="build", status="success", created_at=now))
    state.create_nodes(run_id, [Node(run_id, "gate")])
    state.create_approval(Approval(run_id, "gate", now, message="ship?"))
    state.create_pause(Pause(run_id, "gate", "pause-before", now, now + 3600))


def _without(scope: str) -> str:
    """A scope list holding everything but *scope* (and no admin, no bundle granting it)."""
    held = [s for s in SCOPES if s not in (scope, "admin")]
    held += [b for b, grants in BUNDLES.items() if scope not in grants]
    return ",".join(held)


def test_every_authed_route_refuses_bad_callers(controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    revoked = controller.token("service", "gone", "admin")
    prefix = revoked[:12]
    assert controller.cli("controller", "token", "revoke", prefix).returncode == 0
    # An expired token, made through the real store with a creation time in the past.
    stores = controller.open_state()
    from sparkwing_server.controller.tokens import open_token_store

    tokens = open_token_store(stores)
    expired, _ = tokens.create("user", "old", ["admin"], ttl_s=1.0, now=time.time() - 60)
    run_id = "run-20260101-000000-aaaa"
    now = time.time()
    _seed_run(stores.state, run_id)
    sha, digest = _stored_commit(stores, tmp_path)
    from sparkwing.storage.records import TriggerRow

    # Routes under /triggers/{trigger_id} get an existing trigger row.
    stores.state.insert_trigger(TriggerRow(id="trg-auth", idempotency_key="auth-test",
                                           pipeline="build", created_at=now))
    # The token and user routes get a token and a user of their own (DELETE removes them).
    from sparkwing_server.controller.users import UserStore

    victim, _ = tokens.create("service", "victim", ["runs.read"])
    UserStore(tokens.db).create("someone", "long-enough-pw", ["runs.read"])
    tokens.close()
    stores.cache.put(_CACHE_KEY, b"route-auth")  # the cache key routes' entry
    values = {"run_id": run_id, "sha": sha, "digest": digest, "trigger_id": "trg-auth",
              "prefix": victim[:12], "user": "someone", "cache_key": _CACHE_KEY, **_SAMPLES}
    stores.close()
    # The secrets routes need a key, and a secret named like the run id for GET/DELETE.
    controller.env["SPARKWING_SECRETS_KEY"] = base64.b64encode(b"k" * 32).decode()
    assert controller.cli_input("seeded", "controller", "secret", "set", run_id).returncode == 0
    controller.start("--require-auth")

    authed = [r for r in ROUTES if not r.public]
    assert authed and any(r.public for r in ROUTES)
    by_scope: dict[str, tuple[str, str]] = {}  # scope -> (token lacking it, token with only it)
    for route in authed:
        body = _body(route)
        call = {"body": body} if body is not None else {}

        def send(token: str, route: Route = route, call: dict[str, Any] = call) -> Any:
            return controller.request(route.method, _path(route, values), token, **call)

        def recreate(route: Route = route) -> None:
            """A DELETE that passed removed what the path names: put it back (its PUT)."""
            if route.method != "DELETE":
                return
            path = _path(route, values)
            put = next((r for r in ROUTES if r.method == "PUT" and r.path == route.path), None)
            if put is not None:
                assert controller.request("PUT", path, admin, body=_body(put)).status in (200, 201)
            elif route.path.endswith("/tokens/{prefix}"):  # a revoked token stays revoked
                made = controller.post("/api/v1/tokens", {"principal": "victim", "kind": "service",
                                                          "scopes": ["runs.read"]}, admin)
                assert made.status == 201, made.body
                values["prefix"] = made.json()["metadata"]["prefix"]
            elif route.path.endswith("/users/{user}"):
                made = controller.post("/api/v1/users", {"name": values["user"],
                                                         "password": "long-enough-pw",
                                                         "scopes": ["runs.read"]}, admin)
                assert made.status == 201, made.body
            elif route.path == "/api/v1/runs/{run_id}":  # later routes act on the run
                with controller.open_state() as seeded:
                    if seeded.state.get_run(run_id) is None:
                        _seed_run(seeded.state, run_id)

        where = route.key
        if route.page:  # an HTML page sends every unauthenticated caller to the login page
            for bad in ("", "not-a-sparkwing-token", "swu_" + "A" * 43, revoked, expired):
                answer = send(bad)
                assert answer.status == 303, (where, answer.status)
                assert answer.headers["Location"].startswith("/login?next="), where
        else:
            no_token = _refused(send(""), route, 401, "unauthenticated")
            assert "token" in no_token.get("message", "token"), where
            _refused(send("not-a-sparkwing-token"), route, 401, "unauthenticated")
            _refused(send("swu_" + "A" * 43), route, 401, "unauthenticated")
            for bad, why in ((revoked, "revoked"), (expired, "expired")):
                assert why in _refused(send(bad), route, 401, "unauthenticated").get(
                    "message", why), where
        if route.scope != AUTHENTICATED:
            if route.scope not in by_scope:
                by_scope[route.scope] = (
                    controller.stored_token("service", f"no-{route.scope}",
                                            _without(route.scope)),
                    controller.stored_token("service", f"only-{route.scope}", route.scope))
            lacking, exact = by_scope[route.scope]
            denied = _refused(send(lacking), route, 403, "missing_scope")
            if route.method != "HEAD":
                assert denied["missing_scope"] == route.scope, where
                assert denied["principal"] == f"service:no-{route.scope}", where
            assert send(exact).status not in (401, 403), where
            recreate()
        ok = send(admin)
        assert ok.status not in (401, 403, 404, 405), (where, ok.status, ok.body)
        recreate()


def test_public_routes_need_no_token(controller: Any) -> None:
    controller.token("user", "root", "admin")
    controller.env["SPARKWING_LOGS_URL"] = "http://logs.example:4000"
    url = controller.start("--require-auth")
    public = [r for r in ROUTES if r.scope == PUBLIC]
    # Public by design: health, discovery, metrics, the login page and its static files,
    # and logging in and out (nobody is logged in yet; the session may be gone).
    assert {r.key for r in public} >= {"GET /login", "POST /login", "POST /logout",
                                       "GET /static/{path:.+}"}
    origin = {"Origin": url}
    for route in public:
        if route.method == "GET":
            answer = controller.get(_path(route, {"run_id": "", **_SAMPLES}))
            assert answer.status == 200, (route.key, answer.status, answer.body)
        elif route.path == "/logout":
            assert controller.post("/logout", headers=origin).status == 204
        else:
            assert route.key == "POST /login", route.key  # a new public write needs a check here
            answer = controller.post("/login", {"username": "nobody", "password": "x" * 8},
                                     headers=origin)
            answer.assert_error(401, "login_failed")
    health = controller.get("/api/v1/health").json()
    assert health == {"status": "ok", "auth": "enabled", "profile": "laptop",
                      "problems": []}
    assert controller.get("/api/v1/services").json() == {"logs": "http://logs.example:4000"}
    metrics = controller.get("/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert b"# TYPE sparkwing_controller_requests_total counter" in metrics.body


def test_runner_bundle_grants_runner_routes_only(controller: Any) -> None:
    runner = controller.token("runner", "box-1", "runner")
    assert runner.startswith("swr_")
    controller.start("--require-auth")
    assert controller.get("/api/v1/runs", runner).status == 200
    who = controller.get("/api/v1/auth/whoami", runner).json()
    assert who == {"principal": "runner:box-1", "kind": "runner", "name": "box-1",
                   "scopes": ["runner"], "token_prefix": runner[:12]}
    denied = controller.post("/api/v1/triggers", {"pipeline": "build"}, runner)
    assert denied.assert_error(403, "missing_scope")["missing_scope"] == "runs.write"

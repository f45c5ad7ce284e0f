"""Login sessions over HTTP against a real controller: cookie, CSRF, rate limit, logout, Origin."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from typing import Any

from sparkwing.storage.records import Run


def add_user(controller: Any, name: str, scope: str, password: str) -> None:
    """Create a login user through the CLI, the password on stdin."""
    out = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "controller", "user",
                          "create", "--name", name, "--scope", scope], cwd=controller.cwd,
                         env=controller.env, input=password + "\n", capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr


def login(controller: Any, name: str, password: str) -> tuple[Any, str]:
    """``POST /login`` as JSON (with the server's Origin); the answer and the session cookie."""
    answer = controller.post("/login", {"username": name, "password": password},
                             headers={"Origin": controller.url})
    cookie = SimpleCookie(answer.headers.get("Set-Cookie", "")).get("sparkwing_session")
    return answer, cookie.value if cookie else ""


def with_session(session: str, csrf: str = "", origin: str = "") -> dict[str, str]:
    """Headers a browser would send with the session (and, for writes, Origin and CSRF)."""
    headers = {"Cookie": f"sparkwing_session={session}"}
    if csrf:
        headers["X-CSRF-Token"] = csrf
    if origin:
        headers["Origin"] = origin
    return headers


def make_run(controller: Any, status: str = "running") -> str:
    """A run recorded in the controller's store."""
    stores = controller.open_state()
    run_id = f"run-20260101-000000-{status[:4]}"
    stores.state.create_run(Run(id=run_id, pipeline="build", status=status,
                                created_at=time.time(), started_at=time.time()))
    stores.close()
    return run_id


def test_login_sets_a_strict_httponly_cookie_and_whoami_reads_the_session(controller: Any) -> None:
    add_user(controller, "root", "admin", "rootpass1")
    controller.start()
    answer, session = login(controller, "root", "rootpass1")
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["principal"] == "user:root" and body["scopes"] == ["admin"]
    assert body["csrf_token"] and body["expires_at"] > time.time() + 11 * 3600
    raw_cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in raw_cookie and "SameSite=Strict" in raw_cookie and "Path=/" in raw_cookie
    assert "Secure" not in raw_cookie  # plain HTTP without --secure-cookies
    assert session not in answer.body.decode()  # the id travels only in the cookie

    who = controller.get("/api/v1/auth/whoami", headers=with_session(session)).json()
    assert who["principal"] == "user:root" and who["auth"] == "session"
    assert who["csrf_token"] == body["csrf_token"]
    # The page and the UI's API answer the session; without one the page sends to login.
    page = controller.get("/", headers=with_session(session))
    assert page.status == 200 and b'"mode":"controller"' in page.body
    assert page.headers["X-Frame-Options"] == "DENY"
    bounce = controller.get("/")
    assert bounce.status == 303 and bounce.headers["Location"] == "/login?next=/"
    assert controller.get("/ui/api/v1/runs", headers=with_session(session)).status == 200
    controller.get("/ui/api/v1/runs").assert_error(401, "unauthenticated")

    # Only the session id's SHA-256 is stored.
    dump = (controller.home / "state.db").read_bytes()
    assert session.encode() not in dump
    with sqlite3.connect(controller.home / "state.db") as conn:
        rows = conn.execute("SELECT id_hash, user_name FROM user_sessions").fetchall()
    assert rows == [(hashlib.sha256(session.encode()).hexdigest(), "root")]


def test_secure_cookies_flag(controller: Any) -> None:
    add_user(controller, "root", "admin", "rootpass1")
    controller.start("--secure-cookies")
    answer, _ = login(controller, "root", "rootpass1")
    assert "Secure" in answer.headers["Set-Cookie"]


def test_session_writes_need_the_csrf_header_and_act_as_the_user(controller: Any) -> None:
    add_user(controller, "root", "admin", "rootpass1")
    run_id = make_run(controller)
    url = controller.start()
    answer, session = login(controller, "root", "rootpass1")
    csrf = answer.json()["csrf_token"]
    path = f"/ui/api/v1/runs/{run_id}/cancel"
    missing = controller.post(path, headers=with_session(session, origin=url))
    assert "X-CSRF-Token" in missing.assert_error(403, "csrf_failed")["message"]
    controller.post(path, headers=with_session(session, "forged", url)).assert_error(
        403, "csrf_failed")
    # A right token from another site's page is still refused by the Origin check.
    controller.post(path, headers=with_session(session, csrf, "http://evil.example")
                    ).assert_error(403, "forbidden")
    ok = controller.post(path, headers={**with_session(session, csrf, url),
                                        "X-Sparkwing-User": "mallory"})
    assert ok.status == 202, ok.body
    events = controller.get(f"/ui/api/v1/runs/{run_id}/events",
                            headers=with_session(session)).json()["events"]
    cancel = [e for e in events if e["kind"] == "cancel_requested"]
    assert cancel and cancel[0]["payload"]["by"] == "user:root"  # not the header's name


def test_viewer_reads_but_every_write_is_refused(controller: Any) -> None:
    add_user(controller, "vic", "runs.read,logs.read", "viewpass1")
    run_id = make_run(controller)
    url = controller.start()
    answer, session = login(controller, "vic", "viewpass1")
    csrf = answer.json()["csrf_token"]
    headers = with_session(session, csrf, url)
    assert controller.get(f"/ui/api/v1/runs/{run_id}", headers=headers).status == 200
    for path, scope in ((f"/ui/api/v1/runs/{run_id}/cancel", "runs.write"),
                        (f"/ui/api/v1/runs/{run_id}/approvals/gate", "approvals.write"),
                        (f"/ui/api/v1/runs/{run_id}/nodes/gate/release", "runs.write"),
                        ("/api/v1/triggers", "runs.write")):
        denied = controller.post(path, {"resolution": "approved"}, headers=headers)
        assert denied.assert_error(403, "missing_scope")["missing_scope"] == scope
        assert denied.json()["principal"] == "user:vic"


def test_wrong_passwords_are_rate_limited_per_user(controller: Any) -> None:
    add_user(controller, "root", "admin", "rootpass1")
    controller.start()
    for _ in range(5):
        answer, _ = login(controller, "root", "wrong-password")
        answer.assert_error(401, "login_failed")
    throttled, cookie = login(controller, "root", "rootpass1")  # even the right password waits
    assert throttled.assert_error(429, "too_many_requests")
    assert int(throttled.headers["Retry-After"]) > 0 and not cookie
    # Unknown names answer like wrong passwords (no probing which names exist).
    stranger, _ = login(controller, "nobody", "whatever1")
    assert stranger.assert_error(401, "login_failed")["message"] == "wrong user name or password"
    metrics = controller.get("/metrics").body.decode()
    assert 'reason="login_failed"' in metrics and 'reason="login_throttled"' in metrics


def test_logout_and_user_changes_end_sessions(controller: Any) -> None:
    add_user(controller, "root", "admin", "rootpass1")
    add_user(controller, "ann", "runs.read", "annpass12")
    url = controller.start()
    answer, session = login(controller, "root", "rootpass1")
    csrf = answer.json()["csrf_token"]
    controller.post("/logout", headers=with_session(session, origin=url)).assert_error(
        403, "csrf_failed")
    out = controller.post("/logout", headers=with_session(session, csrf, url))
    assert out.status == 204 and "Max-Age=0" in out.headers["Set-Cookie"]
    gone = controller.get("/api/v1/auth/whoami", headers=with_session(session))
    assert "log in again" in gone.assert_error(401, "unauthenticated")["message"]

    _, ann = login(controller, "ann", "annpass12")
    assert controller.get("/api/v1/auth/whoami", headers=with_session(ann)).status == 200
    changed = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "controller", "user",
                              "passwd", "ann"], cwd=controller.cwd, env=controller.env,
                             input="annpass34\n", capture_output=True, text=True, timeout=120,
                             check=False)
    assert changed.returncode == 0 and "1 session(s) ended" in changed.stdout
    controller.get("/api/v1/auth/whoami", headers=with_session(ann)).assert_error(
        401, "unauthenticated")
    _, ann = login(controller, "ann", "annpass34")
    assert controller.cli("controller", "user", "delete", "ann").returncode == 0
    controller.get("/api/v1/auth/whoami", headers=with_session(ann)).assert_error(
        401, "unauthenticated")
    listed = json.loads(controller.cli("controller", "user", "list", "-o", "json").stdout)
    assert [u["name"] for u in listed["users"]] == ["root"]


def test_login_and_logout_keep_the_host_and_origin_checks(controller: Any) -> None:
    add_user(controller, "root", "admin", "rootpass1")
    url = controller.start()
    creds = {"username": "root", "password": "rootpass1"}
    controller.post("/login", creds).assert_error(403, "forbidden")  # no Origin
    controller.post("/login", creds, headers={"Origin": "http://evil.example"}).assert_error(
        403, "forbidden")
    port = url.rsplit(":", 1)[1]
    controller.post("/login", creds, headers={"Origin": url, "Host": f"evil.example:{port}"}
                    ).assert_error(421, "misdirected_request")
    controller.get("/", headers={"Host": f"evil.example:{port}"}).assert_error(
        421, "misdirected_request")
    wrong_type = controller.request("POST", "/login", raw=b"username=root",
                                    headers={"Origin": url, "Content-Type": "text/plain"})
    wrong_type.assert_error(415, "unsupported_media_type")


def test_bearer_tokens_still_work_on_the_ui_api_without_csrf(controller: Any) -> None:
    token = controller.token("user", "bot", "admin")
    run_id = make_run(controller)
    controller.start()
    assert controller.get("/ui/api/v1/runs", token).json()["runs"][0]["id"] == run_id
    assert controller.post(f"/ui/api/v1/runs/{run_id}/cancel", token=token).status == 202
    assert controller.get("/", token).status == 200

"""Login users: the CLI round trip, what is stored, and the login rate limiter's arithmetic."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from typing import Any

from sparkwing_server.controller.loginlimit import LoginLimiter


def _user(controller: Any, *args: str, password: str | None = None) -> Any:
    """``sparkwing controller user ARGS`` with *password* as one line of stdin."""
    return subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "controller", "user",
                           *args], cwd=controller.cwd, env=controller.env, capture_output=True,
                          text=True, input=None if password is None else password + "\n",
                          timeout=120, check=False)


def test_user_create_list_passwd_delete_round_trip(controller: Any) -> None:
    made = _user(controller, "create", "--name", "ann", "--scope", "runs.read,logs.read",
                 password="correct horse")
    assert made.returncode == 0, made.stderr
    assert "created user ann (scopes logs.read,runs.read)" in made.stdout
    listed = json.loads(_user(controller, "list", "-o", "json").stdout)
    assert [u["name"] for u in listed["users"]] == ["ann"]
    assert listed["users"][0]["scopes"] == ["logs.read", "runs.read"]
    assert listed["users"][0]["live_sessions"] == 0
    assert "password" not in json.dumps(listed)

    # Only an argon2id hash is stored; the password is nowhere in the database file.
    db = controller.home / "state.db"
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users WHERE name='ann'").fetchone()
    assert stored.startswith("$argon2id$v=19$m=65536,t=1,p=4$")
    assert b"correct horse" not in db.read_bytes()

    changed = _user(controller, "passwd", "ann", password="battery staple")
    assert changed.returncode == 0, changed.stderr
    with sqlite3.connect(db) as conn:
        (after,) = conn.execute("SELECT password_hash FROM users WHERE name='ann'").fetchone()
    assert after != stored

    assert _user(controller, "delete", "ann").returncode == 0
    assert "no users" in _user(controller, "list").stdout
    gone = _user(controller, "delete", "ann")
    assert gone.returncode == 1 and gone.stderr.strip() == (
        "error: no user 'ann' (see `sparkwing controller user list`)")


def test_user_usage_errors_are_one_line(controller: Any) -> None:
    short = _user(controller, "create", "--name", "ann", "--scope", "admin", password="short")
    assert short.returncode == 2
    assert short.stderr.strip() == "error: the password must have at least 8 characters"
    scope = _user(controller, "create", "--name", "ann", "--scope", "runs.everything",
                  password="long enough")
    assert scope.returncode == 2 and "unknown scope 'runs.everything'; valid:" in scope.stderr
    name = _user(controller, "create", "--name", "a b", "--scope", "admin", password="long enough")
    assert name.returncode == 2 and "--name 'a b'" in name.stderr
    empty = _user(controller, "create", "--name", "ann", "--scope", "admin", password="")
    assert empty.returncode == 2 and "no password on standard input" in empty.stderr
    assert _user(controller, "create", "--name", "ann", "--scope", "admin",
                 password="long enough").returncode == 0
    twice = _user(controller, "create", "--name", "ann", "--scope", "admin",
                  password="long enough")
    assert twice.returncode == 2 and "a user with that name exists" in twice.stderr
    assert "Traceback" not in short.stderr + scope.stderr + name.stderr + twice.stderr
    # The password option does not exist: passwords never go through argv.
    argv = _user(controller, "create", "--name", "bob", "--scope", "admin", "--password", "x")
    assert argv.returncode == 2 and "unknown flag --password" in argv.stderr


def test_limiter_locks_after_five_failures_per_user_and_doubles() -> None:
    limiter = LoginLimiter()
    t = 1000.0
    for _ in range(4):
        assert limiter.failed("ann", "10.0.0.1", now=t) == 0
    assert limiter.retry_after("ann", "10.0.0.1", now=t) == 0
    assert limiter.failed("ann", "10.0.0.1", now=t) == 30  # the fifth failure locks
    assert limiter.retry_after("ann", "10.0.0.9", now=t + 1) == 29  # whatever the address
    assert limiter.retry_after("Ann ", "10.0.0.9", now=t + 1) == 29  # names fold case
    assert limiter.retry_after("bob", "10.0.0.9", now=t + 1) == 0
    assert limiter.retry_after("ann", "10.0.0.1", now=t + 30) == 0
    assert limiter.failed("ann", "10.0.0.1", now=t + 30) == 60  # doubling
    assert limiter.failed("ann", "10.0.0.1", now=t + 90) == 120
    limiter.succeeded("ann")
    assert limiter.retry_after("ann", "10.0.0.1", now=t + 90) == 0


def test_limiter_locks_an_address_guessing_many_names() -> None:
    limiter = LoginLimiter(free_failures_per_addr=20)
    t = 1000.0
    for i in range(19):
        assert limiter.failed(f"user{i}", "10.0.0.1", now=t) == 0
    assert limiter.failed("user19", "10.0.0.1", now=t) == 30
    assert limiter.retry_after("someone-else", "10.0.0.1", now=t) == 30
    assert limiter.retry_after("someone-else", "10.0.0.2", now=t) == 0
    limiter.succeeded("user3")  # a success does not clear the address
    assert limiter.retry_after("user3", "10.0.0.1", now=t) == 30


def test_limiter_forgets_old_failures() -> None:
    limiter = LoginLimiter(forget_after_s=3600)
    for _ in range(4):
        limiter.failed("ann", "a", now=0.0)
    assert limiter.failed("ann", "a", now=7200.0) == 0  # counting starts again


def test_sessions_expire_and_end(controller: Any) -> None:
    import time

    from sparkwing_server.controller.tokens import open_token_store
    from sparkwing_server.controller.users import UserStore, csrf_token_of

    stores = controller.open_state()
    tokens = open_token_store(stores)
    try:
        users = UserStore(tokens.db)
        ann = users.create("ann", "long enough", ["runs.read"])
        old_id, _ = users.start_session(ann, ttl_s=10, now=time.time() - 60)
        assert users.session(old_id) is None  # expired
        live_id, live = users.start_session(ann)
        assert live.csrf_token == csrf_token_of(live_id) != csrf_token_of(old_id)
        seen = users.session(live_id)
        assert seen is not None and seen.user == "ann" and seen.scopes == ("runs.read",)
        assert users.session(live_id + "x") is None and users.session("") is None
        assert users.live_sessions("ann") == 1
        assert users.end_session(live_id) and not users.end_session(live_id)
        assert users.session(live_id) is None
        other_id, _ = users.start_session(ann)
        assert users.end_sessions("ann") == 1 and users.session(other_id) is None
    finally:
        tokens.close()
        stores.close()

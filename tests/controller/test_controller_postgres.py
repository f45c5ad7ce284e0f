"""The controller on a PostgreSQL profile: tokens in the same database as the runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

PROFILES = """\
profiles:
  team:
    description: the team's PostgreSQL
    state: {type: postgres, url_source: env:SPARKWING_PG_URL, schema: ctl}
"""


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL cluster of this module (started here, deleted at the end)."""
    from sparkwing_postgres.cluster import TempCluster

    cluster = TempCluster()
    try:
        cluster.start()
        yield cluster.url()
    finally:
        cluster.close()


def test_tokens_and_revocation_on_postgres(controller: Any, pg_url: str) -> None:
    profiles = controller.home.parent / "team-profiles.yaml"
    profiles.write_text(PROFILES)
    controller.env.update(SPARKWING_PROFILES=str(profiles), SPARKWING_PG_URL=pg_url)

    reader = controller.token("runner", "box-1", "runner", "--profile", "team")
    listed = controller.cli("controller", "token", "list", "-o", "json", "--profile", "team")
    assert '"prefix":"' + reader[:12] in listed.stdout.replace(" ", ""), listed.stdout
    checked = controller.cli("controller", "serve", "--check-config", "--require-auth",
                             "--profile", "team")
    assert checked.returncode == 0 and "(postgres)" in checked.stdout, checked.stderr
    # Nothing about tokens was written to the laptop's SQLite home.
    assert not (controller.home / "state.db").exists()

    controller.start("--require-auth", "--profile", "team")
    assert controller.get("/api/v1/health").json()["profile"] == "team"
    assert controller.get("/api/v1/runs", reader).status == 200
    controller.get("/api/v1/runs").assert_error(401, "unauthenticated")
    out = controller.cli("controller", "token", "revoke", reader[:12], "--profile", "team")
    assert out.returncode == 0, out.stderr
    refused = controller.get("/api/v1/runs", reader).assert_error(401, "unauthenticated")
    assert "revoked" in refused["message"]


def test_users_and_sessions_on_postgres(controller: Any, pg_url: str) -> None:
    import subprocess
    import sys
    from http.cookies import SimpleCookie

    profiles = controller.home.parent / "team-profiles.yaml"
    profiles.write_text(PROFILES)
    controller.env.update(SPARKWING_PROFILES=str(profiles), SPARKWING_PG_URL=pg_url)
    made = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "controller", "user",
                           "create", "--name", "pat", "--scope", "runs.read", "--profile",
                           "team"], cwd=controller.cwd, env=controller.env,
                          input="pgpassword1\n", capture_output=True, text=True, timeout=120,
                          check=False)
    assert made.returncode == 0, made.stderr
    twice = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "controller", "user",
                            "create", "--name", "pat", "--scope", "admin", "--profile", "team"],
                           cwd=controller.cwd, env=controller.env, input="pgpassword1\n",
                           capture_output=True, text=True, timeout=120, check=False)
    assert twice.returncode == 2 and "a user with that name exists" in twice.stderr
    url = controller.start("--profile", "team")
    answer = controller.post("/login", {"username": "pat", "password": "pgpassword1"},
                             headers={"Origin": url})
    assert answer.status == 200, answer.body
    session = SimpleCookie(answer.headers["Set-Cookie"])["sparkwing_session"].value
    cookie = {"Cookie": f"sparkwing_session={session}"}
    who = controller.get("/api/v1/auth/whoami", headers=cookie).json()
    assert who["principal"] == "user:pat" and who["auth"] == "session"
    assert controller.get("/ui/api/v1/runs", headers=cookie).status == 200
    out = controller.cli("controller", "user", "delete", "pat", "--profile", "team")
    assert out.returncode == 0, out.stderr
    controller.get("/api/v1/auth/whoami", headers=cookie).assert_error(401, "unauthenticated")
    assert not (controller.home / "state.db").exists()


def test_work_queues_on_postgres(controller: Any, pg_url: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Trigger and node claims, a fence and the agent_lost reaper on a PostgreSQL profile."""
    from sparkwing.queueclient import ClaimLost, QueueClient
    from sparkwing.storage.records import Node, Run

    profiles = controller.home.parent / "team-profiles.yaml"
    profiles.write_text(PROFILES.replace("schema: ctl", "schema: queues"))
    controller.env.update(SPARKWING_PROFILES=str(profiles), SPARKWING_PG_URL=pg_url)
    admin = controller.token("user", "root", "admin", "--profile", "team")
    runner = controller.token("runner", "box-1", "runner", "--profile", "team")
    from sparkwing_server.localws.serve import open_profile_stores

    monkeypatch.setenv("SPARKWING_PROFILES", str(profiles))
    monkeypatch.setenv("SPARKWING_PG_URL", pg_url)
    stores = open_profile_stores("team", controller.cwd)
    try:
        stores.state.create_run(Run(id="run-pg", pipeline="build", created_at=time.time()))
        stores.state.create_nodes("run-pg", [Node("run-pg", "a"), Node("run-pg", "b")])
    finally:
        stores.close()
    url = controller.start("--require-auth", "--profile", "team", "--lease-secs", "1",
                           "--reaper-interval", "0.2")
    assert controller.post("/api/v1/triggers", {"pipeline": "build"}, admin).status == 202
    client = QueueClient(url, runner)
    trigger = client.claim_trigger("box-1")
    assert trigger is not None and trigger.seq == 1
    client.finish_trigger(trigger, run_id="run-pg")

    client.mark_ready("run-pg", "a", needs_labels=["os=linux"])
    client.mark_ready("run-pg", "b")
    first = client.claim_node("box-1", ["os=linux"])
    second = client.claim_node("box-2", [])
    assert first is not None and second is not None
    assert (first.node_id, second.node_id) == ("a", "b")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        client.heartbeat_node(second)  # b keeps its claim, a goes quiet
        if client.list_queue(status="finished"):
            break
        time.sleep(0.1)
    [lost] = client.list_queue(status="finished")
    assert (lost["node_id"], lost["failure_reason"]) == ("a", "agent_lost")
    with pytest.raises(ClaimLost):
        client.heartbeat_node(first)
    done = client.finish_node(second, outcome="success", exit_code=0)
    assert done["status"] == "finished"
    client.close()


def test_secrets_are_sealed_in_postgres(controller: Any, pg_url: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    import sqlalchemy as sa
    from sparkwing_server.controller.secretkeys import SecretUnreadable, keyring_from_env
    from sparkwing_server.controller.secretstore import open_secret_store
    from sparkwing_server.localws.serve import open_profile_stores

    plaintext = "pg-plaintext-hunter2-51c0"
    key_a = base64.b64encode(bytes(range(32))).decode()
    key_b = base64.b64encode(bytes(range(50, 82))).decode()
    profiles = controller.home.parent / "team-profiles.yaml"
    profiles.write_text(PROFILES)
    controller.env.update(SPARKWING_PROFILES=str(profiles), SPARKWING_PG_URL=pg_url,
                          SPARKWING_SECRETS_KEY=key_a)
    runner = controller.token("runner", "box-2", "runner", "--profile", "team")
    out = controller.cli_input(plaintext, "controller", "secret", "set", "deploy/token",
                               "--profile", "team")
    assert out.returncode == 0, out.stderr
    assert not (controller.home / "state.db").exists()

    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM ctl.secrets")).fetchall()
    engine.dispose()
    assert len(rows) == 1 and plaintext not in repr(rows)

    controller.start("--require-auth", "--profile", "team")
    read = controller.get("/api/v1/secrets/deploy/token", runner)
    assert read.status == 200 and read.json()["value"] == plaintext, read.body
    controller.stop()

    # The wrong key: one clear line from the store, and the controller refuses to start.
    for name, value in (("SPARKWING_PROFILES", str(profiles)), ("SPARKWING_PG_URL", pg_url)):
        monkeypatch.setenv(name, value)
    stores = open_profile_stores("team", controller.cwd)
    secrets = open_secret_store(stores, keyring_from_env({"SPARKWING_SECRETS_KEY": key_b}))
    try:
        with pytest.raises(SecretUnreadable, match="is sealed with key k"):
            secrets.get("deploy/token")
    finally:
        secrets.close()
        stores.close()
    controller.env["SPARKWING_SECRETS_KEY"] = key_b
    refused = controller.cli("controller", "serve", "--check-config", "--profile", "team")
    assert refused.returncode == 2 and "1 secret(s)" in refused.stderr, refused.stderr


def test_first_admin_signup_and_token_routes_on_postgres(
        controller: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-statement first-user insert and the token routes' queries on PostgreSQL."""
    profiles = controller.home.parent / "team-profiles.yaml"
    profiles.write_text(PROFILES.replace("schema: ctl", "schema: signup"))
    controller.env.update(SPARKWING_PROFILES=str(profiles), SPARKWING_PG_URL=pg_url)
    url = controller.start("--profile", "team")
    origin = {"Origin": url}
    assert controller.get("/api/v1/auth/bootstrap-needed").json() == {"needed": True}
    first = controller.post("/api/v1/users", {"name": "ann", "password": "pg-first-admin"},
                            headers=origin)
    assert first.status == 201, first.body
    assert first.json()["scopes"] == ["admin"]
    controller.post("/api/v1/users", {"name": "eve", "password": "pg-first-admin"},
                    headers=origin).assert_error(401, "unauthenticated")
    login = controller.post("/login", {"username": "ann", "password": "pg-first-admin"},
                            headers=origin)
    assert login.status == 200, login.body
    session = {"Cookie": login.headers["Set-Cookie"].split(";")[0],
               "X-CSRF-Token": login.json()["csrf_token"], **origin}
    made = controller.post("/api/v1/tokens", {"principal": "box-9", "kind": "runner",
                                              "scopes": ["runner"]}, headers=session)
    assert made.status == 201, made.body
    raw = made.json()["token"]
    assert controller.get("/api/v1/runs", raw).status == 200
    runners = controller.get("/api/v1/tokens?kind=runner", headers=session).json()["tokens"]
    assert [t["prefix"] for t in runners] == [raw[:12]]
    assert controller.request("DELETE", f"/api/v1/tokens/{raw[:12]}",
                              headers=session).status == 204
    controller.get("/api/v1/runs", raw).assert_error(401, "unauthenticated")
    # The store's guarded insert itself: a second first user is refused on PostgreSQL too.
    from sparkwing_server.controller.users import UserExists, UserStore
    from sparkwing_server.localws.serve import open_profile_stores

    monkeypatch.setenv("SPARKWING_PROFILES", str(profiles))
    monkeypatch.setenv("SPARKWING_PG_URL", pg_url)
    stores = open_profile_stores("team", controller.cwd)
    try:
        from sparkwing_server.controller.statedb import open_state_db

        db = open_state_db(stores, "its users")
        try:
            with pytest.raises(UserExists, match="sign-up is closed"):
                UserStore(db).create("zed", "pg-first-admin", ["admin"], first=True)
            assert [u.name for u in UserStore(db).list()] == ["ann"]
        finally:
            db.close()
    finally:
        stores.close()

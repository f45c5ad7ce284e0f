"""Controller secrets: sealed in the state database, read by runners, managed by admins.

Real SQLite homes, the real CLI in subprocesses and a real controller on
loopback (PostgreSQL: ``test_controller_postgres.py``).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sparkwing.errors import ConfigError, UsageError
from sparkwing_server.controller.secretkeys import (
    Keyring,
    SecretsKey,
    SecretUnreadable,
    keyring_from_env,
)
from sparkwing_server.controller.secretstore import SecretStore, check_name
from sparkwing_server.controller.statedb import sqlite_state_db

#: A value distinctive enough to grep for in the database files.
PLAINTEXT = "plaintext-hunter2-7f3a9c"
KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(100, 132))).decode()


def _ring(key: str, old: str = "") -> Keyring:
    env = {"SPARKWING_SECRETS_KEY": key}
    if old:
        env["SPARKWING_SECRETS_OLD_KEY"] = old
    ring = keyring_from_env(env)
    assert ring is not None
    return ring


def _store(home: Path, key: str | None, old: str = "") -> SecretStore:
    home.mkdir(parents=True, exist_ok=True)
    return SecretStore(sqlite_state_db(home / "state.db"), _ring(key, old) if key else None)


def _db_bytes(home: Path) -> bytes:
    """Every file of the SQLite database (main file, WAL, shared memory)."""
    return b"".join(p.read_bytes() for p in sorted(home.glob("state.db*")))


def test_values_are_sealed_in_the_database_and_open_with_the_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = _store(home, KEY_A)
    rec, created = store.put("github/token", PLAINTEXT, principal="user:root")
    assert created and rec.masked and rec.principal == "user:root"
    again, created = store.put("github/token", PLAINTEXT + "-2", masked=False)
    assert not created and not again.masked and again.created_at == rec.created_at
    store.put("REGION", "eu-west-1", masked=False)
    found = store.get("github/token")
    assert found is not None and found[0] == PLAINTEXT + "-2"
    assert store.get("nope") is None
    assert [r.name for r in store.list()] == ["REGION", "github/token"]
    assert PLAINTEXT.encode() not in _db_bytes(home)
    assert b"eu-west-1" not in _db_bytes(home)
    conn = sqlite3.connect(home / "state.db")
    ((sealed, key_id),) = conn.execute(
        "SELECT sealed, key_id FROM secrets WHERE name = 'github/token'").fetchall()
    conn.close()
    assert sealed.startswith("aesgcm1:") and key_id == _ring(KEY_A).current.key_id
    # Sealing twice gives different bytes (a fresh nonce each time).
    assert _ring(KEY_A).seal("x", "same")[0] != _ring(KEY_A).seal("x", "same")[0]
    assert store.delete("REGION") and not store.delete("REGION")
    store.close()


def test_a_wrong_key_is_a_clear_error_not_garbage(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = _store(home, KEY_A)
    store.put("deploy/key", PLAINTEXT)
    store.close()
    wrong = _store(home, KEY_B)
    with pytest.raises(SecretUnreadable) as err:
        wrong.get("deploy/key")
    message = str(err.value)
    a_id, b_id = _ring(KEY_A).current.key_id, _ring(KEY_B).current.key_id
    assert a_id in message and b_id in message and "SPARKWING_SECRETS_KEY" in message
    assert "\n" not in message and PLAINTEXT not in message
    assert [r.name for r in wrong.foreign()] == ["deploy/key"]
    wrong.close()

    # Same key id but altered bytes, or a sealed value moved onto another name: GCM refuses.
    conn = sqlite3.connect(home / "state.db")
    store = _store(home, KEY_A)
    store.put("other", "another value")
    conn.execute("UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE name = 'other') "
                 "WHERE name = 'deploy/key'")
    conn.commit()
    with pytest.raises(SecretUnreadable, match="altered or copied"):
        store.get("deploy/key")
    (sealed,) = conn.execute("SELECT sealed FROM secrets WHERE name = 'other'").fetchone()
    raw = bytearray(base64.b64decode(sealed.removeprefix("aesgcm1:")))
    raw[-1] ^= 1
    conn.execute("UPDATE secrets SET sealed = ? WHERE name = 'other'",
                 ("aesgcm1:" + base64.b64encode(bytes(raw)).decode(),))
    conn.commit()
    conn.close()
    with pytest.raises(SecretUnreadable, match="authentication failed"):
        store.get("other")
    store.close()


def test_rekey_moves_every_value_to_the_new_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = _store(home, KEY_A)
    for i in range(3):
        old.put(f"s{i}", f"{PLAINTEXT}-{i}")
    old.close()
    rotating = _store(home, KEY_B, old=KEY_A)
    assert rotating.get("s1") is not None  # readable during the rotation
    rotating.put("s3", "written during the rotation")
    result = rotating.rekey()
    assert result.resealed == ("s0", "s1", "s2") and result.current == 1
    assert rotating.rekey().resealed == ()
    rotating.close()
    new = _store(home, KEY_B)
    for i in range(3):
        got = new.get(f"s{i}")
        assert got is not None and got[0] == f"{PLAINTEXT}-{i}"
    assert new.foreign() == []
    new.close()
    with pytest.raises(SecretUnreadable):
        _store(home, KEY_A).get("s0")


def test_key_configuration_errors_are_one_line(tmp_path: Path) -> None:
    assert keyring_from_env({}) is None
    with pytest.raises(ConfigError, match="SPARKWING_SECRETS_KEY: expected 32 random bytes"):
        keyring_from_env({"SPARKWING_SECRETS_KEY": base64.b64encode(b"short").decode()})
    with pytest.raises(ConfigError, match="both set"):
        keyring_from_env({"SPARKWING_SECRETS_KEY": KEY_A,
                          "SPARKWING_SECRETS_KEY_FILE": "/x"})
    with pytest.raises(ConfigError, match="SPARKWING_SECRETS_OLD_KEY: set, but"):
        keyring_from_env({"SPARKWING_SECRETS_OLD_KEY": KEY_A})
    with pytest.raises(ConfigError, match="cannot read the key file"):
        keyring_from_env({"SPARKWING_SECRETS_KEY_FILE": str(tmp_path / "missing")})
    raw = tmp_path / "raw.key"
    raw.write_bytes(bytes(range(32)))
    text = tmp_path / "text.key"
    text.write_text(KEY_A + "\n")
    from_raw = keyring_from_env({"SPARKWING_SECRETS_KEY_FILE": str(raw)})
    from_text = keyring_from_env({"SPARKWING_SECRETS_KEY_FILE": str(text)})
    urlsafe = keyring_from_env({"SPARKWING_SECRETS_KEY":
                                base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")})
    assert from_raw and from_text and urlsafe
    assert from_raw.current.key_id == from_text.current.key_id == urlsafe.current.key_id
    assert "\\x00" not in repr(from_raw.current) and repr(from_raw.current).startswith("SecretsKey(k")
    assert SecretsKey.from_bytes(bytes(32)).key_id != from_raw.current.key_id
    with pytest.raises(ConfigError, match="secrets need a key"):
        _store(tmp_path / "h", None).put("a", "b")
    for bad in ("", ".x", "x/", "-x", "a b", "x" * 257, "é"):
        with pytest.raises(UsageError, match="is not valid"):
            check_name(bad)
    assert check_name("team.prod/db_password-2") == "team.prod/db_password-2"


def test_cli_sets_lists_deletes_and_rekeys(controller: Any) -> None:
    assert "SPARKWING_SECRETS_KEY" not in controller.env
    no_key = controller.cli_input(PLAINTEXT, "controller", "secret", "set", "api/token")
    assert no_key.returncode == 2 and no_key.stderr.count("\n") == 1, no_key.stderr
    assert "secrets need a key" in no_key.stderr
    controller.env["SPARKWING_SECRETS_KEY"] = KEY_A
    out = controller.cli_input(PLAINTEXT + "\n", "controller", "secret", "set", "api/token")
    assert out.returncode == 0 and "created secret api/token (masked" in out.stdout, out.stderr
    assert PLAINTEXT not in out.stdout + out.stderr
    out = controller.cli_input("eu-west-1", "controller", "secret", "set", "REGION",
                               "--unmasked")
    assert out.returncode == 0, out.stderr
    listed = json.loads(controller.cli("controller", "secret", "list", "-o", "json").stdout)
    assert [(s["name"], s["masked"], s["principal"]) for s in listed["secrets"]] == [
        ("REGION", False, "cli"), ("api/token", True, "cli")]
    assert PLAINTEXT.encode() not in _db_bytes(controller.home)
    # The value went in without its trailing newline.
    store = _store(controller.home, KEY_A)
    found = store.get("api/token")
    store.close()
    assert found is not None and found[0] == PLAINTEXT

    rotated = dict(controller.env, SPARKWING_SECRETS_KEY=KEY_B, SPARKWING_SECRETS_OLD_KEY=KEY_A)
    old_env, controller.env = controller.env, rotated
    rekeyed = controller.cli("controller", "secret", "rekey")
    controller.env = old_env
    assert rekeyed.returncode == 0 and "resealed 2 secret(s)" in rekeyed.stdout, rekeyed.stderr
    # The old key alone no longer opens them: the controller refuses to start, in one line.
    refused = controller.cli("controller", "serve", "--check-config")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "2 secret(s)" in refused.stderr and _ring(KEY_B).current.key_id in refused.stderr
    controller.env["SPARKWING_SECRETS_KEY"] = KEY_B
    checked = controller.cli("controller", "serve", "--check-config")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.rstrip().endswith(
        f"secrets sealed with key {_ring(KEY_B).current.key_id}"), checked.stdout

    gone = controller.cli("controller", "secret", "delete", "REGION")
    assert gone.returncode == 0, gone.stderr
    missing = controller.cli("controller", "secret", "delete", "REGION")
    assert missing.returncode == 1 and "no secret 'REGION'" in missing.stderr
    bad = controller.cli_input("x", "controller", "secret", "set", "/etc/passwd")
    assert bad.returncode == 2 and "is not valid" in bad.stderr


def test_routes_read_list_put_delete(controller: Any) -> None:
    admin = controller.token("user", "root", "admin")
    runner = controller.token("runner", "box-1", "runner")
    controller.env["SPARKWING_SECRETS_KEY"] = KEY_A
    assert controller.cli_input(PLAINTEXT, "controller", "secret", "set",
                                "github/token").returncode == 0
    controller.start("--require-auth")
    base = "/api/v1/secrets"

    read = controller.get(f"{base}/github/token", runner)
    assert read.status == 200 and read.headers["Cache-Control"] == "no-store"
    body = read.json()
    assert body["name"] == "github/token" and body["value"] == PLAINTEXT and body["masked"]
    listed = controller.get(base, runner).json()["secrets"]
    assert [s["name"] for s in listed] == ["github/token"] and "value" not in listed[0]
    assert PLAINTEXT.encode() not in controller.get(base, runner).body
    controller.get(f"{base}/nope", runner).assert_error(404, "not_found")
    bad = controller.get(f"{base}/.hidden", runner).assert_error(400, "bad_request")
    assert bad["field"] == "name"

    denied = controller.request("PUT", f"{base}/new", runner, body={"value": "v"})
    assert denied.assert_error(403, "missing_scope")["missing_scope"] == "admin"
    controller.request("DELETE", f"{base}/github/token", runner).assert_error(403,
                                                                               "missing_scope")
    put = controller.request("PUT", f"{base}/db/password", admin,
                             body={"value": "s3cr3t-value", "masked": False})
    assert put.status == 201, put.body
    assert put.json()["principal"] == "user:root" and put.json()["masked"] is False
    assert "value" not in put.json()
    again = controller.request("PUT", f"{base}/db/password", admin, body={"value": "other"})
    assert again.status == 200 and again.json()["masked"] is True
    assert controller.get(f"{base}/db/password", runner).json()["value"] == "other"
    unknown = controller.request("PUT", f"{base}/x", admin, body={"value": "v", "ttl": 3})
    assert unknown.assert_error(400, "unknown_field")["field"] == "ttl"
    controller.request("PUT", f"{base}/x", admin, body={"value": ""}).assert_error(
        400, "bad_request")
    controller.request("PUT", f"{base}/x", admin, body={"masked": True}).assert_error(
        400, "bad_request")
    assert controller.request("DELETE", f"{base}/db/password", admin).status == 204
    controller.request("DELETE", f"{base}/db/password", admin).assert_error(404, "not_found")
    controller.stop()
    assert controller.proc is not None and controller.proc.stderr is not None
    logs = controller.proc.stderr.read()
    for value in (PLAINTEXT, "s3cr3t-value"):
        assert value not in logs


def test_without_a_key_the_routes_answer_503_in_one_line(controller: Any) -> None:
    admin = controller.token("user", "root", "admin")
    controller.start("--require-auth")
    for method, path, body in (("GET", "/api/v1/secrets", None),
                               ("GET", "/api/v1/secrets/a", None),
                               ("PUT", "/api/v1/secrets/a", {"value": "v"}),
                               ("DELETE", "/api/v1/secrets/a", None)):
        call = {"body": body} if body is not None else {}
        err = controller.request(method, path, admin, **call).assert_error(503, "unavailable")
        assert "SPARKWING_SECRETS_KEY" in err["message"]
    assert controller.get("/api/v1/health").status == 200
    controller.stop()
    assert controller.proc is not None and controller.proc.stderr is not None
    assert "warning: the secrets routes are off: secrets need a key" in \
        controller.proc.stderr.read()

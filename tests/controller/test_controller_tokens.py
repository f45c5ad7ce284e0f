"""``sparkwing controller token create|list|revoke|rotate`` through real subprocesses."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

RAW = re.compile(r"^sw[urs]_[A-Za-z0-9_-]{43}$")


def _listed(controller: Any) -> dict[str, dict[str, Any]]:
    out = controller.cli("controller", "token", "list", "-o", "json")
    assert out.returncode == 0, out.stderr
    return {t["prefix"]: t for t in json.loads(out.stdout)["tokens"]}


def test_create_list_revoke_rotate_round_trip(controller: Any) -> None:
    made = controller.cli("controller", "token", "create", "--kind", "runner", "--name",
                          "box-1", "--scope", "runner,logs.read", "--ttl", "720h")
    assert made.returncode == 0, made.stderr
    raw = made.stdout.strip()
    assert made.stdout == raw + "\n" and RAW.match(raw) and raw.startswith("swr_")
    prefix = raw[:12]
    assert prefix in made.stderr and raw not in made.stderr

    listed = _listed(controller)
    assert set(listed) == {prefix}
    row = listed[prefix]
    assert (row["kind"], row["name"], row["scopes"], row["status"]) == (
        "runner", "box-1", ["logs.read", "runner"], "active")
    assert row["expires_at"] - row["created_at"] == 720 * 3600
    table = controller.cli("controller", "token", "list")
    assert prefix in table.stdout and raw not in table.stdout and "active" in table.stdout

    # Only an argon2id hash is stored, keyed by the prefix.
    db = sqlite3.connect(controller.home / "state.db")
    (stored_prefix, stored_hash), = db.execute("SELECT prefix, hash FROM api_tokens").fetchall()
    dump = "\n".join(db.iterdump())
    db.close()
    assert stored_prefix == prefix and stored_hash.startswith("$argon2id$v=19$m=65536,t=1,p=4$")
    assert raw not in dump

    rotated = controller.cli("controller", "token", "rotate", prefix)
    assert rotated.returncode == 0, rotated.stderr
    new_raw = rotated.stdout.strip()
    assert RAW.match(new_raw) and new_raw.startswith("swr_") and new_raw != raw
    listed = _listed(controller)
    old, new = listed[prefix], listed[new_raw[:12]]
    assert old["status"] == "revoked" and old["replaced_by"] == new["prefix"]
    assert (new["kind"], new["name"], new["scopes"], new["status"]) == (
        "runner", "box-1", ["logs.read", "runner"], "active")
    assert new["expires_at"] == old["expires_at"]  # the remaining TTL is kept

    revoked = controller.cli("controller", "token", "revoke", new["prefix"])
    assert revoked.returncode == 0 and new["prefix"] in revoked.stdout
    assert _listed(controller)[new["prefix"]]["status"] == "revoked"
    again = controller.cli("controller", "token", "revoke", new["prefix"])
    assert again.returncode == 1 and "already revoked" in again.stderr
    assert "Traceback" not in again.stderr
    missing = controller.cli("controller", "token", "revoke", "swu_nothere1")
    assert missing.returncode == 1 and "no token with prefix" in missing.stderr


def test_create_refuses_bad_usage_in_one_line(controller: Any) -> None:
    cases = [
        (["--kind", "user", "--name", "a", "--scope", "runs.read,root"], "unknown scope 'root'"),
        (["--kind", "user", "--name", "a", "--scope", "admin", "--ttl", "soon"], "--ttl"),
        (["--kind", "robot", "--name", "a", "--scope", "admin"], "robot"),
        (["--kind", "user", "--name", " ", "--scope", "admin"], "--name"),
    ]
    for args, needle in cases:
        out = controller.cli("controller", "token", "create", *args)
        assert out.returncode == 2, (args, out.stderr)
        assert needle in out.stderr and out.stdout == "" and "Traceback" not in out.stderr
    assert _listed(controller) == {}


def test_verify_checks_the_row_every_time_and_never_trusts_a_lookalike(controller: Any) -> None:
    """The remembered hash check neither lets a same-prefix forgery in nor hides a revocation."""
    import time

    from sparkwing_server.controller.tokens import TokenRejected, open_token_store

    stores = controller.open_state()
    tokens = open_token_store(stores)
    try:
        raw, rec = tokens.create("service", "ci", ["runs.read"], ttl_s=3600)
        assert tokens.verify(raw).label == "service:ci"
        assert tokens.verify(raw).scopes == ("runs.read",)  # the remembered path
        forged = raw[:12] + ("B" if raw[12] != "B" else "C") + raw[13:]
        for bad in (forged, raw[:-1] + ("A" if raw[-1] != "A" else "B")):
            try:
                tokens.verify(bad)
            except TokenRejected as exc:
                assert exc.reason == "unknown"
            else:
                raise AssertionError(f"{bad} was accepted")
        try:
            tokens.verify(raw, now=time.time() + 7200)
        except TokenRejected as exc:
            assert exc.reason == "expired"
        else:
            raise AssertionError("an expired token was accepted")
        # Revoked through another connection (as the CLI does while the server runs).
        other = open_token_store(stores)
        other.revoke(rec.prefix)
        other.close()
        try:
            tokens.verify(raw)
        except TokenRejected as exc:
            assert exc.reason == "revoked"
        else:
            raise AssertionError("a revoked token was accepted")
    finally:
        tokens.close()
        stores.close()

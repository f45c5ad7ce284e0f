"""The ``state: {type: postgres}`` block: URLs as users write them, keys, one-line errors."""

from __future__ import annotations

from typing import Any

import pytest
from sparkwing.errors import ConfigError, StoreError
from sparkwing_postgres.settings import parse_settings
from sparkwing_postgres.store import PostgresStateStore


def test_plain_url_gets_the_psycopg_driver() -> None:
    s = parse_settings({"url": "postgresql://ci:s3cret@db.example.com:6543/sparkwing"})
    assert s.url.drivername == "postgresql+psycopg"
    assert (s.url.host, s.url.port, s.url.database, s.url.username, s.url.password) == (
        "db.example.com", 6543, "sparkwing", "ci", "s3cret")
    assert s.display == "postgresql://ci@db.example.com:6543/sparkwing"
    assert "s3cret" not in repr(s) and "s3cret" not in s.where
    assert parse_settings({"url": "postgres://u@h/d"}).url.drivername == "postgresql+psycopg"
    assert parse_settings({"url": "postgresql+psycopg://u@h/d"}).display == "postgresql://u@h/d"


def test_keys_become_connection_settings() -> None:
    s = parse_settings({
        "url": "postgresql://u@h/d", "schema": "ci_state", "pool_size": "12",
        "sslmode": "verify-full", "sslrootcert": "/etc/ca.pem", "connect_timeout": 3,
        "retry_timeout": 0, "migration_wait": 30, "notify": False,
    })
    assert (s.schema, s.pool_size, s.retry_timeout, s.migration_wait, s.notify) == (
        "ci_state", 12, 0.0, 30.0, False)
    assert s.connect_args["sslmode"] == "verify-full"
    assert s.connect_args["sslrootcert"] == "/etc/ca.pem"
    assert s.connect_args["connect_timeout"] == 3
    assert s.connect_args["options"] == "-c search_path=ci_state"
    assert s.where == "state store postgresql://u@h/d (schema ci_state)"


@pytest.mark.parametrize(("block", "expected"), [
    ({"url": "mysql://u:pw@h/d"}, "url must be a PostgreSQL URL"),
    ({"url": "u:pw@h/d"}, "got no scheme"),
    ({"url": "postgresql://u:pw@h"}, "url names no database"),
    ({"url": "postgresql://u:pw@h:notaport/d"}, "url"),
    ({"url": "postgresql://u:pw@h/d", "schema": "Drop Table"}, "schema must be"),
    ({"url": "postgresql://u:pw@h/d", "pool_size": 0}, "pool_size must be at least 1"),
    ({"url": "postgresql://u:pw@h/d", "pool_size": "many"}, "pool_size must be a whole number"),
    ({"url": "postgresql://u:pw@h/d", "sslmode": "sometimes"}, "sslmode must be one of"),
    ({"url": "postgresql://u:pw@h/d", "notify": "maybe"}, "notify must be true or false"),
])
def test_bad_blocks_are_one_line_config_errors(block: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(block, 'profile "team": state')
    msg = str(info.value)
    assert expected in msg and msg.startswith('profile "team": state: ')
    assert "pw" not in msg.replace("passw", "") and "\n" not in msg
    assert info.value.exit_code == 2


def test_refused_password_is_one_line_naming_the_host(pg_running: Any) -> None:
    pg_running.sql("DROP ROLE IF EXISTS alice")
    pg_running.sql("CREATE ROLE alice LOGIN PASSWORD 'right-one'")
    hba = pg_running.data / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text("local all all trust\nhost all postgres 127.0.0.1/32 trust\n"
                   "host all all 127.0.0.1/32 scram-sha-256\n")
    pg_running.sql("SELECT pg_reload_conf()")
    try:
        url = f"postgresql://alice:wrong-secret@127.0.0.1:{pg_running.port}/postgres"
        with pytest.raises(StoreError) as info:
            PostgresStateStore.from_config({"url": url})
        msg = str(info.value)
        assert "127.0.0.1" in msg and "password authentication failed" in msg
        assert "wrong-secret" not in msg and "\n" not in msg
        ok = f"postgresql://alice:right-one@127.0.0.1:{pg_running.port}/postgres"
        pg_running.sql("CREATE SCHEMA IF NOT EXISTS alice_s AUTHORIZATION alice")
        with PostgresStateStore.from_config({"url": ok, "schema": "alice_s"}) as store:
            assert store.list_runs() == []
    finally:
        hba.write_text(original)
        pg_running.sql("SELECT pg_reload_conf()")


def test_nothing_listening_is_one_line_naming_the_host() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(StoreError) as info:
            PostgresStateStore.from_config(
                {"url": f"postgresql://ci:hunter2@127.0.0.1:{port}/ci", "connect_timeout": 2})
    msg = str(info.value)
    assert f"cannot connect to postgresql://ci@127.0.0.1:{port}/ci" in msg
    assert "hunter2" not in msg and "\n" not in msg


def test_missing_database_is_one_line(pg_running: Any) -> None:
    with pytest.raises(StoreError) as info:
        PostgresStateStore.from_config({"url": pg_running.url("nope")})
    assert 'database "nope" does not exist' in str(info.value)

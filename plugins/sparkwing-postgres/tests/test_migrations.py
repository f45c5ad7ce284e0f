"""Migrations: many runners at once against an empty database, refusal of a newer schema,
waiting for another migrator."""

from __future__ import annotations

import functools
from typing import Any

import psycopg
import pytest
from sparkwing.errors import SchemaSkewError, StoreError
from sparkwing.storage.sql import schema
from sparkwing.storage.sql.migrations import MIN_BINARY_VERSION_KEY, SCHEMA_VERSION
from sparkwing.testing.suites.state import open_each, run_in_processes
from sparkwing_postgres.migrate import lock_key
from sparkwing_postgres.store import PostgresStateStore

MIGRATORS = 8


def _tables(url: str, schema_name: str = "public") -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema_name,),
        ).fetchall()
    return {r[0] for r in rows}


def test_eight_migrators_on_an_empty_database_converge(pg_database: str) -> None:
    schema_name = "public"
    assert _tables(pg_database, schema_name) == set()
    factory = functools.partial(PostgresStateStore.from_config,
                                {"url": pg_database, "schema": schema_name})
    results = run_in_processes(open_each, [([factory], w) for w in range(MIGRATORS)])
    assert results == [1] * MIGRATORS  # every process opened the store and wrote a run
    assert _tables(pg_database, schema_name) == {t.name for t in schema.TABLES}
    with psycopg.connect(pg_database) as conn:
        conn.execute(f"SET search_path TO {schema_name}")
        versions = conn.execute("SELECT version FROM sparkwing_schema_version").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        (stamp,) = conn.execute("SELECT value FROM sparkwing_meta WHERE key = %s",
                                (MIN_BINARY_VERSION_KEY,)).fetchone()
        from sparkwing import __version__

        assert stamp == __version__
        (runs,) = conn.execute("SELECT COUNT(*) FROM runs").fetchone()
        assert runs == MIGRATORS
    with PostgresStateStore.from_config({"url": pg_database, "schema": schema_name}) as store:
        assert len(store.list_runs()) == MIGRATORS


def test_text_sorts_bytewise_whatever_the_locale(pg_config: dict[str, Any]) -> None:
    with PostgresStateStore.from_config(pg_config) as store:
        url = store.settings.url.render_as_string(hide_password=False).replace("+psycopg", "")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT collation_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'runs' AND column_name = 'id'",
            (pg_config["schema"],),
        ).fetchall()
    assert rows == [("C",)]


def test_runner_older_than_the_database_refuses(pg_config: dict[str, Any]) -> None:
    PostgresStateStore.from_config(pg_config).close()
    newer = SCHEMA_VERSION + 1
    with psycopg.connect(pg_config["url"]) as conn:
        conn.execute(f"SET search_path TO {pg_config['schema']}")
        conn.execute("INSERT INTO sparkwing_schema_version (version, applied_at) VALUES (%s, 0)",
                     (newer,))
        conn.execute("UPDATE sparkwing_meta SET value = '7.3.0' WHERE key = %s",
                     (MIN_BINARY_VERSION_KEY,))
    with pytest.raises(SchemaSkewError) as info:
        PostgresStateStore.from_config(pg_config)
    msg = str(info.value)
    assert f"schema version {newer}" in msg and f"expects {SCHEMA_VERSION}" in msg
    assert "7.3.0" in msg and "\n" not in msg
    assert "127.0.0.1" in msg


def test_waiting_migrator_gives_up_naming_the_holder(pg_config: dict[str, Any]) -> None:
    key = lock_key(pg_config["schema"])
    with psycopg.connect(pg_config["url"], autocommit=True) as holder:
        (pid,) = holder.execute("SELECT pg_backend_pid()").fetchone()
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        with pytest.raises(StoreError) as info:
            PostgresStateStore.from_config({**pg_config, "migration_wait": 1})
        assert f"another process is migrating the schema (pid {pid})" in str(info.value)
        holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
    # once the lock is free the same open migrates
    with PostgresStateStore.from_config(pg_config) as store:
        assert store.list_runs() == []


def test_a_dead_migrator_frees_the_lock(pg_config: dict[str, Any]) -> None:
    key = lock_key(pg_config["schema"])
    holder = psycopg.connect(pg_config["url"], autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (key,))
    holder.close()  # the session ends: PostgreSQL releases a session lock with it
    with PostgresStateStore.from_config({**pg_config, "migration_wait": 5}) as store:
        assert store.list_runs() == []


def test_an_older_database_is_migrated_keeping_its_event_numbers(
    pg_config: dict[str, Any],
) -> None:
    """A database at schema version 1 (before runs.event_seq) gets the column, backfilled."""
    from sparkwing.storage.sql.migrations import all_migrations, postgresql_statements

    schema_name = pg_config["schema"]
    with psycopg.connect(pg_config["url"], autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema_name}")
        conn.execute(f"SET search_path TO {schema_name}")
        for statement in postgresql_statements(all_migrations()[0]):
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("INSERT INTO sparkwing_schema_version VALUES (1, 0)")
        conn.execute("INSERT INTO runs (id, pipeline) VALUES ('run-old', 'p')")
        for seq in (1, 2, 3):
            conn.execute("INSERT INTO events (run_id, seq, kind) VALUES ('run-old', %s, 'k')",
                         (seq,))
    with PostgresStateStore.from_config(pg_config) as store:
        assert store.append_event("run-old", "after-upgrade", {}) == 4
        assert [e.seq for e in store.list_events("run-old")] == [1, 2, 3, 4]
    with psycopg.connect(pg_config["url"]) as conn:
        conn.execute(f"SET search_path TO {schema_name}")
        versions = [r[0] for r in conn.execute("SELECT version FROM sparkwing_schema_version "
                                                "ORDER BY version").fetchall()]
    assert versions == list(range(1, SCHEMA_VERSION + 1))

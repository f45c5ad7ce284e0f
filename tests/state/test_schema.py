"""The schema description: stdlib DDL and SQLAlchemy produce the same database."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sparkwing.storage.sql import migrations, schema
from sparkwing_sqlite.store import SqliteStateStore

EXPECTED_TABLES = {
    "runs", "nodes", "node_steps", "events", "approvals", "cache_entries",
    "concurrency_holders", "concurrency_waiters", "debug_pauses", "triggers", "api_tokens",
    "users", "user_sessions", "node_queue",
    "secrets",
    "sparkwing_schema_version", "sparkwing_meta",
}


def describe_db(path: Path) -> dict[str, Any]:
    """Return tables -> columns, indexes, foreign keys and rowid-ness, as SQLite reports them."""
    conn = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {}
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )]
        for t in tables:
            cols = [tuple(r[1:]) for r in conn.execute(f"PRAGMA table_info({t})")]
            indexes = {}
            for _seq, name, unique, origin, _partial in conn.execute(f"PRAGMA index_list({t})"):
                if origin != "c":
                    continue
                cols_ix = [r[2] for r in conn.execute(f"PRAGMA index_info({name})")]
                indexes[name] = (bool(unique), cols_ix)
            fks = sorted(
                (r[2], r[3], r[4], r[6]) for r in conn.execute(f"PRAGMA foreign_key_list({t})")
            )
            (sql,) = conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (t,)
            ).fetchone()
            out[t] = {
                "columns": cols, "indexes": indexes, "fks": fks,
                "without_rowid": "WITHOUT ROWID" in sql.upper(),
            }
        return out
    finally:
        conn.close()


def test_store_creates_every_described_table(tmp_path: Path) -> None:
    SqliteStateStore(tmp_path / "state.db").close()
    got = describe_db(tmp_path / "state.db")
    assert set(got) == EXPECTED_TABLES == {t.name for t in schema.TABLES}
    for t in schema.TABLES:
        assert [c[0] for c in got[t.name]["columns"]] == [c.name for c in t.columns]
        assert set(got[t.name]["indexes"]) == {ix.name for ix in t.indexes}
    assert got["events"]["without_rowid"] is True
    assert got["events"]["columns"][:2] == [("run_id", "TEXT", 1, None, 1),
                                          ("seq", "INTEGER", 1, None, 2)]
    assert ("runs", "run_id", "id", "CASCADE") in got["nodes"]["fks"]


def test_sqlalchemy_metadata_matches_stdlib_ddl(tmp_path: Path) -> None:
    import sqlalchemy as sa

    SqliteStateStore(tmp_path / "stdlib.db").close()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    md = schema.to_sqlalchemy()
    md.create_all(engine)
    engine.dispose()
    stdlib = describe_db(tmp_path / "stdlib.db")
    via_sa = describe_db(tmp_path / "sqlalchemy.db")
    assert set(via_sa) == set(stdlib)
    for name in stdlib:
        assert via_sa[name] == stdlib[name], name
    assert set(md.tables) == EXPECTED_TABLES


def test_sqlalchemy_metadata_compiles_for_postgresql() -> None:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    md = schema.to_sqlalchemy(sa.MetaData())
    ddl = str(CreateTable(md.tables["events"]).compile(dialect=postgresql.dialect()))
    assert "seq BIGINT NOT NULL" in ddl
    assert "ts DOUBLE PRECISION" in ddl
    assert "payload_json TEXT" in ddl
    assert "ON DELETE CASCADE" in ddl


def test_migrations_cover_the_description() -> None:
    assert migrations.SCHEMA_VERSION == schema.latest_version() == len(migrations.all_migrations())
    created: list[str] = []
    statements = 0
    for migration in migrations.all_migrations():
        created += [s.table.name for s in migration.steps
                    if isinstance(s, migrations.CreateTable)]
        statements += len(migrations.sqlite_statements(migration))
    assert created == [t.name for t in schema.TABLES]
    index_count = sum(len(t.indexes) for t in schema.TABLES)
    added_columns = sum(1 for t in schema.TABLES for c in t.columns if c.since > t.since)
    extra = sum(len(steps) for steps in migrations.EXTRA_STEPS.values())
    assert statements == len(schema.TABLES) + index_count + added_columns + extra


def test_version_2_adds_the_triggers_table() -> None:
    second = migrations.all_migrations()[1]
    assert [type(s).__name__ for s in second.steps] == ["CreateTable"] + ["CreateIndex"] * 3
    ddl = migrations.sqlite_statements(second)
    assert ddl[0].startswith("CREATE TABLE triggers")
    assert "CREATE UNIQUE INDEX triggers_key_idx ON triggers (idempotency_key)" in ddl


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in migrations.sqlite_statements(migrations.all_migrations()[0]):
        conn.execute(statement)
    conn.execute("INSERT INTO sparkwing_schema_version (version, applied_at) VALUES (1, 0)")
    conn.execute("INSERT INTO runs (id, pipeline) VALUES ('run-20231114-000001-00000001', 'old')")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with SqliteStateStore(path) as store:
        old = store.get_run("run-20231114-000001-00000001")
        assert old is not None and old.pipeline == "old"
        assert store.list_triggers() == []
    conn = sqlite3.connect(path)
    try:
        got = [r[0] for r in conn.execute("SELECT version FROM sparkwing_schema_version")]
    finally:
        conn.close()
    assert got == list(range(1, migrations.SCHEMA_VERSION + 1))


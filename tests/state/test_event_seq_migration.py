"""Schema version 3 (runs.event_seq): an older SQLite database keeps its event numbers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sparkwing.storage.sql.migrations import SCHEMA_VERSION, all_migrations, sqlite_statements
from sparkwing_sqlite.store import SqliteStateStore


def test_a_version_1_database_is_migrated_and_backfilled(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in sqlite_statements(all_migrations()[0]):
        conn.execute(statement)
    conn.execute("INSERT INTO sparkwing_schema_version VALUES (1, 0)")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO runs (id, pipeline) VALUES ('run-old', 'p'), ('run-empty', 'p')")
    conn.executemany("INSERT INTO events (run_id, seq, kind) VALUES ('run-old', ?, 'k')",
                     [(1,), (2,), (3,)])
    conn.close()
    with SqliteStateStore(path) as store:
        assert store.append_event("run-old", "after-upgrade", {}) == 4
        assert store.append_event("run-empty", "first", {}) == 1
        assert [e.seq for e in store.list_events("run-old")] == [1, 2, 3, 4]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()

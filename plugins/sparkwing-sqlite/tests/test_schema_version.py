"""Opening a state.db: migrations, the up-to-date fast path, refusing newer schemas."""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sparkwing
from sparkwing.errors import SchemaSkewError, StoreError
from sparkwing.storage.records import Run
from sparkwing.storage.sql.migrations import SCHEMA_VERSION
from sparkwing.testing.suites.state import open_each, run_in_processes
from sparkwing_sqlite.store import SqliteStateStore


def versions(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT version FROM sparkwing_schema_version")]
    finally:
        conn.close()


def pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def write_locked(tmp_path: Path) -> Iterator[Path]:
    """A WAL database file on which another connection holds the write lock."""
    path = tmp_path / "locked" / "state.db"
    path.parent.mkdir()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    yield path
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def hold_write_lock(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_fresh_database_is_migrated_and_stamped(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "state.db"
    store = SqliteStateStore(path)
    store.close()
    assert path.exists()
    assert versions(path) == list(range(1, SCHEMA_VERSION + 1))
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert pragma(path, "journal_mode") == "wal"
    conn = sqlite3.connect(path)
    (value,) = conn.execute(
        "SELECT value FROM sparkwing_meta WHERE key = 'min_binary_version'"
    ).fetchone()
    conn.close()
    assert value == sparkwing.__version__


def test_reopening_keeps_data_and_records_versions_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.create_run(Run(id="run-1", pipeline="p"))
    for _ in range(3):
        with SqliteStateStore(path) as store:
            assert store.get_run("run-1") is not None
    assert versions(path) == list(range(1, SCHEMA_VERSION + 1))


def test_up_to_date_database_opens_without_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path only reads: it works while another process holds the write lock."""
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.create_run(Run(id="run-1", pipeline="p"))
    monkeypatch.setenv("SPARKWING_SQLITE_BUSY_TIMEOUT_MS", "100")
    holder = hold_write_lock(path)
    try:
        with SqliteStateStore(path) as store:
            assert store.get_run("run-1") is not None
            with pytest.raises(StoreError, match=r"locked.*SPARKWING_SQLITE_BUSY_TIMEOUT_MS"):
                store.create_run(Run(id="run-2", pipeline="p"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with SqliteStateStore(path) as store:
        store.create_run(Run(id="run-2", pipeline="p"))


def test_migrating_waits_for_the_write_lock(
    write_locked: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A database that needs migrating is migrated under the write lock (contrast with above)."""
    monkeypatch.setenv("SPARKWING_SQLITE_BUSY_TIMEOUT_MS", "100")
    holder = hold_write_lock(write_locked)
    try:
        with pytest.raises(StoreError, match="locked"):
            SqliteStateStore(write_locked)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    SqliteStateStore(write_locked).close()
    assert versions(write_locked) == list(range(1, SCHEMA_VERSION + 1))


def _stamp_newer(path: Path, version: int, mirror: int, migrated_by: str = "") -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO sparkwing_schema_version (version, applied_at) VALUES (?, 0)",
                 (version,))
    if migrated_by:
        conn.execute("UPDATE sparkwing_meta SET value = ? WHERE key = 'min_binary_version'",
                     (migrated_by,))
    conn.execute(f"PRAGMA user_version = {mirror}")
    conn.close()


def test_newer_database_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStateStore(path).close()
    newer = SCHEMA_VERSION + 1
    _stamp_newer(path, newer, newer)
    with pytest.raises(SchemaSkewError) as info:
        SqliteStateStore(path)
    msg = str(info.value)
    assert msg.startswith(
        f"state store {path} is at schema version {newer}; "
        f"this sparkwing expects {SCHEMA_VERSION}. Upgrade sparkwing (all sparkwing packages "
        "together"
    )
    assert msg.endswith("or use a matching database.")
    assert "\n" not in msg
    assert isinstance(info.value, StoreError)
    assert versions(path)[-1] == newer  # left untouched


def test_newer_database_message_names_the_migrating_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStateStore(path).close()
    _stamp_newer(path, SCHEMA_VERSION + 3, SCHEMA_VERSION + 3, migrated_by="0.9.1")
    with pytest.raises(SchemaSkewError, match=r"to 0\.9\.1 or newer\)"):
        SqliteStateStore(path)


def test_newer_version_is_found_even_when_the_mirror_lags(tmp_path: Path) -> None:
    """user_version is only a cache: the version table decides inside the transaction."""
    path = tmp_path / "state.db"
    SqliteStateStore(path).close()
    _stamp_newer(path, SCHEMA_VERSION + 1, 0)
    with pytest.raises(SchemaSkewError, match=f"schema version {SCHEMA_VERSION + 1};"):
        SqliteStateStore(path)
    assert pragma(path, "user_version") == 0  # the refused open changed nothing


def test_lagging_mirror_of_a_current_database_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.create_run(Run(id="run-1", pipeline="p"))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")
    conn.close()
    with SqliteStateStore(path) as store:
        assert store.get_run("run-1") is not None
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert versions(path) == list(range(1, SCHEMA_VERSION + 1))


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite, just some text that is long enough" * 40)
    with pytest.raises(StoreError, match=f"cannot open state store {path}"):
        SqliteStateStore(path)


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="state store"):
        SqliteStateStore(blocker / "sub" / "state.db")


def test_four_processes_open_fresh_databases_at_once(tmp_path: Path) -> None:
    """Every file is migrated exactly once and no opener fails, on 40 fresh files in a row.

    (Switching a fresh file to WAL can fail at once with "database is locked"
    while another process does the same; the store must retry it.)
    """
    paths = [tmp_path / f"db{k}" / "state.db" for k in range(40)]
    factories = [functools.partial(SqliteStateStore, p) for p in paths]
    results = run_in_processes(open_each, [(factories, i) for i in range(4)])
    assert results == [len(paths)] * 4
    for path in paths:
        assert versions(path) == list(range(1, SCHEMA_VERSION + 1))
        assert pragma(path, "journal_mode") == "wal"
        with SqliteStateStore(path) as store:
            assert sorted(r.id for r in store.list_runs()) == [f"run-opener-{i}" for i in range(4)]


def test_open_waits_while_another_process_writes_a_not_yet_wal_file(tmp_path: Path) -> None:
    """Switching to WAL under another writer's lock fails at once in SQLite; the store waits.

    (This is the interleaving behind the race of several first openers.)
    """
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, holder.execute, args=("ROLLBACK",))
    release.start()
    try:
        with SqliteStateStore(path) as store:
            store.create_run(Run(id="run-1", pipeline="p"))
    finally:
        release.join()
        holder.close()
    assert pragma(path, "journal_mode") == "wal"


def test_open_gives_up_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setenv("SPARKWING_SQLITE_BUSY_TIMEOUT_MS", "150")
    try:
        with pytest.raises(StoreError, match="locked"):
            SqliteStateStore(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

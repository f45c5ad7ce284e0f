"""SPARKWING_SQLITE_BUSY_TIMEOUT_MS, connection settings and the plugin factory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sparkwing.errors import ConfigError
from sparkwing.plugins.registry import BackendContext
from sparkwing_sqlite.connection import busy_timeout_ms
from sparkwing_sqlite.plugin import make_state_store
from sparkwing_sqlite.store import SqliteStateStore


def test_busy_timeout_default() -> None:
    assert busy_timeout_ms({}) == 30000
    assert busy_timeout_ms({"SPARKWING_SQLITE_BUSY_TIMEOUT_MS": ""}) == 30000


def test_busy_timeout_from_env() -> None:
    assert busy_timeout_ms({"SPARKWING_SQLITE_BUSY_TIMEOUT_MS": "1500"}) == 1500
    assert busy_timeout_ms({"SPARKWING_SQLITE_BUSY_TIMEOUT_MS": " 7 "}) == 7


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1.5", "30s", "1e3"])
def test_bad_busy_timeout_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        busy_timeout_ms({"SPARKWING_SQLITE_BUSY_TIMEOUT_MS": value})
    msg = str(info.value)
    assert "SPARKWING_SQLITE_BUSY_TIMEOUT_MS" in msg and repr(value) in msg
    assert "\n" not in msg


def test_store_applies_busy_timeout_and_refuses_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPARKWING_SQLITE_BUSY_TIMEOUT_MS", "1234")
    with SqliteStateStore(tmp_path / "state.db") as store:
        assert store.busy_timeout_ms == 1234
        assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
        assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    monkeypatch.setenv("SPARKWING_SQLITE_BUSY_TIMEOUT_MS", "0")
    with pytest.raises(ConfigError, match="SPARKWING_SQLITE_BUSY_TIMEOUT_MS"):
        SqliteStateStore(tmp_path / "other" / "state.db")
    assert not (tmp_path / "other").exists()


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    SqliteStateStore(tmp_path / "state.db").close()
    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_close_is_idempotent(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "state.db")
    store.close()
    store.close()


def test_plugin_factory_paths(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = make_state_store({}, BackendContext(home=home))
    try:
        assert isinstance(store, SqliteStateStore)
        assert store.path == home / "state.db" and store.path.exists()
    finally:
        store.close()
    custom = make_state_store({"path": str(tmp_path / "x" / "s.db")}, BackendContext(home=home))
    try:
        assert custom.path == tmp_path / "x" / "s.db" and custom.path.exists()
    finally:
        custom.close()

"""The SQLite state store passes the StateStore conformance suite."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from sparkwing.testing.suites.state import StoreFactory, ThreadSafeStateStoreSuite
from sparkwing_sqlite.store import SqliteStateStore


class TestSqliteStateStore(ThreadSafeStateStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        return functools.partial(SqliteStateStore, tmp_path / "home" / "state.db")

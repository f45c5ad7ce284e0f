"""The PostgreSQL state store passes the StateStore conformance suite on a real PostgreSQL 15."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from sparkwing.testing.suites.state import StoreFactory, ThreadSafeStateStoreSuite
from sparkwing_postgres.store import PostgresStateStore


class TestPostgresStateStore(ThreadSafeStateStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, pg_config: dict[str, Any]) -> StoreFactory:
        return functools.partial(PostgresStateStore.from_config, pg_config)

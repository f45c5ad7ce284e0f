"""Fixtures for the PostgreSQL tests: one real PostgreSQL 15 cluster per test session.

The cluster is started by the first test that needs it and stopped at the
end of the session. It is never skipped: when the server binaries are
missing the fixture fails (``scripts/install.sh`` installs them). Each
test gets its own schema (``pg_config``) or its own database
(``pg_database``), so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from sparkwing_postgres.cluster import TempCluster

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempCluster]:
    """The session's PostgreSQL cluster (started here, stopped and deleted at the end)."""
    cluster = TempCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def pg_running(pg_cluster: TempCluster) -> TempCluster:
    """The cluster, started again if a previous test stopped it."""
    if not pg_cluster.running:
        pg_cluster.start()
    return pg_cluster


@pytest.fixture
def pg_config(pg_running: TempCluster) -> dict[str, Any]:
    """A ``state`` block (without ``type``) on a fresh, empty schema of its own."""
    return {"url": pg_running.url(), "schema": f"t{next(_names)}", "retry_timeout": 30}


@pytest.fixture
def pg_database(pg_running: TempCluster) -> str:
    """The URL of a fresh, empty database of its own."""
    return pg_running.create_database(f"db{next(_names)}")

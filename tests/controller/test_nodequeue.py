"""The node claim queue passes its conformance suite on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sparkwing.testing.suites.nodequeue import NodeQueueSuite, QueueFactory
from sparkwing_server.controller.nodequeue import postgres_node_queue, sqlite_node_queue

_schemas = itertools.count(1)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL cluster for this module (started here, deleted at the end)."""
    from sparkwing_postgres.cluster import TempCluster

    cluster = TempCluster()
    try:
        cluster.start()
        yield cluster.url()
    finally:
        cluster.close()


class TestNodeQueue(NodeQueueSuite):
    __test__ = True

    @pytest.fixture(params=["sqlite", "postgres"])
    def queue_factory(self, request: Any, tmp_path: Path) -> QueueFactory:
        if request.param == "sqlite":
            return functools.partial(sqlite_node_queue, tmp_path / "state.db")
        url = request.getfixturevalue("pg_url")
        config = {"url": url, "schema": f"q{next(_schemas)}", "retry_timeout": 30}
        return functools.partial(postgres_node_queue, config)

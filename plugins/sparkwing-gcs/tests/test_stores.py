"""sparkwing's state, log and artifact stores on GCS (fake-gcs-server): their conformance suites."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from sparkwing.testing.suites.artifacts import ArtifactStoreSuite
from sparkwing.testing.suites.logs import LogStoreSuite
from sparkwing.testing.suites.state import ThreadSafeStateStoreSuite
from sparkwing_gcs.settings import parse_settings
from sparkwing_gcs.testing import artifact_store, log_store, state_store


class TestStateStoreOnGcs(ThreadSafeStateStoreSuite):
    """Runs, nodes, events and every cross-writer decision, by CAS on GCS objects."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, block: dict[str, object]) -> Callable[[], Any]:
        return functools.partial(state_store, parse_settings(block, "team"))


class TestLogStoreOnGcs(LogStoreSuite):
    """Log parts and ranged reads on GCS."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, block: dict[str, object]) -> Callable[[], Any]:
        return functools.partial(log_store, parse_settings(block, "team"))


class TestArtifactStoreOnGcs(ArtifactStoreSuite):
    """Content-addressed artifacts and named keys on GCS."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, block: dict[str, object]) -> Callable[[], Any]:
        return functools.partial(artifact_store, parse_settings(block, "team"))

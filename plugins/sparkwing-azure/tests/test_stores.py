"""sparkwing's state, log and artifact stores on Azure Blob Storage (Azurite): their conformance suites."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from sparkwing.testing.suites.artifacts import ArtifactStoreSuite
from sparkwing.testing.suites.logs import LogStoreSuite
from sparkwing.testing.suites.state import ThreadSafeStateStoreSuite
from sparkwing_azure.settings import parse_settings
from sparkwing_azure.testing import artifact_store, log_store, state_store


class TestStateStoreOnAzure(ThreadSafeStateStoreSuite):
    """Runs, nodes, events and every cross-writer decision, by CAS on Azure blobs."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, block: dict[str, object]) -> Callable[[], Any]:
        return functools.partial(state_store, parse_settings(block, "team"))


class TestLogStoreOnAzure(LogStoreSuite):
    """Log parts and ranged reads on Azure."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, block: dict[str, object]) -> Callable[[], Any]:
        return functools.partial(log_store, parse_settings(block, "team"))


class TestArtifactStoreOnAzure(ArtifactStoreSuite):
    """Content-addressed artifacts and named keys on Azure."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, block: dict[str, object]) -> Callable[[], Any]:
        return functools.partial(artifact_store, parse_settings(block, "team"))

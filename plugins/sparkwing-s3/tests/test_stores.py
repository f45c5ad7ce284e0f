"""sparkwing's state, log and artifact stores on S3 (moto): their conformance suites."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from sparkwing.testing.suites.artifacts import ArtifactStoreSuite
from sparkwing.testing.suites.logs import LogStoreSuite
from sparkwing.testing.suites.state import ThreadSafeStateStoreSuite
from sparkwing_s3.settings import parse_settings
from sparkwing_s3.testing import artifact_store, log_store, state_store


class TestStateStoreOnS3(ThreadSafeStateStoreSuite):
    """Runs, nodes, events and every cross-writer decision, by CAS on S3 objects."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, block: dict[str, object]) -> Callable[[], Any]:
        return functools.partial(state_store, parse_settings(block, "team"))


class TestLogStoreOnS3(LogStoreSuite):
    """Log parts and ranged reads on S3."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, block: dict[str, object]) -> Callable[[], Any]:
        return functools.partial(log_store, parse_settings(block, "team"))


class TestArtifactStoreOnS3(ArtifactStoreSuite):
    """Content-addressed artifacts and named keys on S3."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, block: dict[str, object]) -> Callable[[], Any]:
        return functools.partial(artifact_store, parse_settings(block, "team"))

"""The log and artifact stores over blobs pass their conformance suites on the dir backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sparkwing.storage.blobs.artifacts import BlobArtifactStore
from sparkwing.storage.blobs.logs import BlobLogStore
from sparkwing.testing.blobstores import dir_artifacts, dir_logs
from sparkwing.testing.suites.artifacts import ArtifactStoreSuite
from sparkwing.testing.suites.logs import LogStoreSuite


class TestBlobLogStoreOnDir(LogStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], BlobLogStore]:
        return lambda: dir_logs(tmp_path / "store", "logs-here")


class TestBlobLogStoreOnDirTinyParts(LogStoreSuite):
    """Every write overflows the part size and is uploaded at once; no deferral."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], BlobLogStore]:
        return lambda: dir_logs(tmp_path / "store", part_bytes=1, flush_interval=0.0)


class TestBlobArtifactStoreOnDir(ArtifactStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], BlobArtifactStore]:
        return lambda: dir_artifacts(tmp_path / "store", "cache")

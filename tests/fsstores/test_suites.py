"""The filesystem stores pass the store conformance suites."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sparkwing.storage.fs_artifacts import FilesystemArtifactStore
from sparkwing.storage.fs_logs import FilesystemLogStore
from sparkwing.testing.suites.artifacts import ArtifactStoreSuite
from sparkwing.testing.suites.logs import LogStoreSuite


class TestFilesystemLogStore(LogStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], FilesystemLogStore]:
        return lambda: FilesystemLogStore(tmp_path / "runs")


class TestFilesystemLogStoreTinyBuffer(LogStoreSuite):
    """The same behaviour when every write overflows the buffer and is flushed at once."""

    __test__ = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], FilesystemLogStore]:
        return lambda: FilesystemLogStore(tmp_path / "runs", buffer_bytes=1)


class TestFilesystemArtifactStore(ArtifactStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], FilesystemArtifactStore]:
        return lambda: FilesystemArtifactStore(tmp_path / "artifacts")

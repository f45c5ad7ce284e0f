"""sparkwing's blob conformance suite against the GCS store on fake-gcs-server."""

from __future__ import annotations

import functools

import pytest
from sparkwing.testing.suites.blobs import BlobStoreSuite
from sparkwing_gcs.settings import parse_settings
from sparkwing_gcs.store import GcsBlobStore
from sparkwing_gcs.testing import FakeGcs


class TestGcsBlobStore(BlobStoreSuite):
    """Every behaviour the blob contract promises, on GCS."""

    __test__ = True

    @pytest.fixture
    def blob_factory(self, block: dict[str, object]) -> functools.partial[GcsBlobStore]:
        return functools.partial(GcsBlobStore, parse_settings(block, "team"))

    @pytest.fixture
    def bad_blob_factory(self, fake_gcs: FakeGcs) -> functools.partial[GcsBlobStore]:
        block = {"bucket": "no-such-bucket", "endpoint_url": fake_gcs.endpoint_url, "retries": 0}
        return functools.partial(GcsBlobStore, parse_settings(block, "team"))

"""sparkwing's blob conformance suite against the S3 store on moto's server."""

from __future__ import annotations

import functools

import pytest
from sparkwing.testing.suites.blobs import BlobStoreSuite
from sparkwing_s3.settings import parse_settings
from sparkwing_s3.store import S3BlobStore
from sparkwing_s3.testing import MotoS3


class TestS3BlobStore(BlobStoreSuite):
    """Every behaviour the blob contract promises, on S3."""

    __test__ = True

    @pytest.fixture
    def blob_factory(self, block: dict[str, object]) -> functools.partial[S3BlobStore]:
        return functools.partial(S3BlobStore, parse_settings(block, "team"))

    @pytest.fixture
    def bad_blob_factory(self, moto_s3: MotoS3) -> functools.partial[S3BlobStore]:
        block = {"bucket": "no-such-bucket", "endpoint_url": moto_s3.endpoint_url, "retries": 0}
        return functools.partial(S3BlobStore, parse_settings(block, "team"))

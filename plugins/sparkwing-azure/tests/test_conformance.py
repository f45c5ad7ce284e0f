"""sparkwing's blob conformance suite against the Azure store on Azurite."""

from __future__ import annotations

import functools

import pytest
from sparkwing.testing.suites.blobs import BlobStoreSuite
from sparkwing_azure.settings import parse_settings
from sparkwing_azure.store import AzureBlobStore
from sparkwing_azure.testing import Azurite


class TestAzureBlobStore(BlobStoreSuite):
    """Every behaviour the blob contract promises, on Azure Blob Storage."""

    __test__ = True

    @pytest.fixture
    def blob_factory(self, block: dict[str, object]) -> functools.partial[AzureBlobStore]:
        return functools.partial(AzureBlobStore, parse_settings(block, "team"))

    @pytest.fixture
    def bad_blob_factory(self, azurite: Azurite) -> functools.partial[AzureBlobStore]:
        block = {"container": "no-such-container", "url": azurite.connection_string,
                 "retries": 0}
        return functools.partial(AzureBlobStore, parse_settings(block, "team"))

"""The distribution as sparkwing sees it: entry point, contract, registration, profile keys."""

from __future__ import annotations

import sparkwing_azure.plugin
from sparkwing.testing.suites.blobplugin import BlobPluginSuite
from sparkwing_azure.keys import OPTIONAL
from sparkwing_azure.store import AzureBlobStore


class TestAzurePlugin(BlobPluginSuite):
    """The shared registration checks, for the ``azure`` types."""

    __test__ = True
    KIND = "azure"
    MODULE = sparkwing_azure.plugin
    REQUIRED = ("container",)
    OPTIONAL = OPTIONAL
    STORE = AzureBlobStore

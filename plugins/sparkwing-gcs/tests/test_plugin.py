"""The distribution as sparkwing sees it: entry point, contract, registration, profile keys."""

from __future__ import annotations

import sparkwing_gcs.plugin
from sparkwing.testing.suites.blobplugin import BlobPluginSuite
from sparkwing_gcs.keys import OPTIONAL
from sparkwing_gcs.store import GcsBlobStore


class TestGcsPlugin(BlobPluginSuite):
    """The shared registration checks, for the ``gcs`` types."""

    __test__ = True
    KIND = "gcs"
    MODULE = sparkwing_gcs.plugin
    REQUIRED = ("bucket",)
    OPTIONAL = OPTIONAL
    STORE = GcsBlobStore

"""The distribution as sparkwing sees it: entry point, contract, registration, profile keys."""

from __future__ import annotations

import sparkwing_s3.plugin
from sparkwing.testing.suites.blobplugin import BlobPluginSuite
from sparkwing_s3.keys import OPTIONAL
from sparkwing_s3.store import S3BlobStore


class TestS3Plugin(BlobPluginSuite):
    """The shared registration checks, for the ``s3`` types."""

    __test__ = True
    KIND = "s3"
    MODULE = sparkwing_s3.plugin
    REQUIRED = ("bucket",)
    OPTIONAL = OPTIONAL
    STORE = S3BlobStore

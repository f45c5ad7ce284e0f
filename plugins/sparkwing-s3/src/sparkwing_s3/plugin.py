"""Entry point of sparkwing-s3: registers the ``s3`` type for ``state``, ``logs`` and ``cache``.

Every ``sparkwing`` command imports this module, so it imports only
:mod:`sparkwing` and :mod:`.settings` (no boto3); the store module and boto3
are imported when a profile selects ``type: s3``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sparkwing.plugins import hookimpl
from sparkwing.plugins.registry import BackendContext, Registry

from .keys import OPTIONAL, REQUIRED

if TYPE_CHECKING:
    from .store import S3BlobStore

#: The sparkwing plugin contract this distribution was built for.
SPARKWING_CONTRACT = 1


def make_blob_store(config: Mapping[str, Any], context: BackendContext) -> S3BlobStore:
    """Build the :class:`~sparkwing_s3.store.S3BlobStore` a profile's ``s3`` block describes."""
    from .settings import parse_settings
    from .store import S3BlobStore

    return S3BlobStore(parse_settings(config, context.profile))


@hookimpl
def sparkwing_register_backends(registry: Registry) -> None:
    """Register ``s3`` as a state, logs and cache type over one blob store."""
    from sparkwing.storage.blobs.register import add_blob_backend

    add_blob_backend(
        registry, "s3", make_blob_store, required=REQUIRED, optional=OPTIONAL,
        description="Amazon S3 or an S3-compatible store (bucket, prefix, endpoint_url)",
    )

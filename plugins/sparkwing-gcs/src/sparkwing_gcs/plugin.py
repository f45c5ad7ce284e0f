"""Entry point of sparkwing-gcs: registers the ``gcs`` type for ``state``, ``logs`` and ``cache``.

Every ``sparkwing`` command imports this module, so it imports only
:mod:`sparkwing` and :mod:`.settings` (no Google libraries); the store
module and google-cloud-storage are imported when a profile selects
``type: gcs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sparkwing.plugins import hookimpl
from sparkwing.plugins.registry import BackendContext, Registry

from .keys import OPTIONAL, REQUIRED

if TYPE_CHECKING:
    from .store import GcsBlobStore

#: The sparkwing plugin contract this distribution was built for.
SPARKWING_CONTRACT = 1


def make_blob_store(config: Mapping[str, Any], context: BackendContext) -> GcsBlobStore:
    """Build the :class:`~sparkwing_gcs.store.GcsBlobStore` a profile's ``gcs`` block describes."""
    from .settings import parse_settings
    from .store import GcsBlobStore

    return GcsBlobStore(parse_settings(config, context.profile))


@hookimpl
def sparkwing_register_backends(registry: Registry) -> None:
    """Register ``gcs`` as a state, logs and cache type over one blob store."""
    from sparkwing.storage.blobs.register import add_blob_backend

    add_blob_backend(
        registry, "gcs", make_blob_store, required=REQUIRED, optional=OPTIONAL,
        description="Google Cloud Storage (bucket, prefix, endpoint_url)",
    )

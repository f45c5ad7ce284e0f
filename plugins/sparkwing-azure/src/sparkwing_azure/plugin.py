"""Entry point of sparkwing-azure: registers the ``azure`` type for ``state``, ``logs`` and ``cache``.

Every ``sparkwing`` command imports this module, so it imports only
:mod:`sparkwing` and :mod:`.settings` (no Azure libraries); the store
module and azure-storage-blob are imported when a profile selects
``type: azure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sparkwing.plugins import hookimpl
from sparkwing.plugins.registry import BackendContext, Registry

from .keys import OPTIONAL, REQUIRED

if TYPE_CHECKING:
    from .store import AzureBlobStore

#: The sparkwing plugin contract this distribution was built for.
SPARKWING_CONTRACT = 1


def make_blob_store(config: Mapping[str, Any], context: BackendContext) -> AzureBlobStore:
    """Build the :class:`~sparkwing_azure.store.AzureBlobStore` a profile's ``azure`` block describes."""
    from .settings import parse_settings
    from .store import AzureBlobStore

    return AzureBlobStore(parse_settings(config, context.profile))


@hookimpl
def sparkwing_register_backends(registry: Registry) -> None:
    """Register ``azure`` as a state, logs and cache type over one blob store."""
    from sparkwing.storage.blobs.register import add_blob_backend

    add_blob_backend(
        registry, "azure", make_blob_store, required=REQUIRED, optional=OPTIONAL,
        description="Azure Blob Storage (container, prefix, url_source or account)",
    )

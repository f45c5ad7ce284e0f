"""Built-in backends, registered through the same hook as any third-party plugin.

* ``logs: {type: filesystem, path: DIR}``: one JSON-lines file per node.
* ``cache: {type: filesystem, path: DIR}``: content-addressed blobs and named keys.
* ``state|logs|cache: {type: dir, path: DIR, prefix: P}``: a directory used as an
  object store (:mod:`sparkwing.storage.blobs`), which several homes can share.
* ``state|logs: {type: controller, url: URL, token_env: VAR}``: kept by a sparkwing
  controller (:mod:`sparkwing.storage.controller`).

Store modules are imported only when a store is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugins import hookimpl
from ..plugins.registry import BackendContext, Registry

if TYPE_CHECKING:
    from .fs_artifacts import FilesystemArtifactStore
    from .fs_logs import FilesystemLogStore


def _path(config: Mapping[str, Any], context: BackendContext, default: str) -> Path:
    raw = config.get("path")
    return Path(str(raw)).expanduser() if raw else context.home / default


def make_log_store(config: Mapping[str, Any], context: BackendContext) -> FilesystemLogStore:
    """Build a :class:`~sparkwing.storage.fs_logs.FilesystemLogStore`."""
    from .fs_logs import FilesystemLogStore

    return FilesystemLogStore(_path(config, context, "runs"))


def make_artifact_store(
    config: Mapping[str, Any], context: BackendContext,
) -> FilesystemArtifactStore:
    """Build a :class:`~sparkwing.storage.fs_artifacts.FilesystemArtifactStore`."""
    from .fs_artifacts import FilesystemArtifactStore

    return FilesystemArtifactStore(_path(config, context, "artifacts"))


@hookimpl
def sparkwing_register_backends(registry: Registry) -> None:
    """Register the filesystem log and artifact stores."""
    registry.add_log_store(
        "filesystem", make_log_store, optional=("path",),
        description="JSON-lines files, one per node, under path (default $SPARKWING_HOME/runs)",
    )
    registry.add_cache_store(
        "filesystem", make_artifact_store, optional=("path",),
        description="content-addressed blobs and named keys under path "
        "(default $SPARKWING_HOME/artifacts)",
    )
    from .blobs.register import register_dir
    from .controller.register import register_controller

    register_dir(registry)
    register_controller(registry)

"""Registering an object-store backend: one call gives ``state``, ``logs`` and ``cache``.

A plugin that implements :class:`~sparkwing.storage.blobs.contracts.BlobStore`
registers it from its ``sparkwing_register_backends`` hook::

    from sparkwing.storage.blobs.register import add_blob_backend

    @hookimpl
    def sparkwing_register_backends(registry):
        add_blob_backend(registry, "s3", make_s3_blobs, required=("bucket",),
                         optional=("endpoint_url", "region"),
                         description="Amazon S3 or an S3-compatible store")

``make_s3_blobs(config, context)`` gets the profile block (with the shared
``prefix`` key, which the backend puts in front of every key) and returns
the blob store. Each surface built from it:

* calls :meth:`BlobStore.check` once per process and bucket when the
  profile is opened: a :class:`~sparkwing.errors.ConfigError` becomes one
  line naming the profile and surface; a
  :class:`~sparkwing.storage.blobs.contracts.BlobUnavailable` is a warning
  (writes then wait in the outbox until the store answers);
* gets a link to the outbox of ``$SPARKWING_HOME`` and, when that holds
  writes for the same surface and settings, replays them first.

Nothing heavier than this module is imported until a store is built.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import ConfigError

if TYPE_CHECKING:
    from ...plugins.registry import BackendContext, Registry
    from .contracts import BlobFactory
    from .link import Link

#: Keys every blob-backed surface accepts besides the backend's own.
SHARED_KEYS = ("prefix",)

_checked: set[str] = set()
_warned: set[str] = set()
_checked_lock = threading.Lock()


def _fingerprint(value: Any) -> str:
    import hashlib
    import json

    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def target_id(surface: str, type_name: str, config: Mapping[str, Any]) -> str:
    """The outbox target id of one surface's settings (a hash: no secret is stored)."""
    return _fingerprint({"surface": surface, "type": type_name, "config": dict(config)})


def _where(context: BackendContext, surface: str) -> str:
    return f'profile "{context.profile}": {surface}'


def open_blobs(
    type_name: str, factory: BlobFactory, config: Mapping[str, Any], context: BackendContext,
    surface: str,
) -> tuple[Any, Link]:
    """Build the blob store of one surface, check it once, and link it to the outbox."""
    from .contracts import BlobUnavailable
    from .link import Link
    from .outbox import Target, outbox_for

    blobs = factory(config, context)
    bucket = {k: v for k, v in config.items() if k != "prefix"}
    check_id = _fingerprint({"type": type_name, "config": bucket})
    with _checked_lock:
        done = check_id in _checked
    if not done:
        try:
            blobs.check()
        except BlobUnavailable as exc:
            with _checked_lock:
                first = check_id not in _warned
                _warned.add(check_id)
            if first:
                sys.stderr.write(
                    f"warning: {_where(context, surface)}: the {type_name} store is unreachable "
                    f"({' '.join(str(exc).split())}); writes wait in the outbox until it "
                    "answers\n"
                )
        except ConfigError as exc:
            blobs.close()
            raise ConfigError(f"{_where(context, surface)}: {exc}") from None
        else:
            with _checked_lock:
                _checked.add(check_id)
    target = Target(
        id=target_id(surface, type_name, config),
        surface=surface, type=type_name, profile=context.profile, project=os.getcwd(),
    )
    link = Link(outbox_for(context.home), target, f"{surface} ({type_name})")
    return blobs, link


def _drain_waiting(link: Link) -> None:
    """Replay what the outbox holds for this surface (at the start of a command)."""
    box, target = link.outbox, link.target
    if box is None or target is None or not box.exists() or not box.pending(target.id):
        return
    link.drain()


def add_blob_backend(
    registry: Registry,
    type_name: str,
    factory: BlobFactory,
    *,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    description: str = "",
) -> None:
    """Register ``state``, ``logs`` and ``cache`` types named *type_name* over *factory*.

    *required* and *optional* are the backend's own profile keys; ``prefix``
    is added to the optional ones. See the module docstring for what each
    surface does when it is opened.
    """
    keys = tuple(dict.fromkeys((*optional, *SHARED_KEYS)))
    what = description or f"{type_name} object store"

    def make_state(config: Mapping[str, Any], context: BackendContext) -> Any:
        from .state import BlobStateStore

        blobs, link = open_blobs(type_name, factory, config, context, "state")
        label = link.target.id if link.target is not None else ""
        store = BlobStateStore(blobs, link=link, target=f"{type_name}:{label}")
        _drain_waiting(link)
        return store

    def make_logs(config: Mapping[str, Any], context: BackendContext) -> Any:
        from .logs import BlobLogStore

        blobs, link = open_blobs(type_name, factory, config, context, "logs")
        store = BlobLogStore(blobs, link=link)
        _drain_waiting(link)
        return store

    def make_cache(config: Mapping[str, Any], context: BackendContext) -> Any:
        from .artifacts import BlobArtifactStore

        blobs, link = open_blobs(type_name, factory, config, context, "cache")
        store = BlobArtifactStore(blobs, link=link)
        _drain_waiting(link)
        return store

    registry.add_state_store(type_name, make_state, required=required, optional=keys,
                             description=f"runs, nodes and coordination in {what}")
    registry.add_log_store(type_name, make_logs, required=required, optional=keys,
                           description=f"log parts in {what}")
    registry.add_cache_store(type_name, make_cache, required=required, optional=keys,
                             description=f"artifacts and named keys in {what}")


def make_dir_blobs(config: Mapping[str, Any], context: BackendContext) -> Any:
    """The ``dir`` backend: a :class:`~sparkwing.storage.blobs.dirstore.DirBlobStore`."""
    from pathlib import Path

    from .dirstore import DirBlobStore

    read_only = config.get("read_only", False)
    if not isinstance(read_only, bool):
        raise ConfigError(f"read_only must be true or false, got {read_only!r}")
    return DirBlobStore(Path(str(config["path"])).expanduser(), str(config.get("prefix") or ""),
                        read_only=read_only)


def register_dir(registry: Registry) -> None:
    """Register the built-in ``dir`` type for state, logs and cache."""
    add_blob_backend(
        registry, "dir", make_dir_blobs, required=("path",), optional=("read_only",),
        description="a directory used as an object store (path; shareable between homes)",
    )

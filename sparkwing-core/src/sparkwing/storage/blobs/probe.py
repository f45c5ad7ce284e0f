"""Does this bucket honour conditional writes? Probe once, remember the answer.

Some S3-compatible stores accept ``If-None-Match``/``If-Match`` and ignore
them, which would silently break every compare-and-swap. :func:`probe`
proves the conditions hold: it creates a fresh object create-only, tries to
create it again (must fail), tries to replace it with a wrong etag (must
fail) and with the right one (must succeed), then deletes it.

:func:`verdict` keeps the answer in the store itself
(``meta/conditional-writes.json``, re-probed after :data:`TTL_S`) and in
this process, so the probe runs once per bucket and prefix, not per command.
Without conditional writes the stores fall back to last-writer-wins and
refuse, with :class:`ConditionalWritesRequired`, the features that need them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Final

from ...errors import StoreError
from .cas import dumps, loads
from .contracts import BlobStore, BlobUnavailable, PreconditionFailed

#: Where the verdict is kept, below the store's prefix.
VERDICT_KEY: Final = "meta/conditional-writes.json"
#: Seconds a stored verdict is trusted before the probe runs again.
TTL_S: Final = float(os.environ.get("SPARKWING_CAS_PROBE_TTL_S", "86400"))

_cache: dict[str, Verdict] = {}
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a store honours conditional writes, and what the probe saw."""

    honoured: bool
    probed_at: float
    detail: str = ""


class ConditionalWritesRequired(StoreError):
    """A feature that needs compare-and-swap was used on a store that ignores conditions."""


def refuse(feature: str, kind: str, verdict: Verdict) -> ConditionalWritesRequired:
    """The one-line error for *feature* on a store without conditional writes."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(verdict.probed_at))
    return ConditionalWritesRequired(
        f"{feature} needs conditional writes, which this {kind} store ignores "
        f"({verdict.detail}, probed {when}); runs still record here (last writer wins), "
        "but use a store that honours If-None-Match/If-Match (AWS S3, GCS, Azure, MinIO) "
        "or a postgres state store for this feature"
    )


def probe(store: BlobStore) -> Verdict:
    """Run the four-step probe (see the module docstring) and return the verdict."""
    key = f"meta/probe/{uuid.uuid4().hex}"
    now = time.time()
    first = store.put(key, b"1", if_none_match="*")
    try:
        try:
            store.put(key, b"2", if_none_match="*")
            return Verdict(False, now, "a second create-only write of one key succeeded")
        except PreconditionFailed:
            pass
        try:
            store.put(key, b"3", if_match=f"{first.etag}-not-it")
            return Verdict(False, now, "a write with a wrong etag succeeded")
        except PreconditionFailed:
            pass
        try:
            store.put(key, b"4", if_match=first.etag)
        except PreconditionFailed:
            return Verdict(False, now, "a write with the current etag was refused")
        return Verdict(True, now, "create-only and compare-and-swap writes are honoured")
    finally:
        try:
            store.delete(key)
        except StoreError:
            pass


def verdict(store: BlobStore, target: str, *, now: float | None = None) -> Verdict | None:
    """The store's verdict: cached in this process, else stored, else probed (and stored).

    *target* names the bucket and prefix (one verdict per target and
    process). ``None`` when the store cannot be reached now
    (:class:`BlobUnavailable`): ask again later.
    """
    now = time.time() if now is None else now
    with _lock:
        known = _cache.get(target)
    if known is not None and now - known.probed_at < TTL_S:
        return known
    try:
        blob = store.get(VERDICT_KEY)
        found: Verdict | None = None
        if blob is not None:
            raw = loads(blob.data, VERDICT_KEY)
            if isinstance(raw, dict) and now - float(raw.get("probed_at", 0)) < TTL_S:
                found = Verdict(bool(raw.get("honoured")), float(raw["probed_at"]),
                                str(raw.get("detail", "")))
        if found is None:
            found = probe(store)
            store.put(VERDICT_KEY, dumps({
                "honoured": found.honoured, "probed_at": found.probed_at,
                "detail": found.detail, "by": socket.gethostname(),
            }), content_type="application/json")
    except BlobUnavailable:
        return None
    with _lock:
        _cache[target] = found
    return found


def forget(target: str | None = None) -> None:
    """Drop the in-process verdict of *target* (all when ``None``); tests use this."""
    with _lock:
        if target is None:
            _cache.clear()
        else:
            _cache.pop(target, None)

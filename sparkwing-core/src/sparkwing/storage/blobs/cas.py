"""JSON objects and compare-and-swap loops over a blob store.

Every cross-writer decision the blob stores make is :func:`cas_update`: read
the object and its etag, compute the new value, write it back only if the
etag is unchanged (``if_match``; ``if_none_match="*"`` when it did not
exist), and on a lost race read again and recompute, with jittered backoff
and a bounded number of tries.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any, Final

from ...errors import StoreError
from ...jsontext import dumps as _dumps
from .contracts import BlobInfo, BlobStore, PreconditionFailed

#: Tries of one compare-and-swap before it gives up.
MAX_TRIES: Final = 60
#: First and largest sleep (seconds) between tries; each try doubles, with full jitter.
BACKOFF_FIRST: Final = 0.004
BACKOFF_MAX: Final = 0.4



class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Returned by a mutator: leave the object as it is.
KEEP: Final = _Sentinel("KEEP")
#: Returned by a mutator: delete the object.
DELETE: Final = _Sentinel("DELETE")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON for *value*."""
    return _dumps(value).encode("utf-8")


def loads(data: bytes, key: str = "") -> Any:
    """Decode JSON, naming *key* in the :class:`StoreError` raised for damaged data."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StoreError(f"object {key!r} is not valid JSON ({exc})") from None


def backoff(attempt: int) -> None:
    """Sleep before try number *attempt* + 1 (full jitter, doubling, capped)."""
    time.sleep(random.random() * min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** min(attempt, 16))))


def read_json(store: BlobStore, key: str) -> tuple[Any, BlobInfo] | None:
    """Return ``(value, info)`` of a JSON object, or ``None`` when it does not exist."""
    blob = store.get(key)
    if blob is None:
        return None
    return loads(blob.data, key), blob.info


def cas_update(
    store: BlobStore,
    key: str,
    mutate: Callable[[Any], Any],
    *,
    tries: int = MAX_TRIES,
    current: tuple[Any, BlobInfo] | None = None,
) -> tuple[Any, BlobInfo | None]:
    """Apply ``mutate(value or None)`` to a JSON object atomically; return ``(value, info)``.

    *mutate* gets the current value (``None`` when the object is missing;
    it must not modify it in place) and returns the new value, :data:`KEEP`
    or :data:`DELETE`; it may raise to abort (nothing is written). It is
    called again after every lost race. *current* seeds the first try with
    a value already read (a cached copy: a stale one costs one lost race).
    The result is the value as stored (``None`` after a delete) and its info
    (``None`` when unchanged by a missing object, or deleted). Raises
    :class:`StoreError` after *tries* lost races.
    """
    seeded = current
    for attempt in range(tries):
        if seeded is not None:
            found: tuple[Any, BlobInfo] | None = seeded
            seeded = None
        else:
            found = read_json(store, key)
        value, info = found if found is not None else (None, None)
        new = mutate(value)
        try:
            if new is KEEP:
                return value, info
            if new is DELETE:
                if info is not None:
                    store.delete(key, if_match=info.etag)
                return None, None
            data = dumps(new)
            if info is None:
                written = store.put(key, data, if_none_match="*",
                                    content_type="application/json")
            else:
                written = store.put(key, data, if_match=info.etag,
                                    content_type="application/json")
            return new, written
        except PreconditionFailed:
            backoff(attempt)
    raise StoreError(f"{store.kind} store: gave up updating {key!r} after {tries} conflicting "
                     "writes from other processes")

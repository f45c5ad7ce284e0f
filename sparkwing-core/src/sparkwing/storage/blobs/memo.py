"""The memo cache index on a blob store: one object per cache key.

``memo/<key>.json`` holds one :class:`~sparkwing.storage.records.CacheEntry`
(the key escaped into one segment, see :mod:`.keys`, so a listing by
prefix finds the keys starting with a prefix). A hit counts itself by
compare-and-swap; a put replaces the entry whole.
"""

from __future__ import annotations

import time
from typing import Any, Final

from ..records import CacheEntry
from .cas import KEEP, cas_update, dumps, loads
from .contracts import BlobInfo, BlobStore, PreconditionFailed
from .keys import segment, segment_prefix
from .pool import PoolGetter, parallel_map

_PREFIX: Final = "memo/"


def memo_key(key: str) -> str:
    """The object holding cache key *key*."""
    return f"{_PREFIX}{segment(key)}.json"


def _live(entry: CacheEntry, now: float) -> bool:
    return entry.expires_at <= 0 or entry.expires_at > now


class MemoIndex:
    """Cache entries over one blob store."""

    def __init__(self, blobs: BlobStore, pool: PoolGetter) -> None:
        self.blobs = blobs
        self._pool = pool

    def get(self, key: str, now: float) -> CacheEntry | None:
        """The unexpired entry for *key* with this hit counted, or ``None``."""
        hit: list[CacheEntry] = []

        def mutate(doc: Any) -> Any:
            hit.clear()
            if doc is None or doc.get("key") != key:
                return KEEP
            entry = CacheEntry(**doc)
            if not _live(entry, now):
                return KEEP
            entry.hits += 1
            entry.last_hit_at = now
            hit.append(entry)
            return entry.to_dict()

        cas_update(self.blobs, memo_key(key), mutate)
        return hit[0] if hit else None

    def put(self, entry: CacheEntry) -> None:
        """Insert or replace the entry for ``entry.key``."""
        self.blobs.put(memo_key(entry.key), dumps(entry.to_dict()),
                       content_type="application/json")

    def _entries(self, prefix: str) -> list[tuple[CacheEntry, BlobInfo]]:
        infos: list[BlobInfo] = []
        token = ""
        while True:
            page = self.blobs.list_page(_PREFIX + segment_prefix(prefix), page_token=token)
            infos.extend(page.items)
            token = page.next_token
            if not token:
                break

        def read(info: BlobInfo) -> tuple[CacheEntry, BlobInfo] | None:
            blob = self.blobs.get(info.key)
            if blob is None:
                return None
            return CacheEntry(**loads(blob.data, info.key)), blob.info

        found = parallel_map(self._pool, read, infos)
        return [f for f in found if f is not None and f[0].key.startswith(prefix)]

    def list(self, prefix: str = "", include_expired: bool = False) -> list[CacheEntry]:
        """Entries whose key starts with *prefix*, newest first (expiry by the wall clock)."""
        now = time.time()
        out = [e for e, _ in self._entries(prefix) if include_expired or _live(e, now)]
        out.sort(key=lambda e: e.key)
        out.sort(key=lambda e: e.created_at, reverse=True)
        return out

    def delete(self, key: str) -> bool:
        """Delete one entry; ``False`` if it did not exist."""
        return self.blobs.delete(memo_key(key))

    def prune(self, now: float) -> int:
        """Delete expired entries (each only if unchanged since read); return how many."""
        gone = 0
        for entry, info in self._entries(""):
            if not _live(entry, now):
                try:
                    if self.blobs.delete(info.key, if_match=info.etag):
                        gone += 1
                except PreconditionFailed:
                    pass  # replaced meanwhile: the new entry stays
        return gone

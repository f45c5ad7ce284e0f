"""A blob store in this process's memory.

The state store uses one to decide concurrency keys locally while the real
store is unreachable (the same code then runs against a private copy); it
also serves tests that need a store without any files. It keeps every
semantic of the contract (etags, conditions, ordered paged listing).
"""

from __future__ import annotations

import os
import threading
import time

from ...errors import NotFoundError, StoreError
from .contracts import Blob, BlobInfo, BlobPage, PreconditionFailed


class MemoryBlobStore:
    """:class:`~sparkwing.storage.blobs.contracts.BlobStore` in a dict; thread-safe."""

    kind = "memory"
    #: Reads of many objects go one after the other.
    parallel_reads = 1

    def __init__(self) -> None:
        self._objects: dict[str, Blob] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Blob | None:
        """Return the object or ``None``."""
        with self._lock:
            return self._objects.get(key)

    def get_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Return bytes ``[start, end)``; :class:`NotFoundError` when missing."""
        blob = self.get(key)
        if blob is None:
            raise NotFoundError(f"blob {key!r} not found")
        return blob.data[start:end]

    def head(self, key: str) -> BlobInfo | None:
        """Return the object's info or ``None``."""
        blob = self.get(key)
        return None if blob is None else blob.info

    def put(self, key: str, data: bytes, *, if_match: str | None = None,
            if_none_match: str | None = None,
            content_type: str = "application/octet-stream") -> BlobInfo:
        """Write the object; :class:`PreconditionFailed` when a condition does not hold."""
        if not key:
            raise StoreError("blob key must not be empty")
        with self._lock:
            current = self._objects.get(key)
            if if_none_match is not None and current is not None:
                raise PreconditionFailed(f"blob {key!r} already exists")
            if if_match is not None and (current is None or current.info.etag != if_match):
                raise PreconditionFailed(f"blob {key!r} is not at version {if_match}")
            info = BlobInfo(key, os.urandom(8).hex(), len(data), time.time())
            self._objects[key] = Blob(bytes(data), info)
            return info

    def delete(self, key: str, *, if_match: str | None = None) -> bool:
        """Delete the object; ``False`` when it did not exist."""
        with self._lock:
            current = self._objects.get(key)
            if current is None:
                return False
            if if_match is not None and current.info.etag != if_match:
                raise PreconditionFailed(f"blob {key!r} is not at version {if_match}")
            del self._objects[key]
            return True

    def list_page(self, prefix: str, *, page_token: str = "", page_size: int = 1000) -> BlobPage:
        """List objects under *prefix* in key order, one page at a time."""
        with self._lock:
            keys = sorted(k for k in self._objects if k.startswith(prefix) and k > page_token)
            page = keys[:page_size]
            items = [self._objects[k].info for k in page]
        return BlobPage(items, page[-1] if len(keys) > page_size and page else "")

    def check(self) -> None:
        """Always usable."""

    def close(self) -> None:
        """Nothing to release."""

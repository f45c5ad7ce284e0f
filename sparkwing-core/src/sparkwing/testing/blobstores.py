"""Blob stores for tests: misbehaving wrappers, and picklable factories over ``dir``.

* :class:`IgnoringConditions` wraps a blob store and drops ``if_match`` /
  ``if_none_match``, as some S3-compatible stores silently do; the
  conditional-write probe must notice.
* :class:`Switchable` wraps a blob store and raises
  :class:`~sparkwing.storage.blobs.contracts.BlobUnavailable` for every call
  while a *down file* exists, so a test (or another process) can take the
  store away in the middle of a run and bring it back.
* :func:`dir_state`, :func:`dir_logs`, :func:`dir_artifacts`: the blob-backed
  stores over a ``dir`` store, as module-level functions so that
  ``functools.partial(dir_state, path)`` can be sent to spawned processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..storage.blobs.contracts import Blob, BlobInfo, BlobPage, BlobStore, BlobUnavailable
from ..storage.blobs.dirstore import DirBlobStore


class IgnoringConditions:
    """A blob store that accepts conditions and ignores them (last writer wins)."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.parallel_reads = getattr(inner, "parallel_reads", 16)

    def __repr__(self) -> str:
        return f"IgnoringConditions({self.inner!r})"

    def get(self, key: str) -> Blob | None:
        """Read through."""
        return self.inner.get(key)

    def get_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Read through."""
        return self.inner.get_range(key, start, end)

    def head(self, key: str) -> BlobInfo | None:
        """Read through."""
        return self.inner.head(key)

    def put(self, key: str, data: bytes, *, if_match: str | None = None,
            if_none_match: str | None = None,
            content_type: str = "application/octet-stream") -> BlobInfo:
        """Write unconditionally, whatever the conditions say."""
        return self.inner.put(key, data, content_type=content_type)

    def delete(self, key: str, *, if_match: str | None = None) -> bool:
        """Delete unconditionally."""
        return self.inner.delete(key)

    def list_page(self, prefix: str, *, page_token: str = "", page_size: int = 1000) -> BlobPage:
        """List through."""
        return self.inner.list_page(prefix, page_token=page_token, page_size=page_size)

    def check(self) -> None:
        """Check through."""
        self.inner.check()

    def close(self) -> None:
        """Close the wrapped store."""
        self.inner.close()


class Switchable:
    """A blob store that is unreachable while *down_file* exists."""

    def __init__(self, inner: BlobStore, down_file: Path | str) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.parallel_reads = getattr(inner, "parallel_reads", 16)
        self.down_file = Path(down_file)
        self.calls_refused = 0

    def __repr__(self) -> str:
        return f"Switchable({self.inner!r})"

    def _gate(self, what: str) -> None:
        if self.down_file.exists():
            self.calls_refused += 1
            raise BlobUnavailable(f"{self.kind} store is down ({what}): connection refused")

    def get(self, key: str) -> Blob | None:
        """Read, unless down."""
        self._gate("get")
        return self.inner.get(key)

    def get_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Read, unless down."""
        self._gate("get")
        return self.inner.get_range(key, start, end)

    def head(self, key: str) -> BlobInfo | None:
        """Read, unless down."""
        self._gate("head")
        return self.inner.head(key)

    def put(self, key: str, data: bytes, *, if_match: str | None = None,
            if_none_match: str | None = None,
            content_type: str = "application/octet-stream") -> BlobInfo:
        """Write, unless down."""
        self._gate("put")
        return self.inner.put(key, data, if_match=if_match, if_none_match=if_none_match,
                              content_type=content_type)

    def delete(self, key: str, *, if_match: str | None = None) -> bool:
        """Delete, unless down."""
        self._gate("delete")
        return self.inner.delete(key, if_match=if_match)

    def list_page(self, prefix: str, *, page_token: str = "", page_size: int = 1000) -> BlobPage:
        """List, unless down."""
        self._gate("list")
        return self.inner.list_page(prefix, page_token=page_token, page_size=page_size)

    def check(self) -> None:
        """Check, unless down."""
        self._gate("check")
        self.inner.check()

    def close(self) -> None:
        """Close the wrapped store."""
        self.inner.close()


def dir_blobs(path: Path | str, prefix: str = "", *, ignore_conditions: bool = False) -> Any:
    """A ``dir`` blob store, optionally wrapped in :class:`IgnoringConditions`."""
    store: Any = DirBlobStore(Path(path), prefix)
    return IgnoringConditions(store) if ignore_conditions else store


def dir_state(path: Path | str, prefix: str = "", *, ignore_conditions: bool = False) -> Any:
    """A :class:`~sparkwing.storage.blobs.state.BlobStateStore` over a ``dir`` store."""
    from ..storage.blobs.state import BlobStateStore

    return BlobStateStore(dir_blobs(path, prefix, ignore_conditions=ignore_conditions))


def dir_logs(path: Path | str, prefix: str = "", **kw: Any) -> Any:
    """A :class:`~sparkwing.storage.blobs.logs.BlobLogStore` over a ``dir`` store."""
    from ..storage.blobs.logs import BlobLogStore

    return BlobLogStore(DirBlobStore(Path(path), prefix), **kw)


def dir_artifacts(path: Path | str, prefix: str = "") -> Any:
    """A :class:`~sparkwing.storage.blobs.artifacts.BlobArtifactStore` over a ``dir`` store."""
    from ..storage.blobs.artifacts import BlobArtifactStore

    return BlobArtifactStore(DirBlobStore(Path(path), prefix))

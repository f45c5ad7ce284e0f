"""The artifact store over a blob store: content-addressed blobs plus named keys.

Keys below the profile's ``prefix``::

    blobs/<first 2 hex>/<sha256>   content, named by its digest (created once)
    keys/<key>                     a named key's data, the key as given

A blob is written create-only: a second upload of the same content is a
no-op (for content over 1 MiB a ``head`` first saves the upload), and
:meth:`BlobArtifactStore.get_blob` re-hashes what it reads, so a damaged
object is reported, not used. Named keys are validated like the filesystem
store's (``/``-separated, no ``.``/``..`` segments) and replaced whole.

When the store is unreachable and an outbox is configured, puts and deletes
are queued (with their bytes) and replayed in order; until then this
process reads its own queued writes back.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from ...errors import NotFoundError, StoreError
from ..fs_artifacts import validate_key
from .contracts import BlobStore, BlobUnavailable, PreconditionFailed
from .link import Link
from .outbox import Entry

#: Content larger than this is looked for before it is uploaded.
HEAD_FIRST_BYTES: Final = 1024 * 1024

_DIGEST: Final = re.compile(r"^[0-9a-f]{64}$")


def _digest(digest: str) -> str:
    value = digest.lower() if isinstance(digest, str) else ""
    if not _DIGEST.match(value):
        raise StoreError(f"{digest!r} is not a sha256 hex digest")
    return value


def blob_key(digest: str) -> str:
    """The object holding the blob with *digest*."""
    value = _digest(digest)
    return f"blobs/{value[:2]}/{value}"


def named_key(key: str) -> str:
    """The object holding named key *key* (validated)."""
    return f"keys/{validate_key(key)}"


class BlobArtifactStore:
    """:class:`~sparkwing.storage.contracts.ArtifactStore` over any blob store."""

    def __init__(self, blobs: BlobStore, *, link: Link | None = None) -> None:
        self.blobs = blobs
        self.link = link or Link.direct("cache")
        self.link.replayer = self._replay

    def __repr__(self) -> str:
        return f"BlobArtifactStore({self.blobs!r})"

    # -- the write path ---------------------------------------------------------------
    def _write(self, op: str, object_key: str, data: bytes = b"") -> None:
        if self.link.usable():
            try:
                self._apply(op, object_key, data)
                return
            except BlobUnavailable as exc:
                if not self.link.buffering:
                    raise
                self.link.failed(exc)
        self.link.queue("artifact", op, {"key": object_key}, body=data, key=object_key)

    def _apply(self, op: str, object_key: str, data: bytes) -> bool:
        if op == "delete":
            return self.blobs.delete(object_key)
        if op == "put_blob":
            if len(data) > HEAD_FIRST_BYTES and self.blobs.head(object_key) is not None:
                return True
            try:
                self.blobs.put(object_key, data, if_none_match="*")
            except PreconditionFailed:
                pass  # the same content is there already
            return True
        self.blobs.put(object_key, data)
        return True

    def _replay(self, entry: Entry) -> None:
        self._apply(entry.op, entry.args["key"], entry.body)

    def _queued(self, object_key: str) -> Entry | None:
        """This store's newest queued write of *object_key*, while writes wait."""
        if not self.link.queued or self.link.outbox is None or self.link.target is None:
            return None
        return self.link.outbox.latest_for_key(self.link.target.id, object_key)

    # -- blobs ---------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        """Store *data* and return its sha256 hex digest (idempotent)."""
        digest = hashlib.sha256(data).hexdigest()
        self._write("put_blob", blob_key(digest), bytes(data))
        return digest

    def get_blob(self, digest: str) -> bytes:
        """Return a blob; :class:`NotFoundError` if absent, :class:`StoreError` if damaged."""
        key = blob_key(digest)
        queued = self._queued(key)
        if queued is not None:
            return queued.body
        blob = self.blobs.get(key)
        if blob is None:
            raise NotFoundError(f"blob {digest} not found in the {self.blobs.kind} store")
        if hashlib.sha256(blob.data).hexdigest() != _digest(digest):
            raise StoreError(f"blob {digest} in the {self.blobs.kind} store is damaged "
                             "(its content does not match its digest)")
        return blob.data

    def has_blob(self, digest: str) -> bool:
        """Tell whether a blob is stored."""
        key = blob_key(digest)
        if self._queued(key) is not None:
            return True
        return self.blobs.head(key) is not None

    # -- named keys ------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        """Store *data* under *key*, replacing it."""
        self._write("put", named_key(key), bytes(data))

    def get(self, key: str) -> bytes:
        """Return a key's data; :class:`NotFoundError` if absent."""
        object_key = named_key(key)
        queued = self._queued(object_key)
        if queued is not None:
            if queued.op == "delete":
                raise NotFoundError(f"artifact key {key!r} not found")
            return queued.body
        blob = self.blobs.get(object_key)
        if blob is None:
            raise NotFoundError(f"artifact key {key!r} not found")
        return blob.data

    def exists(self, key: str) -> bool:
        """Tell whether a key is stored."""
        object_key = named_key(key)
        queued = self._queued(object_key)
        if queued is not None:
            return queued.op != "delete"
        return self.blobs.head(object_key) is not None

    def delete(self, key: str) -> bool:
        """Delete a key; ``False`` if it did not exist."""
        object_key = named_key(key)
        if self.link.usable():
            try:
                return self.blobs.delete(object_key)
            except BlobUnavailable as exc:
                if not self.link.buffering:
                    raise
                self.link.failed(exc)
        existed = self._queued(object_key)
        self.link.queue("artifact", "delete", {"key": object_key}, key=object_key)
        return existed is not None and existed.op != "delete"

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys under *prefix* (a plain string prefix), sorted."""
        found: set[str] = set()
        token = ""
        while True:
            page = self.blobs.list_page("keys/" + prefix, page_token=token)
            found.update(i.key[len("keys/"):] for i in page.items)
            token = page.next_token
            if not token:
                break
        if self.link.queued and self.link.outbox is not None and self.link.target is not None:
            for entry in self.link.outbox.keys_with_prefix(self.link.target.id, "keys/" + prefix):
                name = entry.key[len("keys/"):]
                if entry.op == "delete":
                    found.discard(name)
                else:
                    found.add(name)
        return sorted(found)

    def close(self) -> None:
        """Replay queued writes when possible, then close the blob store."""
        if self.link.queued:
            self.link.drain()
        self.blobs.close()

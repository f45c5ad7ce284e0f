"""The blob contract an object-store backend implements (S3, GCS, Azure Blob, ...).

Keys are ``/``-separated strings below the backend's own prefix (the backend
adds and strips its ``prefix`` setting). Every version of an object has an
opaque ``etag`` (S3's ETag, GCS's generation, Azure's ETag); conditional
writes compare against it:

* ``put(key, data, if_none_match="*")`` creates only when *key* is absent;
* ``put(key, data, if_match=etag)`` replaces only that version;
* ``delete(key, if_match=etag)`` deletes only that version.

A write whose condition does not hold raises :class:`PreconditionFailed`
(S3 and GCS answer 412; Azure 409 for ``*`` and 412 for an etag: the
backend maps its dialect). Some S3-compatible stores ignore the headers;
the stores built on this contract probe once and fall back (see
:mod:`sparkwing.storage.blobs.probe`). All methods are synchronous and
thread-safe. Transient failures are retried by the backend's SDK; what is
still failing surfaces as :class:`BlobUnavailable` (the outbox catches
that), other errors as :class:`~sparkwing.errors.StoreError` with one line.

Semantics every backend shares (checked by the conformance suite
:mod:`sparkwing.testing.suites.blobs`, which each plugin runs):

* ``put(if_match=etag)`` on a missing object raises :class:`PreconditionFailed`
  (S3 answers 404 ``NoSuchKey`` there: map it);
* ``delete`` of a missing object returns ``False``, with or without
  ``if_match``; ``delete(if_match=stale)`` of an existing object raises
  :class:`PreconditionFailed` and keeps it;
* a write of other bytes yields a new etag; writing equal bytes again may
  keep it (S3's ETag is the MD5 of the bytes: nothing the backend can
  change), which is safe for compare-and-swap, since a swap matching it
  replaces exactly the content its writer read;
* ``list_page`` matches a plain string prefix (``a/b`` lists ``a/b/c`` and
  ``a/bc``) in key order (code point order = UTF-8 byte order); pages never
  repeat or skip a key; ``next_token`` is ``""`` exactly on the last page;
* ``get_range`` from at or past the end returns ``b""``; an *end* past the
  end is cut there;
* ``check`` raises :class:`~sparkwing.errors.ConfigError` for what the user
  must fix (missing bucket, refused credentials, bad endpoint settings) and
  :class:`BlobUnavailable` when the service cannot be reached at all (the
  stores then buffer writes in the outbox instead of failing the profile).

Optional attribute: ``parallel_reads`` (an int, default 16) is how many
objects the stores read at once on threads; a local backend sets 1 (the
``dir`` store does), a remote one may raise it.

Built on this contract (:mod:`sparkwing.storage.blobs`): the ``dir``
backend (:mod:`~sparkwing.storage.blobs.dirstore`), the state, log and
artifact stores, the conditional-write probe and the outbox. A plugin
registers all three surfaces at once with
:func:`sparkwing.storage.blobs.register.add_blob_backend`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ...errors import StoreError

if TYPE_CHECKING:
    from ...plugins.registry import BackendContext


class PreconditionFailed(StoreError):
    """A conditional write or delete found another version (or an existing / missing object)."""


class BlobUnavailable(StoreError):
    """The backend cannot be reached now (network, 5xx, throttling beyond retries)."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What a backend knows of one object without reading it."""

    key: str
    etag: str
    size: int
    #: Last modification, seconds since the epoch (0.0 when the backend does not say).
    updated: float = 0.0


@dataclass(frozen=True, slots=True)
class Blob:
    """An object's bytes and the version they belong to."""

    data: bytes
    info: BlobInfo


@dataclass(frozen=True, slots=True)
class BlobPage:
    """One page of a listing, in key order; ``next_token`` is "" on the last page."""

    items: list[BlobInfo] = field(default_factory=list)
    next_token: str = ""


@runtime_checkable
class BlobStore(Protocol):
    """An object store as sparkwing uses it."""

    #: The backend's type name (``s3``, ``gcs``, ``azure``, ``dir``) for messages.
    kind: str

    def get(self, key: str) -> Blob | None:
        """Return the object and its etag, or ``None`` when it does not exist."""
        ...

    def get_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Return bytes ``[start, end)`` of the object (to its end when *end* is ``None``).

        Raises :class:`~sparkwing.errors.NotFoundError` when the object does not exist;
        a *start* at or past the end returns ``b""``.
        """
        ...

    def head(self, key: str) -> BlobInfo | None:
        """Return the object's info, or ``None`` when it does not exist."""
        ...

    def put(self, key: str, data: bytes, *, if_match: str | None = None,
            if_none_match: str | None = None,
            content_type: str = "application/octet-stream") -> BlobInfo:
        """Write the object (whole) and return its new info; raise :class:`PreconditionFailed`.

        *if_none_match* may only be ``"*"``; at most one condition is given.
        """
        ...

    def delete(self, key: str, *, if_match: str | None = None) -> bool:
        """Delete the object; ``False`` when it did not exist. Conditional with *if_match*."""
        ...

    def list_page(self, prefix: str, *, page_token: str = "", page_size: int = 1000) -> BlobPage:
        """List objects whose key starts with *prefix*, in key order, one page at a time."""
        ...

    def check(self) -> None:
        """Make one round trip (the bucket exists, credentials work); raise a one-line
        :class:`~sparkwing.errors.ConfigError` naming what to fix otherwise."""
        ...

    def close(self) -> None:
        """Release clients and connections."""
        ...


#: ``factory(config, context) -> BlobStore``: what an object-store plugin provides.
BlobFactory = Callable[[Mapping[str, Any], "BackendContext"], BlobStore]

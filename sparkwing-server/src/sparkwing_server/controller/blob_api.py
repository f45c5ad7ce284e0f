"""Handlers of the cache routes: the controller's artifact store over HTTP.

:class:`sparkwing.storage.controller.artifacts.ControllerArtifactStore`
calls these; they serve the :class:`~sparkwing.storage.contracts.ArtifactStore`
of the controller's own profile (its ``cache:`` block: files under the
controller's home by default, an object store when the profile says so),
so the controller keeps nothing a backend plugin could not replace.

Content-addressed blobs (``{digest}``: a sha256 in 64 lowercase hex digits):

- ``PUT /api/v1/cache/blobs/{digest}`` (``application/octet-stream``) -> 201
  ``{digest, size}``; 400 ``digest_mismatch`` when the body's sha256 is not
  ``{digest}`` (nothing is stored).
- ``GET /api/v1/cache/blobs/{digest}`` -> the bytes; ``HEAD`` -> 200 or 404.

Keyed entries (``{key}``: ``/``-separated segments, as node ids):

- ``PUT /api/v1/cache/keys/{key}`` (``application/octet-stream``) -> 200
  ``{key, size}``, replacing what was there.
- ``GET /api/v1/cache/keys/{key}`` -> the bytes; ``HEAD`` -> 200 or 404;
  ``DELETE`` -> 200 ``{deleted: true|false}``.
- ``GET /api/v1/cache/keys?prefix=P`` -> ``{keys: [...]}``, sorted (a plain
  string prefix, as object stores list).

A body is read in chunks and spooled (to a temporary file past
:data:`SPOOL_BYTES`), hashing as it arrives, so the process holds it in
memory once, when the store is handed its bytes. One larger than
:data:`DEFAULT_MAX_BYTES` (or ``$SPARKWING_CACHE_MAX_BYTES``) answers 413.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, TypeVar

from aiohttp import web

from .context import context_of
from .errors import fail, json_response

if TYPE_CHECKING:
    from sparkwing.storage.contracts import ArtifactStore

T = TypeVar("T")

#: Largest body a PUT accepts unless ``$SPARKWING_CACHE_MAX_BYTES`` says otherwise (bytes).
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: Environment variable setting the largest accepted body, in bytes.
MAX_BYTES_ENV = "SPARKWING_CACHE_MAX_BYTES"
#: Bodies up to this size stay in memory while they arrive; larger ones go to a temporary file.
SPOOL_BYTES = 1024 * 1024
#: Bytes read from the request per chunk.
CHUNK = 256 * 1024
_DIGEST = r"[0-9a-f]{64}"
_VALID_KEY = ("'/'-separated non-empty segments, none '.' or '..', no leading '/', "
              "no backslash or control character, no segment starting with '.sw-tmp-'")


def max_bytes() -> int:
    """The largest body a PUT accepts; :class:`~sparkwing.errors.ConfigError` for a bad setting."""
    from sparkwing.errors import ConfigError

    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    if not text.isdigit() or int(text) <= 0:
        raise ConfigError(f"${MAX_BYTES_ENV} is {text!r}: give a positive number of bytes "
                          f"(default {DEFAULT_MAX_BYTES})")
    return int(text)


def _store(request: web.Request) -> ArtifactStore:
    return context_of(request).stores.cache


def _digest(request: web.Request) -> str:
    digest = request.match_info["digest"]
    if not re.fullmatch(_DIGEST, digest):
        fail(400, f"blob digest {digest!r} is not valid: give a sha256 in 64 lowercase hex "
                  "digits", field="digest")
    return digest


def _key(request: web.Request) -> str:
    from sparkwing.errors import PlanError
    from sparkwing.storage.fs_artifacts import validate_key

    key = request.match_info["cache_key"]
    try:
        return validate_key(key)
    except PlanError:
        fail(400, f"cache key {key!r} is not valid: use {_VALID_KEY}", "invalid_key",
             field="key")


async def _receive(request: web.Request, *, hash_it: bool) -> tuple[IO[bytes], int, str]:
    """Spool the request body: (the spool at its start, its size, its sha256 or "")."""
    limit = max_bytes()
    too_large = f"body is larger than {limit} bytes (the controller's {MAX_BYTES_ENV})"
    if (request.content_length or 0) > limit:
        fail(413, too_large)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    sha = hashlib.sha256() if hash_it else None
    size = 0
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > limit:
                fail(413, too_large)
            if sha is not None:
                sha.update(chunk)
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, size, sha.hexdigest() if sha is not None else ""


def _read_all(spool: IO[bytes], size: int) -> bytes:
    data = spool.read(size)
    spool.close()
    return data


async def _stored(request: web.Request, call: Callable[[], T], what: str) -> T:
    """Run a store call off the loop; a refusal of the store becomes 409 naming *what*."""
    from sparkwing.errors import StoreError

    try:
        return await context_of(request).blob_call(call)
    except StoreError as exc:
        fail(409, f"the controller's cache store refused {what}: {exc}", "conflict")


async def _contents(request: web.Request, read: Callable[[str], bytes], name: str,
                    what: str) -> web.Response:
    """The bytes ``read(name)`` returns; 404 naming *what* when it is not stored."""
    from sparkwing.errors import NotFoundError

    try:
        data = await context_of(request).blob_call(read, name)
    except NotFoundError:
        fail(404, f"{what} not found", "not_found")
    return web.Response(body=data, content_type="application/octet-stream")


async def _presence(request: web.Request, check: Callable[[str], bool], name: str,
                    what: str) -> web.Response:
    """200 when ``check(name)`` is true, else 404 naming *what* (a HEAD: no body is sent)."""
    if not await context_of(request).blob_call(check, name):
        fail(404, f"{what} not found", "not_found")
    return web.Response(status=200)


# -- blobs ---------------------------------------------------------------------------------------
async def put_blob(request: web.Request) -> web.Response:
    """Store the body as the blob ``{digest}`` after checking its sha256 (400 on a mismatch)."""
    digest = _digest(request)
    spool, size, got = await _receive(request, hash_it=True)
    if got != digest:
        spool.close()
        fail(400, f"the body's sha256 is {got}, not the digest {digest} of the path: "
                  "nothing was stored", "digest_mismatch", field="digest")
    store = _store(request)
    await _stored(request, lambda: store.put_blob(_read_all(spool, size)), f"blob {digest}")
    return json_response({"digest": digest, "size": size}, 201)


async def get_blob(request: web.Request) -> web.Response:
    """The blob ``{digest}``'s bytes (404 when absent)."""
    digest = _digest(request)
    return await _contents(request, _store(request).get_blob, digest, f"blob {digest}")


async def head_blob(request: web.Request) -> web.Response:
    """200 when the blob ``{digest}`` is stored, else 404."""
    digest = _digest(request)
    return await _presence(request, _store(request).has_blob, digest, f"blob {digest}")


# -- keys ----------------------------------------------------------------------------------------
async def list_keys(request: web.Request) -> web.Response:
    """The keys starting with ``?prefix=`` (default: every key), sorted."""
    prefix = request.query.get("prefix", "")
    unknown = sorted(set(request.query) - {"prefix"})
    if unknown:
        fail(400, f"unknown query parameter {unknown[0]!r}; allowed: prefix", "unknown_field",
             field=unknown[0])
    store = _store(request)
    keys = await context_of(request).blob_call(store.list, prefix)
    return json_response({"keys": keys})


async def put_key(request: web.Request) -> web.Response:
    """Store the body under ``{key}``, replacing what was there."""
    key = _key(request)
    spool, size, _ = await _receive(request, hash_it=False)
    store = _store(request)
    await _stored(request, lambda: store.put(key, _read_all(spool, size)), f"key {key!r}")
    return json_response({"key": key, "size": size})


async def get_key(request: web.Request) -> web.Response:
    """The bytes stored under ``{key}`` (404 when absent)."""
    key = _key(request)
    return await _contents(request, _store(request).get, key, f"cache key {key!r}")


async def head_key(request: web.Request) -> web.Response:
    """200 when ``{key}`` is stored, else 404."""
    key = _key(request)
    return await _presence(request, _store(request).exists, key, f"cache key {key!r}")


async def delete_key(request: web.Request) -> web.Response:
    """Delete ``{key}``: ``{deleted: true}``, or ``false`` when it was not stored."""
    key = _key(request)
    store = _store(request)
    deleted = await _stored(request, lambda: store.delete(key), f"deleting key {key!r}")
    return json_response({"deleted": bool(deleted)})

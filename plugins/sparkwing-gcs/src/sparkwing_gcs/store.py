"""The :class:`~sparkwing.storage.blobs.contracts.BlobStore` of a GCS bucket, through google-cloud-storage.

GCS versions objects by *generation* (a number), and its preconditions
compare generations, not ETags, so the generation is this store's etag:
``put(if_none_match="*")`` is ``ifGenerationMatch=0``, ``put(if_match=g)``
is ``ifGenerationMatch=g`` and a lost race is 412.

Conditional deletes are checked twice: the object's generation is read
first (a mismatch raises :class:`PreconditionFailed` at once), then the
delete carries ``ifGenerationMatch``, which GCS enforces atomically.
fake-gcs-server ignores the delete precondition, so on it only the first
check holds (a write landing between the two is not detected there).

A 404 on a read or delete means the object is missing (a missing bucket is
found by :meth:`GcsBlobStore.check` at profile load; a write to it fails
with a one-line error).

Transient failures (connection errors, timeouts, 429, 5xx) are retried
``retries`` times with exponential backoff by this module, the library's
own retry being off, so every backend counts retries the same way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import google.auth.exceptions as gauth
import requests
from google.api_core import exceptions as gx
from google.cloud import storage
from sparkwing.errors import ConfigError, NotFoundError, StoreError
from sparkwing.storage.blobs.contracts import (
    Blob,
    BlobInfo,
    BlobPage,
    BlobUnavailable,
    PreconditionFailed,
)

from .settings import GcsSettings

T = TypeVar("T")

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_NETWORK_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                   gauth.TransportError, ConnectionError, TimeoutError)


def _timestamp(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0


def _generation(etag: str) -> int:
    """The generation an etag names; ``-1`` (matches nothing) when it is not one of ours."""
    try:
        value = int(etag)
    except (TypeError, ValueError):
        return -1
    return value if value > 0 else -1


class GcsBlobStore:
    """Objects under ``gs://BUCKET/PREFIX``; see the module docstring for the dialect."""

    kind = "gcs"

    def __init__(self, settings: GcsSettings) -> None:
        self.settings = settings
        self._prefix = settings.prefix
        self._timeout = (settings.timeout, settings.timeout)
        options: dict[str, Any] = {}
        credentials: Any = None
        if settings.endpoint_url:
            # Emulators and private endpoints of the GCS JSON API take no Google login.
            from google.auth.credentials import AnonymousCredentials

            options["api_endpoint"] = settings.endpoint_url
            credentials = AnonymousCredentials()
        try:
            self._client: Any = storage.Client(
                project=settings.project or ("sparkwing" if credentials is not None else None),
                credentials=credentials, client_options=options or None,
            )
        except gauth.DefaultCredentialsError:
            raise ConfigError(
                f"{settings.where}: no Google credentials found; set "
                "GOOGLE_APPLICATION_CREDENTIALS to a key file, run `gcloud auth "
                "application-default login`, or run where workload identity applies"
            ) from None
        # google-cloud-storage 3.x fetches each bucket's metadata in a background
        # thread, only to label tracing spans: an extra request (needing
        # storage.buckets.get) that sparkwing has no use for.
        if getattr(self._client, "_bucket_metadata_cache", None) is not None:
            self._client._bucket_metadata_cache = None
        # Up to 32 concurrent requests share connections (requests' default pool is 10).
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self._client._http.mount("https://", adapter)
        self._client._http.mount("http://", adapter)
        self._bucket = self._client.bucket(settings.bucket)

    # -- helpers ----------------------------------------------------------------
    def _key(self, key: str) -> str:
        return self._prefix + key

    def _describe(self, key: str) -> str:
        return f"gs://{self.settings.bucket}/{self._prefix}{key}"

    def _fail(self, exc: BaseException, action: str, key: str = "",
              where: str = "") -> NoReturn:
        """Raise the contract's error for a google-cloud-storage failure of *action* on *key*."""
        where = where or self.settings.where
        target = self._describe(key) if key else f"gs://{self.settings.bucket}"
        if isinstance(exc, gx.GoogleAPICallError):
            status = int(exc.code or 0)
            message = " ".join(str(exc.message or "").split())[:200]
            if status == 412:
                raise PreconditionFailed(f"{action} {target}: precondition failed") from None
            if status == 404:
                raise StoreError(
                    f"{where} does not exist; create it or fix the bucket key") from None
            if status in (401, 403):
                raise StoreError(
                    f"{where}: GCS refused the credentials for {action} {target} ({status}); "
                    "check the service account's roles on the bucket"
                ) from None
            if status in _TRANSIENT_STATUS:
                raise BlobUnavailable(
                    f"{where}: GCS unavailable for {action} {target} ({status})") from None
            raise StoreError(f"{where}: {action} {target} failed: {status} {message}") from None
        if isinstance(exc, gauth.RefreshError | gauth.DefaultCredentialsError):
            raise ConfigError(
                f"{where}: the Google credentials were refused ({' '.join(str(exc).split())[:160]}); "
                "check GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`"
            ) from None
        if isinstance(exc, _NETWORK_ERRORS):
            endpoint = self.settings.endpoint_url or "storage.googleapis.com"
            raise BlobUnavailable(
                f"{where}: cannot reach {endpoint} for {action} {target} "
                f"({type(exc).__name__})"
            ) from None
        raise StoreError(f"{where}: {action} {target} failed: {exc}") from None

    @staticmethod
    def _transient(exc: BaseException) -> bool:
        if isinstance(exc, gx.GoogleAPICallError):
            return int(exc.code or 0) in _TRANSIENT_STATUS
        return isinstance(exc, _NETWORK_ERRORS)

    def _call(self, action: str, key: str, fn: Callable[[], T],
              expected: Callable[[BaseException], T | None] | None = None) -> T:
        """Run *fn*, retrying transient failures; *expected* may turn an error into a result."""
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                if expected is not None:
                    result = expected(exc)
                    if result is not None:
                        return result
                if self._transient(exc) and attempt < self.settings.retries:
                    time.sleep(min(5.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.0))
                    attempt += 1
                    continue
                self._fail(exc, action, key)

    def _info(self, key: str, blob: Any) -> BlobInfo:
        return BlobInfo(key=key, etag=str(blob.generation or ""), size=int(blob.size or 0),
                        updated=_timestamp(blob.updated))

    # -- the contract -------------------------------------------------------------
    def get(self, key: str) -> Blob | None:
        """Return the object and its generation, or ``None`` when it does not exist."""
        blob = self._bucket.blob(self._key(key))
        missing = b"\x00missing"

        def download() -> bytes:
            return bytes(blob.download_as_bytes(retry=None, timeout=self._timeout))

        def absent(exc: BaseException) -> bytes | None:
            return missing if isinstance(exc, gx.NotFound) else None

        data = self._call("get", key, download, absent)
        if data is missing:
            return None
        if blob.generation is None:  # an endpoint that sends no x-goog-generation header
            self._call("get", key, lambda: blob.reload(retry=None, timeout=self._timeout))
        info = self._info(key, blob)
        return Blob(data, BlobInfo(info.key, info.etag, len(data), info.updated))

    def get_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Return bytes ``[start, end)``; ``b""`` past the end; NotFoundError when missing."""
        if start < 0 or (end is not None and end < 0):
            raise ValueError("get_range: start and end must not be negative")
        if end is not None and end <= start:
            if self.head(key) is None:
                raise NotFoundError(f"{self._describe(key)} does not exist")
            return b""
        blob = self._bucket.blob(self._key(key))
        empty = b""

        def download() -> bytes:
            return bytes(blob.download_as_bytes(
                start=start, end=None if end is None else end - 1,
                retry=None, timeout=self._timeout, checksum=None,
            ))

        def expected(exc: BaseException) -> bytes | None:
            if isinstance(exc, gx.NotFound):
                raise NotFoundError(f"{self._describe(key)} does not exist") from None
            if isinstance(exc, gx.RequestRangeNotSatisfiable):
                return empty
            return None

        return self._call("get", key, download, expected)

    def head(self, key: str) -> BlobInfo | None:
        """Return the object's info, or ``None`` when it does not exist."""
        def fetch() -> Any:
            return self._bucket.get_blob(self._key(key), retry=None, timeout=self._timeout)

        blob = self._call("head", key, fetch)
        return None if blob is None else self._info(key, blob)

    def put(self, key: str, data: bytes, *, if_match: str | None = None,
            if_none_match: str | None = None,
            content_type: str = "application/octet-stream") -> BlobInfo:
        """Write the object; a condition that does not hold raises PreconditionFailed."""
        if if_none_match is not None and if_none_match != "*":
            raise ValueError('put: if_none_match may only be "*"')
        if if_match is not None and if_none_match is not None:
            raise ValueError("put: give if_match or if_none_match, not both")
        generation: int | None = None
        if if_none_match is not None:
            generation = 0
        elif if_match is not None:
            generation = _generation(if_match)
            if generation < 0:
                raise PreconditionFailed(
                    f"put {self._describe(key)}: precondition failed (etag {if_match!r} is "
                    "not a GCS generation)"
                )
        blob = self._bucket.blob(self._key(key))
        payload = bytes(data)

        def upload() -> None:
            blob.upload_from_string(
                payload, content_type=content_type, if_generation_match=generation,
                retry=None, timeout=self._timeout,
            )

        self._call("put", key, upload)
        return BlobInfo(key, str(blob.generation or ""), len(payload),
                        _timestamp(blob.updated) or time.time())

    def delete(self, key: str, *, if_match: str | None = None) -> bool:
        """Delete the object; ``False`` when it did not exist; conditional with *if_match*."""
        generation: int | None = None
        if if_match is not None:
            generation = _generation(if_match)
            current = self.head(key)
            if current is None:
                return False
            if current.etag != str(generation):
                raise PreconditionFailed(f"delete {self._describe(key)}: precondition failed")
        blob = self._bucket.blob(self._key(key))

        def remove() -> bool:
            blob.delete(if_generation_match=generation, retry=None, timeout=self._timeout)
            return True

        def expected(exc: BaseException) -> bool | None:
            if isinstance(exc, gx.NotFound):
                return False
            return None

        return self._call("delete", key, remove, expected)

    def list_page(self, prefix: str, *, page_token: str = "",
                  page_size: int = 1000) -> BlobPage:
        """One page of the keys starting with *prefix*, in key order."""
        size = max(1, min(int(page_size), 1000))

        def fetch() -> tuple[list[Any], str]:
            iterator = self._client.list_blobs(
                self._bucket, prefix=self._key(prefix), max_results=size,
                page_token=page_token or None, retry=None, timeout=self._timeout,
            )
            page = next(iterator.pages, None)
            blobs = list(page) if page is not None else []
            return blobs, str(iterator.next_page_token or "")

        blobs, token = self._call("list", prefix, fetch)
        cut = len(self._prefix)
        return BlobPage([self._info(b.name[cut:], b) for b in blobs], token)

    def check(self) -> None:
        """List one object: the bucket exists and the credentials may list it.

        Messages start with the bucket (``add_blob_backend`` puts the profile
        and surface in front); an endpoint that cannot be reached raises
        :class:`BlobUnavailable`, whose writes then wait in the outbox.
        """
        where = self.settings.subject
        try:
            iterator = self._client.list_blobs(
                self._bucket, prefix=self._prefix, max_results=1, retry=None,
                timeout=self._timeout,
            )
            next(iterator.pages, None)
        except gx.NotFound:
            endpoint = f" at {self.settings.endpoint_url}" if self.settings.endpoint_url else ""
            raise ConfigError(
                f"{where} does not exist{endpoint}; create it or fix the bucket key"
            ) from None
        except (gx.Forbidden, gx.Unauthorized) as exc:
            raise ConfigError(
                f"{where}: GCS refused the credentials ({exc.code}); grant the account "
                "roles/storage.objectAdmin on the bucket or fix GOOGLE_APPLICATION_CREDENTIALS"
            ) from None
        except Exception as exc:
            self._fail(exc, "check", "", where)

    def close(self) -> None:
        """Close the client's HTTP session."""
        self._client.close()


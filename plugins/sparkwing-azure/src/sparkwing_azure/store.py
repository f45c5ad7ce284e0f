"""The :class:`~sparkwing.storage.blobs.contracts.BlobStore` of an Azure container, through azure-storage-blob.

Azure's conditional-write dialect: ``If-None-Match: *`` on an existing blob
answers 409 ``BlobAlreadyExists`` (some front ends 412), ``If-Match`` with
another ETag 412 ``ConditionNotMet``, ``If-Match`` on a missing blob 404
``BlobNotFound`` or 412; all of them are :class:`PreconditionFailed` here.
ETags are given out quoted, the form uploads and properties use (listings
return them bare).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import requests
from azure.core import MatchConditions
from azure.core import exceptions as ax
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobServiceClient, ContentSettings
from sparkwing.errors import ConfigError, NotFoundError, StoreError
from sparkwing.storage.blobs.contracts import (
    Blob,
    BlobInfo,
    BlobPage,
    BlobUnavailable,
    PreconditionFailed,
)

from .settings import AzureSettings

T = TypeVar("T")

_MISSING_CONTAINER = "ContainerNotFound"
_MISSING_BLOB = "BlobNotFound"
_DENIED_STATUS = (401, 403)
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def _timestamp(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0


def _error_code(exc: ax.HttpResponseError) -> str:
    code = getattr(exc, "error_code", None)
    if code:
        return str(code)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    return str(headers.get("x-ms-error-code") or "")


def _etag(value: Any) -> str:
    """Azure's ETag in one form: quoted (uploads and properties quote it, listings do not)."""
    text = str(value or "").strip()
    return text if text.startswith('"') or not text else f'"{text}"'


def _status(exc: ax.HttpResponseError) -> int:
    return int(getattr(exc, "status_code", None) or 0)


class AzureBlobStore:
    """Blobs under ``CONTAINER/PREFIX`` of one storage account; see the module docstring."""

    kind = "azure"

    def __init__(self, settings: AzureSettings) -> None:
        self.settings = settings
        self._prefix = settings.prefix
        # Up to 32 concurrent requests share connections (requests' default pool is 10).
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        options: dict[str, Any] = {
            "retry_total": settings.retries,
            "connection_timeout": settings.timeout,
            "read_timeout": settings.timeout,
            "transport": RequestsTransport(session=session, session_owner=True,
                                           connection_timeout=settings.timeout,
                                           read_timeout=settings.timeout),
        }
        try:
            if settings.connection_string:
                service = BlobServiceClient.from_connection_string(
                    settings.connection_string, **options)
            else:
                assert settings.account_url is not None
                credential = None if settings.sas else self._default_credential()
                service = BlobServiceClient(settings.account_url, credential=credential,
                                            **options)
        except ValueError as exc:
            raise ConfigError(
                f"{settings.where}: the connection string or account URL is not usable "
                f"({' '.join(str(exc).split())[:160]}); check url_source / endpoint_url"
            ) from None
        self._service: Any = service
        self._container: Any = service.get_container_client(settings.container)

    def _default_credential(self) -> Any:
        """azure-identity's default chain: environment, workload identity, managed identity, CLI."""
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(exclude_interactive_browser_credential=True)

    # -- helpers ----------------------------------------------------------------
    def _key(self, key: str) -> str:
        return self._prefix + key

    def _describe(self, key: str) -> str:
        return f"{self.settings.container}/{self._prefix}{key}"

    def _fail(self, exc: BaseException, action: str, key: str = "",
              where: str = "") -> NoReturn:
        """Raise the contract's error for an Azure SDK failure of *action* on *key*."""
        where = where or self.settings.where
        target = self._describe(key) if key else self.settings.container
        if isinstance(exc, ax.ResourceModifiedError | ax.ResourceExistsError):
            raise PreconditionFailed(f"{action} {target}: precondition failed") from None
        if isinstance(exc, ax.ClientAuthenticationError):
            raise StoreError(
                f"{where}: Azure refused the credentials for {action} {target} "
                f"({' '.join(str(exc).split())[:120]}); check url_source or the account's "
                "role assignments"
            ) from None
        if isinstance(exc, ax.HttpResponseError):
            status, code = _status(exc), _error_code(exc)
            if code == _MISSING_CONTAINER:
                raise StoreError(
                    f"{where} does not exist; create it or fix the container key") from None
            if status == 412:
                raise PreconditionFailed(f"{action} {target}: precondition failed") from None
            if status in _DENIED_STATUS:
                raise StoreError(
                    f"{where}: Azure refused the credentials for {action} {target} "
                    f"({code or status}); check url_source or the account's role assignments"
                ) from None
            if status in _TRANSIENT_STATUS:
                raise BlobUnavailable(
                    f"{where}: Azure unavailable for {action} {target} ({code or status})"
                ) from None
            raise StoreError(
                f"{where}: {action} {target} failed: {code or status}") from None
        if isinstance(exc, ax.ServiceRequestError | ax.ServiceResponseError):
            raise BlobUnavailable(
                f"{where}: cannot reach {self.settings.endpoint} for {action} {target} "
                f"({type(exc).__name__})"
            ) from None
        if isinstance(exc, ax.AzureError):
            raise StoreError(
                f"{where}: {action} {target} failed: {' '.join(str(exc).split())[:200]}"
            ) from None
        raise exc

    def _call(self, action: str, key: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ax.AzureError as exc:
            self._fail(exc, action, key)

    @staticmethod
    def _blob_missing(exc: ax.AzureError) -> bool:
        return isinstance(exc, ax.ResourceNotFoundError) and \
            _error_code(exc) != _MISSING_CONTAINER

    # -- the contract -------------------------------------------------------------
    def get(self, key: str) -> Blob | None:
        """Return the object and its ETag, or ``None`` when it does not exist."""
        try:
            stream = self._container.download_blob(self._key(key), max_concurrency=1)
            data = bytes(stream.readall())
        except ax.AzureError as exc:
            if self._blob_missing(exc):
                return None
            self._fail(exc, "get", key)
        props = stream.properties
        return Blob(data, BlobInfo(key, _etag(props.etag), len(data),
                                   _timestamp(props.last_modified)))

    def get_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Return bytes ``[start, end)``; ``b""`` past the end; NotFoundError when missing."""
        if start < 0 or (end is not None and end < 0):
            raise ValueError("get_range: start and end must not be negative")
        if end is not None and end <= start:
            if self.head(key) is None:
                raise NotFoundError(f"{self._describe(key)} does not exist")
            return b""
        try:
            stream = self._container.download_blob(
                self._key(key), offset=start, length=None if end is None else end - start,
                max_concurrency=1,
            )
            return bytes(stream.readall())
        except ax.AzureError as exc:
            if self._blob_missing(exc):
                raise NotFoundError(f"{self._describe(key)} does not exist") from None
            if isinstance(exc, ax.HttpResponseError) and _status(exc) == 416:
                return b""
            self._fail(exc, "get", key)

    def head(self, key: str) -> BlobInfo | None:
        """Return the object's info, or ``None`` when it does not exist."""
        try:
            props = self._container.get_blob_client(self._key(key)).get_blob_properties()
        except ax.AzureError as exc:
            if self._blob_missing(exc):
                return None
            self._fail(exc, "head", key)
        return BlobInfo(key, _etag(props.etag), int(props.size or 0),
                        _timestamp(props.last_modified))

    def put(self, key: str, data: bytes, *, if_match: str | None = None,
            if_none_match: str | None = None,
            content_type: str = "application/octet-stream") -> BlobInfo:
        """Write the object; a condition that does not hold raises PreconditionFailed."""
        if if_none_match is not None and if_none_match != "*":
            raise ValueError('put: if_none_match may only be "*"')
        if if_match is not None and if_none_match is not None:
            raise ValueError("put: give if_match or if_none_match, not both")
        payload = bytes(data)
        args: dict[str, Any] = {
            "overwrite": if_none_match is None,
            "content_settings": ContentSettings(content_type=content_type),
            "max_concurrency": 1,
        }
        if if_match is not None:
            args["etag"] = if_match
            args["match_condition"] = MatchConditions.IfNotModified
        try:
            # BlobClient.upload_blob answers with the new ETag (ContainerClient's does not).
            blob = self._container.get_blob_client(self._key(key))
            result = blob.upload_blob(payload, **args)
        except ax.AzureError as exc:
            if if_match is not None and self._blob_missing(exc):
                raise PreconditionFailed(
                    f"put {self._describe(key)}: precondition failed (no such blob)"
                ) from None
            self._fail(exc, "put", key)
        return BlobInfo(key, _etag(result.get("etag")), len(payload),
                        _timestamp(result.get("last_modified")))

    def delete(self, key: str, *, if_match: str | None = None) -> bool:
        """Delete the object; ``False`` when it did not exist; conditional with *if_match*."""
        args: dict[str, Any] = {}
        if if_match is not None:
            args["etag"] = if_match
            args["match_condition"] = MatchConditions.IfNotModified
        try:
            self._container.delete_blob(self._key(key), **args)
        except ax.AzureError as exc:
            if self._blob_missing(exc):
                return False
            # Azure answers 412, not 404, to If-Match on a blob that is gone.
            if isinstance(exc, ax.ResourceModifiedError) and self.head(key) is None:
                return False
            self._fail(exc, "delete", key)
        return True

    def list_page(self, prefix: str, *, page_token: str = "",
                  page_size: int = 1000) -> BlobPage:
        """One page of the keys starting with *prefix*, in key order."""
        size = max(1, min(int(page_size), 5000))

        def fetch() -> tuple[list[Any], str]:
            pages = self._container.list_blobs(
                name_starts_with=self._key(prefix), results_per_page=size,
            ).by_page(continuation_token=page_token or None)
            page = next(pages, None)
            items = list(page) if page is not None else []
            return items, str(pages.continuation_token or "")

        items, token = self._call("list", prefix, fetch)
        cut = len(self._prefix)
        return BlobPage(
            [BlobInfo(str(p.name)[cut:], _etag(p.etag), int(p.size or 0),
                      _timestamp(p.last_modified)) for p in items],
            token,
        )

    def check(self) -> None:
        """List one blob: the container exists and the credentials may read it.

        Messages start with the bucket (``add_blob_backend`` puts the profile
        and surface in front); an endpoint that cannot be reached raises
        :class:`BlobUnavailable`, whose writes then wait in the outbox.
        """
        where = self.settings.subject
        try:
            pages = self._container.list_blobs(
                name_starts_with=self._prefix, results_per_page=1).by_page()
            next(pages, None)
        except ax.ClientAuthenticationError as exc:
            raise ConfigError(
                f"{where}: Azure refused the credentials "
                f"({' '.join(str(exc).split())[:120]}); check url_source or the account's "
                "role assignments (Storage Blob Data Contributor)"
            ) from None
        except ax.HttpResponseError as exc:
            if _error_code(exc) == _MISSING_CONTAINER or _status(exc) == 404:
                raise ConfigError(
                    f"{where} does not exist at {self.settings.endpoint}; create it or fix "
                    "the container key"
                ) from None
            if _status(exc) in _DENIED_STATUS:
                raise ConfigError(
                    f"{where}: Azure refused the credentials ({_error_code(exc) or 403}); "
                    "check url_source or the account's role assignments"
                ) from None
            self._fail(exc, "check", "", where)
        except ax.AzureError as exc:
            self._fail(exc, "check", "", where)

    def close(self) -> None:
        """Close the clients' connections."""
        self._container.close()
        self._service.close()

"""The :class:`~sparkwing.storage.blobs.contracts.BlobStore` of an S3 bucket, through boto3.

S3's conditional-write dialect maps onto the contract directly:
``If-None-Match: *`` and ``If-Match: <etag>`` on PutObject, ``If-Match`` on
DeleteObject, 412 ``PreconditionFailed`` when the condition does not hold.
Two S3 answers need translating: ``If-Match`` on a missing key is 404
``NoSuchKey`` (a failed precondition here), and 409
``ConditionalRequestConflict`` (another conditional write to the key was in
flight) is retried a few times, as AWS advises, before it counts as the
store being unavailable.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import boto3
import botocore.exceptions as bx
from botocore.config import Config
from sparkwing.errors import ConfigError, NotFoundError, StoreError
from sparkwing.storage.blobs.contracts import (
    Blob,
    BlobInfo,
    BlobPage,
    BlobUnavailable,
    PreconditionFailed,
)

from .settings import S3Settings

T = TypeVar("T")

#: Error codes that mean "try again later" rather than "this request is wrong".
_TRANSIENT_CODES = frozenset({
    "SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "ServiceUnavailable",
    "InternalError", "Throttling", "ThrottlingException", "RequestLimitExceeded",
    "TooManyRequests", "ConditionalRequestConflict", "OperationAborted",
})
#: Error codes of credentials S3 refused.
_DENIED_CODES = frozenset({
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
    "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem",
    "403", "Forbidden",
})
#: How often a 409 ConditionalRequestConflict is retried before giving up.
_CONFLICT_RETRIES = 5

# One boto3 session per (aws_profile, region): a session caches the loaded
# service models, so a second store's client costs milliseconds, not a
# second. Sessions are not safe for concurrent client creation: the lock.
_SESSIONS: dict[tuple[str | None, str | None], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def _client(settings: S3Settings, config: Config) -> Any:
    key = (settings.aws_profile, settings.region)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = boto3.session.Session(
                profile_name=settings.aws_profile, region_name=settings.region,
            )
            _SESSIONS[key] = session
        return session.client("s3", endpoint_url=settings.endpoint_url, config=config)


def _status(exc: bx.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(exc: bx.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


def _timestamp(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0


class S3BlobStore:
    """Objects under ``s3://BUCKET/PREFIX``; see the module docstring for the dialect."""

    kind = "s3"

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._bucket = settings.bucket
        self._prefix = settings.prefix
        options: dict[str, Any] = {
            "retries": {"max_attempts": settings.retries + 1, "mode": "standard"},
            "connect_timeout": settings.timeout,
            "read_timeout": settings.timeout,
            "max_pool_connections": 32,
        }
        if settings.endpoint_url:
            # S3-compatible stores (MinIO, R2, emulators) want path-style
            # addressing and do not all understand the newer default checksums.
            options["s3"] = {"addressing_style": "path"}
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        try:
            self._client: Any = _client(settings, Config(**options))
        except bx.ProfileNotFound:
            raise ConfigError(
                f'{settings.where}: aws_profile "{settings.aws_profile}" is not in the AWS '
                "shared config (~/.aws/config, ~/.aws/credentials); fix the aws_profile key"
            ) from None
        except bx.BotoCoreError as exc:
            raise ConfigError(f"{settings.where}: cannot set up the S3 client: {exc}") from None

    # -- helpers ----------------------------------------------------------------
    def _key(self, key: str) -> str:
        return self._prefix + key

    def _describe(self, key: str) -> str:
        return f"s3://{self._bucket}/{self._prefix}{key}"

    def _fail(self, exc: BaseException, action: str, key: str = "",
              where: str = "") -> NoReturn:
        """Raise the contract's error for a boto3 failure of *action* on *key*."""
        where = where or self.settings.where
        target = self._describe(key) if key else f"s3://{self._bucket}"
        if isinstance(exc, bx.ClientError):
            code, status = _code(exc), _status(exc)
            message = " ".join(str(exc.response.get("Error", {}).get("Message") or "").split())
            if status == 412 or code == "PreconditionFailed":
                raise PreconditionFailed(f"{action} {target}: precondition failed") from None
            if code == "NoSuchBucket":
                raise StoreError(
                    f"{where} does not exist; create it or fix the bucket key") from None
            if code in _DENIED_CODES or status == 403:
                raise StoreError(
                    f"{where}: S3 refused the credentials for {action} {target} ({code}); "
                    "check the AWS credentials and the bucket policy"
                ) from None
            if code in _TRANSIENT_CODES or status >= 500 or status == 429:
                raise BlobUnavailable(
                    f"{where}: S3 unavailable for {action} {target} ({code or status})"
                ) from None
            raise StoreError(
                f"{where}: {action} {target} failed: {code or status} {message}".rstrip()
            ) from None
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError
                      | bx.CredentialRetrievalError | bx.TokenRetrievalError):
            raise ConfigError(
                f"{where}: no usable AWS credentials ({exc}); set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, an aws_profile key, or run with an IAM role"
            ) from None
        if isinstance(exc, bx.HTTPClientError | bx.ConnectionError):
            endpoint = self.settings.endpoint_url or "AWS"
            raise BlobUnavailable(
                f"{where}: cannot reach {endpoint} for {action} {target} "
                f"({type(exc).__name__})"
            ) from None
        raise StoreError(f"{where}: {action} {target} failed: {exc}") from None

    def _call(self, action: str, key: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (bx.ClientError, bx.BotoCoreError) as exc:
            self._fail(exc, action, key)

    def _info(self, key: str, head: dict[str, Any]) -> BlobInfo:
        return BlobInfo(
            key=key,
            etag=str(head.get("ETag") or ""),
            size=int(head.get("ContentLength") or head.get("Size") or 0),
            updated=_timestamp(head.get("LastModified")),
        )

    # -- the contract -------------------------------------------------------------
    def get(self, key: str) -> Blob | None:
        """Return the object and its ETag, or ``None`` when it does not exist."""
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key(key))
            data = response["Body"].read()
        except bx.ClientError as exc:
            if _code(exc) == "NoSuchKey":
                return None
            self._fail(exc, "get", key)
        except bx.BotoCoreError as exc:
            self._fail(exc, "get", key)
        info = self._info(key, response)
        return Blob(data, BlobInfo(info.key, info.etag, len(data), info.updated))

    def get_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Return bytes ``[start, end)``; ``b""`` past the end; NotFoundError when missing."""
        if start < 0 or (end is not None and end < 0):
            raise ValueError("get_range: start and end must not be negative")
        if end is not None and end <= start:
            if self.head(key) is None:
                raise NotFoundError(f"{self._describe(key)} does not exist")
            return b""
        spec = f"bytes={start}-" + ("" if end is None else str(end - 1))
        try:
            response = self._client.get_object(
                Bucket=self._bucket, Key=self._key(key), Range=spec,
            )
            return bytes(response["Body"].read())
        except bx.ClientError as exc:
            code = _code(exc)
            if code == "NoSuchKey":
                raise NotFoundError(f"{self._describe(key)} does not exist") from None
            if code == "InvalidRange" or _status(exc) == 416:
                return b""
            self._fail(exc, "get", key)
        except bx.BotoCoreError as exc:
            self._fail(exc, "get", key)

    def head(self, key: str) -> BlobInfo | None:
        """Return the object's info, or ``None`` when it does not exist."""
        try:
            response = self._client.head_object(Bucket=self._bucket, Key=self._key(key))
        except bx.ClientError as exc:
            if _status(exc) == 404 and _code(exc) != "NoSuchBucket":
                return None
            self._fail(exc, "head", key)
        except bx.BotoCoreError as exc:
            self._fail(exc, "head", key)
        return self._info(key, response)

    def put(self, key: str, data: bytes, *, if_match: str | None = None,
            if_none_match: str | None = None,
            content_type: str = "application/octet-stream") -> BlobInfo:
        """Write the object; a condition that does not hold raises PreconditionFailed."""
        if if_none_match is not None and if_none_match != "*":
            raise ValueError('put: if_none_match may only be "*"')
        if if_match is not None and if_none_match is not None:
            raise ValueError("put: give if_match or if_none_match, not both")
        args: dict[str, Any] = {
            "Bucket": self._bucket, "Key": self._key(key), "Body": bytes(data),
            "ContentType": content_type,
        }
        if if_match is not None:
            args["IfMatch"] = if_match
        if if_none_match is not None:
            args["IfNoneMatch"] = "*"
        conditional = if_match is not None or if_none_match is not None
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                response = self._client.put_object(**args)
                return BlobInfo(key, str(response.get("ETag") or ""), len(data), time.time())
            except bx.ClientError as exc:
                code = _code(exc)
                if conditional and code == "ConditionalRequestConflict" \
                        and attempt < _CONFLICT_RETRIES:
                    time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
                    continue
                if if_match is not None and code == "NoSuchKey":
                    raise PreconditionFailed(
                        f"put {self._describe(key)}: precondition failed (no such object)"
                    ) from None
                self._fail(exc, "put", key)
            except bx.BotoCoreError as exc:
                self._fail(exc, "put", key)
        raise AssertionError("unreachable")  # pragma: no cover

    def delete(self, key: str, *, if_match: str | None = None) -> bool:
        """Delete the object; ``False`` when it did not exist; conditional with *if_match*.

        S3 answers 204 whether or not the key existed, so the answer comes
        from a HEAD first; the delete itself carries the condition.
        """
        if self.head(key) is None:
            return False
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": self._key(key)}
        if if_match is not None:
            args["IfMatch"] = if_match
        try:
            self._client.delete_object(**args)
        except bx.ClientError as exc:
            if _code(exc) == "NoSuchKey":
                return False
            self._fail(exc, "delete", key)
        except bx.BotoCoreError as exc:
            self._fail(exc, "delete", key)
        return True

    def list_page(self, prefix: str, *, page_token: str = "",
                  page_size: int = 1000) -> BlobPage:
        """One page of the keys starting with *prefix*, in key order."""
        args: dict[str, Any] = {
            "Bucket": self._bucket, "Prefix": self._key(prefix),
            "MaxKeys": max(1, min(int(page_size), 1000)),
        }
        if page_token:
            args["ContinuationToken"] = page_token
        response = self._call("list", prefix, lambda: self._client.list_objects_v2(**args))
        cut = len(self._prefix)
        items = [
            BlobInfo(
                key=str(item["Key"])[cut:], etag=str(item.get("ETag") or ""),
                size=int(item.get("Size") or 0), updated=_timestamp(item.get("LastModified")),
            )
            for item in response.get("Contents") or ()
        ]
        token = str(response.get("NextContinuationToken") or "") \
            if response.get("IsTruncated") else ""
        return BlobPage(items, token)

    def check(self) -> None:
        """HEAD the bucket: it exists and the credentials are accepted.

        Messages start with the bucket (``add_blob_backend`` puts the profile
        and surface in front); an endpoint that cannot be reached raises
        :class:`BlobUnavailable`, whose writes then wait in the outbox.
        """
        where = self.settings.subject
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except bx.ClientError as exc:
            status = _status(exc)
            if status == 404 or _code(exc) in ("NoSuchBucket", "404"):
                endpoint = f" at {self.settings.endpoint_url}" if self.settings.endpoint_url \
                    else ""
                raise ConfigError(
                    f"{where} does not exist{endpoint}; create it or fix the bucket key"
                ) from None
            if status in (401, 403) or _code(exc) in _DENIED_CODES:
                raise ConfigError(
                    f"{where}: S3 refused the credentials ({_code(exc) or status}); check "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the aws_profile key or the "
                    "bucket policy"
                ) from None
            if status == 301:
                raise ConfigError(
                    f"{where} is in another region; set the region key to the bucket's region"
                ) from None
            self._fail(exc, "check", "", where)
        except bx.BotoCoreError as exc:
            self._fail(exc, "check", "", where)

    def close(self) -> None:
        """Close the client's connection pool."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

"""The ``gcs`` profile keys, checked without importing google-cloud-storage.

A profile block such as::

    state: {type: gcs, bucket: team-ci, prefix: sparkwing}

becomes a :class:`GcsSettings`; anything wrong is a one-line
:class:`~sparkwing.errors.ConfigError` naming the profile and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sparkwing.errors import ConfigError

# GCS bucket names: 3-63 characters (up to 222 with dots), lower case, digits,
# hyphens, underscores and dots, starting and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9]")


@dataclass(frozen=True, slots=True)
class GcsSettings:
    """One ``gcs`` block, validated."""

    bucket: str
    prefix: str = ""
    #: A GCS-compatible endpoint (fake-gcs-server); requests then go unauthenticated.
    endpoint_url: str | None = None
    project: str | None = None
    #: Retries of a failed request after the first try (transient errors only).
    retries: int = 4
    #: Connect and read timeout per request, seconds.
    timeout: float = 20.0
    #: The sparkwing profile the block belongs to, for messages.
    profile: str = ""

    @property
    def subject(self) -> str:
        """What the block names, for messages that sparkwing prefixes with the profile."""
        return f'gcs bucket "{self.bucket}"'

    @property
    def where(self) -> str:
        """Prefix of every message about this block."""
        return f'profile "{self.profile}": {self.subject}'


def normalise_prefix(raw: object, where: str) -> str:
    """Return *raw* as ``a/b/`` (or ``""``); reject ``.`` / ``..`` segments."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: prefix must be text such as team/ci, got {raw!r}")
    parts = [p for p in raw.strip().strip("/").split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ConfigError(f'{where}: prefix "{raw}" must not contain . or .. segments')
    return "/".join(parts) + "/" if parts else ""


def _text(config: Mapping[str, Any], key: str, where: str) -> str | None:
    value = config.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be text, got {value!r}")
    return value.strip()


def _number(config: Mapping[str, Any], key: str, where: str, default: float,
            low: float, high: float) -> float:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{where}: {key} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def parse_settings(config: Mapping[str, Any], profile: str) -> GcsSettings:
    """Validate a ``gcs`` block of *profile*; raise a one-line :class:`ConfigError`."""
    where = f'profile "{profile}": gcs'
    bucket = _text(config, "bucket", where)
    if not bucket:
        raise ConfigError(f"{where}: bucket is required (the name of an existing GCS bucket)")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ConfigError(
            f'{where}: bucket "{bucket}" is not a valid GCS bucket name '
            "(3-63 lower-case letters, digits, hyphens, underscores and dots)"
        )
    endpoint = _text(config, "endpoint_url", where)
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            f'{where}: endpoint_url "{endpoint}" must start with http:// or https://'
        )
    return GcsSettings(
        bucket=bucket,
        prefix=normalise_prefix(config.get("prefix"), where),
        endpoint_url=endpoint.rstrip("/") if endpoint else None,
        project=_text(config, "project", where),
        retries=int(_number(config, "retries", where, 4, 0, 20)),
        timeout=_number(config, "timeout", where, 20.0, 0.1, 600),
        profile=profile,
    )

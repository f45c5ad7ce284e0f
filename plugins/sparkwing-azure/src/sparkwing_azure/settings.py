"""The ``azure`` profile keys, checked without importing the Azure libraries.

A profile block names the container and one way to reach the account::

    state: {type: azure, container: sparkwing, url_source: env:AZURE_STORAGE_CONNECTION_STRING}
    state: {type: azure, container: sparkwing, account: teamci}   # Microsoft Entra ID login

``url_source: env:VAR`` arrives here as ``url``: a connection string, or an
account URL with a SAS token. ``account`` (or ``endpoint_url``, for
Azurite and sovereign clouds) signs in through azure-identity's default
chain (environment, workload identity, managed identity, Azure CLI). With
none of them, ``AZURE_STORAGE_CONNECTION_STRING`` is used when set.
Anything wrong is a one-line :class:`~sparkwing.errors.ConfigError`
naming the profile and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sparkwing.errors import ConfigError

#: The environment variable the Azure tools read a connection string from.
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"

# Azure container names: 3-63 lower-case letters, digits and single hyphens.
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")


@dataclass(frozen=True, slots=True)
class AzureSettings:
    """One ``azure`` block, validated."""

    container: str
    prefix: str = ""
    #: A connection string (``AccountName=...;AccountKey=...``), from ``url_source``.
    connection_string: str | None = None
    #: The account's blob endpoint (``https://NAME.blob.core.windows.net``), maybe with a SAS.
    account_url: str | None = None
    #: Whether the account URL carries its own SAS token (no login then).
    sas: bool = False
    #: Retries of a failed request after the first try (transient errors only).
    retries: int = 4
    #: Connect and read timeout per request, seconds.
    timeout: float = 20.0
    #: The sparkwing profile the block belongs to, for messages.
    profile: str = ""

    @property
    def subject(self) -> str:
        """What the block names, for messages that sparkwing prefixes with the profile."""
        return f'azure container "{self.container}"'

    @property
    def where(self) -> str:
        """Prefix of every message about this block."""
        return f'profile "{self.profile}": {self.subject}'

    @property
    def endpoint(self) -> str:
        """The blob endpoint in use, without secrets, for messages."""
        if self.account_url:
            return self.account_url.split("?", 1)[0]
        fields = _connection_fields(self.connection_string or "")
        if "BlobEndpoint" in fields:
            return fields["BlobEndpoint"]
        name = fields.get("AccountName", "?")
        suffix = fields.get("EndpointSuffix", "core.windows.net")
        return f"https://{name}.blob.{suffix}"


def _connection_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


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


def parse_settings(config: Mapping[str, Any], profile: str,
                   environ: Mapping[str, str] | None = None) -> AzureSettings:
    """Validate an ``azure`` block of *profile*; raise a one-line :class:`ConfigError`."""
    env = os.environ if environ is None else environ
    where = f'profile "{profile}": azure'
    container = _text(config, "container", where)
    if not container:
        raise ConfigError(f"{where}: container is required (the name of an existing container)")
    if not _CONTAINER.fullmatch(container):
        raise ConfigError(
            f'{where}: container "{container}" is not a valid Azure container name '
            "(3-63 lower-case letters, digits and single hyphens)"
        )
    url = _text(config, "url", where)
    endpoint = _text(config, "endpoint_url", where)
    account = _text(config, "account", where)
    given = [name for name, value in (("url_source", url), ("endpoint_url", endpoint),
                                      ("account", account)) if value]
    if len(given) > 1:
        raise ConfigError(f"{where}: {' and '.join(given)} both name the account; keep one")
    connection: str | None = None
    account_url: str | None = None
    sas = False
    if url:
        if url.startswith(("http://", "https://")):
            account_url, sas = url, "?" in url
        elif "AccountName=" in url or "BlobEndpoint=" in url:
            connection = url
        else:
            raise ConfigError(
                f"{where}: url_source must hold a connection string "
                "(AccountName=...;AccountKey=...) or an account URL with a SAS token"
            )
    elif endpoint:
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                f'{where}: endpoint_url "{endpoint}" must start with http:// or https://')
        account_url, sas = endpoint.rstrip("/"), "?" in endpoint
    elif account:
        if not _ACCOUNT.fullmatch(account):
            raise ConfigError(
                f'{where}: account "{account}" is not a storage account name '
                "(3-24 lower-case letters and digits)"
            )
        account_url = f"https://{account}.blob.core.windows.net"
    elif env.get(CONNECTION_STRING_ENV):
        connection = env[CONNECTION_STRING_ENV]
    else:
        raise ConfigError(
            f"{where}: no account given; set url_source: env:VAR to a connection string, "
            f"account to the storage account name, or {CONNECTION_STRING_ENV}"
        )
    return AzureSettings(
        container=container,
        prefix=normalise_prefix(config.get("prefix"), where),
        connection_string=connection,
        account_url=account_url,
        sas=sas,
        retries=int(_number(config, "retries", where, 4, 0, 20)),
        timeout=_number(config, "timeout", where, 20.0, 0.1, 600),
        profile=profile,
    )

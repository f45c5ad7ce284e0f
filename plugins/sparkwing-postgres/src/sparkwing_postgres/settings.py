"""The ``state: {type: postgres, ...}`` block: its keys, checked once into :class:`PgSettings`.

Keys (``url`` is required; the profile resolver turns ``url_source:
env:VAR`` into ``url`` before this module sees the block):

=================== ======================================================
``url``             ``postgresql://user[:password]@host[:port]/database``
                    as users write it (``postgres://`` too); the
                    ``+psycopg`` driver is added here. Query parameters
                    (``?sslmode=require``) pass through to libpq.
``schema``          schema holding the tables (default ``public``); created
                    when missing
``pool_size``       connections kept open per process (default 5; as many
                    again may open under load)
``sslmode``         libpq ``sslmode`` (``disable`` ... ``verify-full``)
``sslrootcert``     CA file; ``sslcert``/``sslkey``: client certificate
``connect_timeout`` seconds to wait for a connection (default 10)
``retry_timeout``   seconds a write keeps retrying while the database is
                    unreachable, before the run fails (default 60)
``migration_wait``  seconds to wait for another process's migration
                    (default 300)
``notify``          ``false`` turns off LISTEN/NOTIFY (behind PgBouncer in
                    transaction mode); the dashboard then polls
=================== ======================================================

The password never appears in a message: :attr:`PgSettings.display`
renders the URL without it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sparkwing.errors import ConfigError

#: libpq ``sslmode`` values.
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_URL_SHAPE = "postgresql://user[:password]@host[:port]/database"


@dataclass(frozen=True, slots=True)
class PgSettings:
    """A checked ``state: {type: postgres}`` block."""

    url: Any = field(repr=False)  # sqlalchemy.engine.URL with the psycopg driver
    display: str  # the URL without its password, for messages
    schema: str = "public"
    pool_size: int = 5
    connect_args: dict[str, Any] = field(default_factory=dict, repr=False)
    connect_timeout: float = 10.0
    retry_timeout: float = 60.0
    migration_wait: float = 300.0
    notify: bool = True
    origin: str = "state"  # the profile surface this came from, for errors at load

    @property
    def where(self) -> str:
        """How messages name the store: ``state store postgresql://u@h:p/db``."""
        suffix = f" (schema {self.schema})" if self.schema != "public" else ""
        return f"state store {self.display}{suffix}"


def _number(config: Mapping[str, Any], key: str, default: float, where: str,
            minimum: float = 0.0, integer: bool = False) -> Any:
    raw = config.get(key)
    if raw is None or raw == "":
        return int(default) if integer else float(default)
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = int(str(raw)) if integer else float(str(raw))
    except ValueError:
        kind = "a whole number" if integer else "a number of seconds"
        raise ConfigError(f"{where}: {key} must be {kind}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{where}: {key} must be at least {minimum:g}, got {raw!r}")
    return value


def _bool(config: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    raw = config.get(key)
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ConfigError(f"{where}: {key} must be true or false, got {raw!r}")


def parse_url(raw: str, where: str = "state") -> tuple[Any, str]:
    """Return ``(sqlalchemy URL with the psycopg driver, display text without password)``.

    Raises a one-line :class:`ConfigError` that never repeats the URL (it
    may hold a password), only its scheme and what a valid one looks like.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = str(raw).strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme not in _SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise ConfigError(f"{where}: url must be a PostgreSQL URL ({_URL_SHAPE}), got {shown}")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{where}: url is not a valid PostgreSQL URL; expected {_URL_SHAPE}"
                          ) from None
    if not url.host and "host" not in url.query:
        raise ConfigError(f"{where}: url names no host; expected {_URL_SHAPE}")
    if not url.database:
        raise ConfigError(f"{where}: url names no database; expected {_URL_SHAPE}")
    url = url.set(drivername="postgresql+psycopg")
    try:
        port = url.port
    except ValueError:
        raise ConfigError(f"{where}: url has a bad port; expected {_URL_SHAPE}") from None
    host = url.host or str(url.query.get("host", ""))
    user = f"{url.username}@" if url.username else ""
    display = f"postgresql://{user}{host}{f':{port}' if port else ''}/{url.database}"
    return url, display


def parse_settings(config: Mapping[str, Any], where: str = "state") -> PgSettings:
    """Check a profile's ``state`` block; raise a one-line :class:`ConfigError` naming the key."""
    raw = config.get("url")
    if not raw:
        raise ConfigError(f"{where}: type=postgres requires url (or url_source: env:VAR)")
    url, display = parse_url(str(raw), where)
    schema = str(config.get("schema") or "public")
    if not _SCHEMA.fullmatch(schema):
        raise ConfigError(
            f"{where}: schema must be a lower-case SQL name (letters, digits, _), got {schema!r}"
        )
    connect_timeout = _number(config, "connect_timeout", 10, where, minimum=1)
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, int(connect_timeout)),
        "application_name": "sparkwing",
        "options": f"-c search_path={schema}",
    }
    sslmode = config.get("sslmode")
    if sslmode is not None:
        if str(sslmode) not in SSLMODES:
            raise ConfigError(
                f"{where}: sslmode must be one of {', '.join(SSLMODES)}, got {sslmode!r}"
            )
        connect_args["sslmode"] = str(sslmode)
    for key in ("sslrootcert", "sslcert", "sslkey"):
        if config.get(key):
            connect_args[key] = str(config[key])
    return PgSettings(
        url=url,
        display=display,
        schema=schema,
        pool_size=_number(config, "pool_size", 5, where, minimum=1, integer=True),
        connect_args=connect_args,
        connect_timeout=connect_timeout,
        retry_timeout=_number(config, "retry_timeout", 60, where),
        migration_wait=_number(config, "migration_wait", 300, where, minimum=1),
        notify=_bool(config, "notify", True, where),
        origin=where,
    )

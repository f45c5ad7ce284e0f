"""Opening a SQLite state database: settings, pragmas and schema check.

Only the standard library is imported here: opening the store is on the
start-up path of ``sparkwing run``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

from sparkwing.errors import ConfigError, StoreError
from sparkwing.paths import make_private_dir, open_private
from sparkwing.storage.sql.migrations import ensure_sqlite_schema

#: Environment variable holding the busy timeout in milliseconds.
BUSY_TIMEOUT_ENV = "SPARKWING_SQLITE_BUSY_TIMEOUT_MS"

#: Busy timeout when the variable is unset or empty.
DEFAULT_BUSY_TIMEOUT_MS = 30_000


def busy_timeout_ms(environ: Mapping[str, str] | None = None) -> int:
    """Return the busy timeout from ``SPARKWING_SQLITE_BUSY_TIMEOUT_MS`` (default 30000).

    Raises :class:`ConfigError` naming the variable when it is set to
    anything but a positive integer.
    """
    env = os.environ if environ is None else environ
    raw = env.get(BUSY_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_BUSY_TIMEOUT_MS
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(
            f"{BUSY_TIMEOUT_ENV} must be a positive integer number of milliseconds, got {raw!r}"
        )
    return value


def describe(path: Path) -> str:
    """Return how errors name a store: ``state store <path>``."""
    return f"state store {path}"


def open_connection(path: Path, timeout_ms: int) -> sqlite3.Connection:
    """Open *path* (creating parent directories) and bring its schema up to date.

    The connection is in autocommit mode (callers issue ``BEGIN IMMEDIATE``
    for writes), may be used from any thread (callers serialise access), and
    has WAL, ``synchronous=NORMAL``, foreign keys and the busy timeout set.
    Raises :class:`StoreError` when the file cannot be opened or is not a
    SQLite database, :class:`~sparkwing.errors.SchemaSkewError` when it is
    newer than this program.
    """
    where = describe(path)
    try:
        make_private_dir(path.parent)
        # Created owner-only before SQLite opens it; SQLite gives the -wal and
        # -shm files the database file's permissions. Only when it does not exist
        # yet: closing a descriptor of the file drops every POSIX lock this process
        # holds on it, so doing that while another connection of this process is
        # open lets other processes checkpoint and reset the WAL under it, and that
        # connection's later commits are lost.
        if not path.exists():
            os.close(open_private(path, os.O_RDWR | os.O_CREAT))
    except OSError as exc:
        raise StoreError(f"cannot create {where}: {exc.strerror or exc}") from exc
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=timeout_ms / 1000.0,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {where}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {timeout_ms:d}")
        _enable_wal(conn, timeout_ms, where)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        ensure_sqlite_schema(conn, where)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot open {where}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection, timeout_ms: int, where: str) -> None:
    """Switch to WAL (a no-op when already set), retrying while another opener holds the lock.

    When several processes open a fresh file at once, changing its journal
    mode can fail at once with "database is locked" instead of waiting on
    the busy handler, so this retries until the busy timeout.
    """
    deadline = time.monotonic() + timeout_ms / 1000.0
    delay = 0.001
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    if str(mode).lower() != "wal":
        raise StoreError(f"{where}: cannot enable WAL journal mode (got {mode})")

"""Bringing a PostgreSQL database to this program's schema version, safely with many runners.

The versions and their steps come from :mod:`sparkwing.storage.sql.migrations`
(rendered by :func:`~sparkwing.storage.sql.migrations.postgresql_statements`).

* :func:`read_status` reads the recorded version without changing anything.
* :func:`ensure_schema` is what opening a store does: an up-to-date
  database costs one query; a newer one is refused
  (:class:`~sparkwing.errors.SchemaSkewError`, naming both versions and the
  sparkwing version that migrated it); an older or empty one is migrated.
* :func:`migrate` takes a session-level advisory lock
  (``pg_try_advisory_lock``, polled every 0.2 s for up to ``migration_wait``
  seconds, on its own connection, so a crashed migrator frees it), re-reads
  the version under it, then applies each missing version in its own
  transaction: the version row is inserted first, ``lock_timeout`` is 5 s
  for the DDL, and ``min_binary_version`` is stamped in ``sparkwing_meta``.
  Eight runners starting together against an empty database: one migrates,
  the others wait and then find the schema current.

The lock key is a fixed 64-bit number derived from the schema name (not
``hashtext``, which PostgreSQL does not document as stable), so two
schemas in one database migrate independently.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, NamedTuple

from sparkwing.errors import SchemaSkewError, StoreError
from sparkwing.storage.sql.migrations import (
    MIN_BINARY_VERSION_KEY,
    SCHEMA_VERSION,
    all_migrations,
    postgresql_statements,
    skew_message,
)

from .connection import reason
from .settings import PgSettings

#: How often a waiting migrator asks for the lock again, in seconds.
LOCK_POLL_S = 0.2

#: ``lock_timeout`` for the DDL of one version.
DDL_LOCK_TIMEOUT = "5s"


class SchemaStatus(NamedTuple):
    """What a database records about its schema."""

    found: int  # 0 for an empty database
    expected: int  # this program's SCHEMA_VERSION
    migrated_by: str  # sparkwing version that last migrated it ("" when unknown)

    @property
    def state(self) -> str:
        """``current``, ``behind`` (this program would migrate it) or ``ahead`` (refused)."""
        if self.found == self.expected:
            return "current"
        return "behind" if self.found < self.expected else "ahead"

    @property
    def pending(self) -> list[int]:
        """Versions a migration would apply, in order."""
        return list(range(self.found + 1, self.expected + 1)) if self.found < self.expected else []


def lock_key(schema: str) -> int:
    """The advisory-lock key of migrations of *schema*: a signed 64-bit number."""
    digest = hashlib.blake2b(f"sparkwing_migrate:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _program_version() -> str:
    from sparkwing import __version__

    return __version__


def read_status(conn: Any) -> SchemaStatus:
    """Read the recorded version through *conn* (its ``search_path`` names the schema)."""
    found = 0
    migrated_by = ""
    exists = conn.exec_driver_sql(
        "SELECT to_regclass('sparkwing_schema_version') IS NOT NULL"
    ).scalar()
    if exists:
        found = int(conn.exec_driver_sql(
            "SELECT COALESCE(MAX(version), 0) FROM sparkwing_schema_version"
        ).scalar() or 0)
        if conn.exec_driver_sql("SELECT to_regclass('sparkwing_meta') IS NOT NULL").scalar():
            row = conn.exec_driver_sql(
                "SELECT value FROM sparkwing_meta WHERE key = %(k)s",
                {"k": MIN_BINARY_VERSION_KEY},
            ).first()
            migrated_by = str(row[0]) if row else ""
    return SchemaStatus(found, SCHEMA_VERSION, migrated_by)


def _refuse(settings: PgSettings, status: SchemaStatus) -> SchemaSkewError:
    return SchemaSkewError(
        skew_message(settings.where, status.found, status.expected, status.migrated_by)
    )


def plan_sql(settings: PgSettings, status: SchemaStatus) -> list[str]:
    """The statements :func:`migrate` would run from *status*, in order, one per item."""
    out: list[str] = []
    if status.state == "ahead":
        raise SchemaSkewError(
            skew_message(settings.where, status.found, status.expected, status.migrated_by)
        )
    if not status.pending:
        return out
    out.append(f"CREATE SCHEMA IF NOT EXISTS {settings.schema}")
    out.append(f"SET search_path TO {settings.schema}")
    for migration in all_migrations()[status.found:]:
        statements = postgresql_statements(migration)
        if migration.version == 1:
            out.append(statements.pop(0))  # the version table, before its first row
        out.append("BEGIN")
        out.append(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
        out.append(
            "INSERT INTO sparkwing_schema_version (version, applied_at) "
            f"VALUES ({migration.version}, extract(epoch from now())) ON CONFLICT DO NOTHING"
        )
        out.extend(statements)
        out.append("COMMIT")
    out.append(
        "INSERT INTO sparkwing_meta (key, value, updated_at) "
        f"VALUES ('{MIN_BINARY_VERSION_KEY}', '{_program_version()}', extract(epoch from now())) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
    )
    return out


def ensure_schema(engine: Any, settings: PgSettings) -> int:
    """Check the schema version on open and migrate when behind; return the version."""
    with engine.connect() as conn:
        status = read_status(conn)
        conn.rollback()
    if status.state == "current":
        return SCHEMA_VERSION
    if status.state == "ahead":
        raise _refuse(settings, status)
    migrate(engine, settings)
    return SCHEMA_VERSION


def _lock_holder(conn: Any, key: int) -> str:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.exec_driver_sql(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = %(hi)s AND objid = %(lo)s AND objsubid = 1",
        {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
    ).first()
    conn.rollback()
    return f"pid {row[0]}" if row else "pid unknown"


def migrate(engine: Any, settings: PgSettings) -> list[int]:
    """Apply every missing version under the migration lock; return the versions applied.

    Raises :class:`SchemaSkewError` when the database is newer than this
    program, and :class:`StoreError` when another process holds the lock
    past ``migration_wait`` or a step fails.
    """
    import sqlalchemy.exc as sa_exc

    key = lock_key(settings.schema)
    applied: list[int] = []
    with engine.connect() as conn:
        deadline = time.monotonic() + settings.migration_wait
        while True:
            got = conn.exec_driver_sql("SELECT pg_try_advisory_lock(%(k)s)", {"k": key}).scalar()
            conn.commit()
            if got:
                break
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"{settings.where}: another process is migrating the schema "
                    f"({_lock_holder(conn, key)}); waited {settings.migration_wait:g} s "
                    "(migration_wait)"
                )
            time.sleep(LOCK_POLL_S)
        try:
            applied = _apply(conn, settings)
        except sa_exc.DBAPIError as exc:
            conn.rollback()
            raise StoreError(
                f"{settings.where}: migration failed: {reason(exc, settings)}"
            ) from None
        finally:
            try:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%(k)s)", {"k": key})
                conn.commit()
            except sa_exc.DBAPIError:
                pass  # the session ends with the connection, which frees the lock
    return applied


def _apply(conn: Any, settings: PgSettings) -> list[int]:
    has_schema = conn.exec_driver_sql(
        "SELECT 1 FROM pg_namespace WHERE nspname = %(s)s", {"s": settings.schema}
    ).first()
    if has_schema is None:  # (CREATE SCHEMA checks its privilege even when the schema exists)
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {settings.schema}")
    first = postgresql_statements(all_migrations()[0])[0]  # the version table
    conn.exec_driver_sql(first)
    conn.commit()
    status = read_status(conn)
    conn.commit()
    if status.state == "ahead":
        raise _refuse(settings, status)
    applied: list[int] = []
    for migration in all_migrations()[status.found:]:
        statements = postgresql_statements(migration)
        if migration.version == 1:
            statements.pop(0)
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
        first_here = conn.exec_driver_sql(
            "INSERT INTO sparkwing_schema_version (version, applied_at) "
            "VALUES (%(v)s, %(t)s) ON CONFLICT DO NOTHING RETURNING version",
            {"v": migration.version, "t": time.time()},
        ).first()
        if first_here is None:  # recorded by someone else: nothing to do for it
            conn.rollback()
            continue
        for statement in statements:
            conn.exec_driver_sql(statement)
        conn.commit()
        applied.append(migration.version)
    if applied:
        conn.exec_driver_sql(
            "INSERT INTO sparkwing_meta (key, value, updated_at) VALUES (%(k)s, %(v)s, %(t)s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            {"k": MIN_BINARY_VERSION_KEY, "v": _program_version(), "t": time.time()},
        )
        conn.commit()
    return applied

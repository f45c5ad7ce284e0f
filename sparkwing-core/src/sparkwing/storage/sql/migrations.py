"""Schema versions of the SQL state store and how a database is brought up to date.

The versions are derived from :mod:`.schema`: version *N* creates the
tables declared ``since=N`` and adds the columns and indexes declared
``since=N`` to older tables, followed by any hand-written steps in
:data:`EXTRA_STEPS` (for changes that are not additions). Version 1 is the
whole initial schema.

Each applied version is recorded in ``sparkwing_schema_version``. A
database recording a version *newer* than :data:`SCHEMA_VERSION` is refused
with :class:`~sparkwing.errors.SchemaSkewError` (see :func:`skew_message`).

For PostgreSQL, :func:`postgresql_statements` renders the same steps
through the SQLAlchemy description (:func:`~.schema.to_sqlalchemy`); the
PostgreSQL store applies them under an advisory lock.

For SQLite, :func:`ensure_sqlite_schema` applies missing versions in one
``BEGIN IMMEDIATE`` transaction, re-reading the recorded version inside it,
so several processes opening a fresh file at once migrate it exactly once.
``PRAGMA user_version`` mirrors the recorded version: an up-to-date
database costs one pragma read to check.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from ...errors import SchemaSkewError
from ...slotted import Slotted
from .schema import (
    TABLES,
    Column,
    Index,
    Table,
    latest_version,
    sqlite_add_column,
    sqlite_create_index,
    sqlite_create_table,
)

# Plain slotted classes, not NamedTuples: each NamedTuple compiles its ``__new__`` from
# source when the module is imported (about 0.3 ms here), and this module is imported on
# every ``sparkwing run``.


class CreateTable(Slotted):
    """Create *table* with the columns it has at the migration's version."""

    __slots__ = ("table",)

    def __init__(self, table: Table) -> None:
        self.table = table


class AddColumn(Slotted):
    """Add *column* to an existing *table*."""

    __slots__ = ("column", "table")

    def __init__(self, table: Table, column: Column) -> None:
        self.table = table
        self.column = column


class CreateIndex(Slotted):
    """Create index *ix* on *table*."""

    __slots__ = ("ix", "table")

    def __init__(self, table: Table, ix: Index) -> None:
        self.table = table
        self.ix = ix


class RawSQL(Slotted):
    """A hand-written step, one statement per dialect."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, sqlite: str, postgresql: str) -> None:
        self.sqlite = sqlite
        self.postgresql = postgresql


MigrationStep = CreateTable | AddColumn | CreateIndex | RawSQL


class Migration(Slotted):
    """One schema version: the steps that bring version ``version - 1`` to ``version``."""

    __slots__ = ("steps", "version")

    def __init__(self, version: int, steps: tuple[MigrationStep, ...]) -> None:
        self.version = version
        self.steps = steps


_BACKFILL_EVENT_SEQ = (
    "UPDATE runs SET event_seq = "
    "(SELECT COALESCE(MAX(seq), 0) FROM events WHERE events.run_id = runs.id)"
)

#: Hand-written steps per version, run after the derived ones.
EXTRA_STEPS: dict[int, tuple[RawSQL, ...]] = {
    # v3 added runs.event_seq: start each run's counter at its last event
    3: (RawSQL(_BACKFILL_EVENT_SEQ, _BACKFILL_EVENT_SEQ),),
}

#: The schema version this program writes and expects.
SCHEMA_VERSION: int = latest_version()

#: ``sparkwing_meta`` key naming the sparkwing version that last migrated the database.
MIN_BINARY_VERSION_KEY = "min_binary_version"


def _derive(version: int) -> Migration:
    steps: list[MigrationStep] = []
    for t in TABLES:
        if t.since == version:
            steps.append(CreateTable(t))
            steps.extend(CreateIndex(t, ix) for ix in t.indexes if ix.since <= version)
        elif t.since < version:
            steps.extend(AddColumn(t, c) for c in t.columns if c.since == version)
            steps.extend(CreateIndex(t, ix) for ix in t.indexes if ix.since == version)
    steps.extend(EXTRA_STEPS.get(version, ()))
    return Migration(version, tuple(steps))


@cache
def all_migrations() -> tuple[Migration, ...]:
    """Every version in order (``all_migrations()[v - 1].version == v``), derived on first use.

    Most runs find the database at :data:`SCHEMA_VERSION` and never need them.
    """
    return tuple(_derive(v) for v in range(1, SCHEMA_VERSION + 1))


def sqlite_statements(migration: Migration) -> list[str]:
    """Return the SQLite statements of one migration, in order."""
    out: list[str] = []
    for step in migration.steps:
        if isinstance(step, CreateTable):
            out.append(sqlite_create_table(step.table, migration.version))
        elif isinstance(step, AddColumn):
            out.append(sqlite_add_column(step.table, step.column))
        elif isinstance(step, CreateIndex):
            out.append(sqlite_create_index(step.table, step.ix))
        else:
            out.append(step.sqlite)
    return out


def postgresql_statements(migration: Migration) -> list[str]:
    """Return the PostgreSQL statements of one migration, in order (imports SQLAlchemy).

    Tables are created as they are at the migration's version; the
    ``sparkwing_schema_version`` table with ``IF NOT EXISTS``, since the
    migrator creates it before taking the first version.
    """
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex as SaCreateIndex
    from sqlalchemy.schema import CreateTable as SaCreateTable

    from .schema import SCHEMA_VERSION_TABLE, to_sqlalchemy

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    md = to_sqlalchemy(sa.MetaData(), version=migration.version)
    out: list[str] = []
    for step in migration.steps:
        if isinstance(step, CreateTable):
            ddl = SaCreateTable(
                md.tables[step.table.name],
                if_not_exists=step.table.name == SCHEMA_VERSION_TABLE.name,
            )
            out.append(str(ddl.compile(dialect=dialect)).strip())
        elif isinstance(step, AddColumn):
            col = md.tables[step.table.name].c[step.column.name]
            spec = str(sa.schema.CreateColumn(col).compile(dialect=dialect)).strip()
            out.append(f"ALTER TABLE {step.table.name} ADD COLUMN {spec}")
        elif isinstance(step, CreateIndex):
            ix = next(i for i in md.tables[step.table.name].indexes if i.name == step.ix.name)
            out.append(str(SaCreateIndex(ix).compile(dialect=dialect)).strip())
        else:
            out.append(step.postgresql)
    return out


def skew_message(where: str, found: int, expected: int, migrated_by: str = "") -> str:
    """Return the one-line refusal for a database at a newer schema version.

    *where* names the store (``state store /path/state.db``); *migrated_by*
    is the sparkwing version recorded by the program that migrated it, when
    known.
    """
    upgrade = "Upgrade sparkwing (all sparkwing packages together"
    upgrade += f", to {migrated_by} or newer)" if migrated_by else ")"
    return (
        f"{where} is at schema version {found}; this sparkwing expects {expected}. "
        f"{upgrade} or use a matching database."
    )


def _program_version() -> str:
    from ... import __version__

    return __version__


def _recorded_sqlite(conn: Any) -> int:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sparkwing_schema_version'"
    ).fetchone()
    if row is None:
        return 0
    (found,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM sparkwing_schema_version").fetchone()
    return int(found)


def _migrated_by_sqlite(conn: Any) -> str:
    try:
        row = conn.execute(
            "SELECT value FROM sparkwing_meta WHERE key = ?", (MIN_BINARY_VERSION_KEY,)
        ).fetchone()
    except Exception:
        return ""
    return str(row[0]) if row else ""


def sqlite_status(conn: Any) -> tuple[int, str]:
    """Return ``(recorded version, sparkwing version that migrated it)`` of a SQLite database.

    Reads only; an empty database is ``(0, "")``.
    """
    return _recorded_sqlite(conn), _migrated_by_sqlite(conn)


def ensure_sqlite_schema(conn: Any, where: str, now: float | None = None) -> int:
    """Bring a ``sqlite3`` connection's database to :data:`SCHEMA_VERSION`; return the version.

    *conn* must be in autocommit mode (``isolation_level=None``). Raises
    :class:`SchemaSkewError` when the database is newer than this program.
    """
    (mirror,) = conn.execute("PRAGMA user_version").fetchone()
    if mirror == SCHEMA_VERSION:
        return SCHEMA_VERSION
    if mirror > SCHEMA_VERSION:
        found = _recorded_sqlite(conn) or mirror
        raise SchemaSkewError(skew_message(where, found, SCHEMA_VERSION, _migrated_by_sqlite(conn)))
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _recorded_sqlite(conn)
        if current > SCHEMA_VERSION:
            raise SchemaSkewError(
                skew_message(where, current, SCHEMA_VERSION, _migrated_by_sqlite(conn))
            )
        stamp = time.time() if now is None else now
        for migration in all_migrations()[current:]:
            for statement in sqlite_statements(migration):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO sparkwing_schema_version (version, applied_at) VALUES (?, ?) "
                "ON CONFLICT (version) DO NOTHING",
                (migration.version, stamp),
            )
        if current < SCHEMA_VERSION:
            conn.execute(
                "INSERT INTO sparkwing_meta (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (MIN_BINARY_VERSION_KEY, _program_version(), stamp),
            )
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION

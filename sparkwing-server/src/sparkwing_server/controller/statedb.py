"""A handle on the state database for the controller's own small SQL stores.

The token, user, secret and node-queue tables live in the state store's
database but are not part of the :class:`~sparkwing.storage.contracts.StateStore`
contract (every state plugin would otherwise have to implement them). Each
of their stores runs its statements through one :class:`StateDB`:

* on SQLite, its own connection to the state file (:class:`SqliteConnection`:
  WAL and ``synchronous=NORMAL`` like the state store; thread-safe; each
  write in ``BEGIN IMMEDIATE`` ... ``COMMIT``);
* on PostgreSQL, the SQLAlchemy engine of the state store
  (:class:`EngineConnection`: same database, same schema), each write one
  autocommitted statement.

Statements use named ``:param`` placeholders, which both accept.
:func:`open_state_db` picks the handle for a profile's stores and refuses
other state backends with one line.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sparkwing.errors import ConfigError

if TYPE_CHECKING:
    from sparkwing.config import Stores

Row = tuple[Any, ...]


class DuplicateKey(Exception):
    """A write hit an existing primary or unique key."""


class Connection(Protocol):
    """One database's side of a :class:`StateDB`: reads, and single-statement writes."""

    def query(self, sql: str, params: dict[str, Any]) -> list[Row]:
        """Rows of a ``SELECT``."""
        ...

    def execute(self, sql: str, params: dict[str, Any]) -> tuple[int, list[Row]]:
        """One write in its own transaction: ``(rows changed, rows RETURNING gave)``;
        :class:`DuplicateKey` for a key that exists."""
        ...

    def close(self) -> None:
        """Release the connection (never an engine the state store owns)."""
        ...


class StateDB:
    """Runs statements (named ``:param`` placeholders) on the state database.

    *dialect* (``sqlite`` or ``postgresql``) says which SQL the caller writes;
    *where* is where the tables live, for messages.
    """

    def __init__(self, conn: Connection, *, where: str, dialect: str) -> None:
        self.conn = conn
        self.where = where
        self.dialect = dialect

    def query(self, sql: str, params: dict[str, Any]) -> list[Row]:
        """Rows of a ``SELECT``."""
        return self.conn.query(sql, params)

    def write(self, sql: str, params: dict[str, Any]) -> int:
        """Run one write in its own transaction; the rows changed (:class:`DuplicateKey`)."""
        changed, rows = self.conn.execute(sql, params)
        return max(changed, len(rows))

    def write_returning(self, sql: str, params: dict[str, Any]) -> list[Row]:
        """Run one write with ``RETURNING`` in its own transaction; the rows it returned."""
        return self.conn.execute(sql, params)[1]

    def close(self) -> None:
        """Release the connection (never an engine the state store owns)."""
        self.conn.close()


class SqliteConnection:
    """Its own connection to a SQLite state file (thread-safe), each write in
    ``BEGIN IMMEDIATE`` ... ``COMMIT``."""

    def __init__(self, path: Path, busy_timeout_ms: int = 30000) -> None:
        from sparkwing.storage.sql.migrations import ensure_sqlite_schema

        self._lock = threading.Lock()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")  # as the state store: WAL makes it safe
        ensure_sqlite_schema(self._conn, f"state store {path}")

    def query(self, sql: str, params: dict[str, Any]) -> list[Row]:
        """Rows of a ``SELECT``."""
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def execute(self, sql: str, params: dict[str, Any]) -> tuple[int, list[Row]]:
        """One write in ``BEGIN IMMEDIATE`` ... ``COMMIT``: ``(changed, returned rows)``."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self._conn.execute(sql, params)
                rows = list(cur.fetchall())
                changed = cur.rowcount
                self._conn.execute("COMMIT")
            except BaseException as exc:
                self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    raise DuplicateKey() from None
                raise
        return changed, rows

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


class EngineConnection:
    """A SQLAlchemy engine (the PostgreSQL state store's), each write one autocommitted
    statement.

    *owner*, when given, is a state store opened only for this connection: it
    is closed with it (never a store someone else owns).
    """

    def __init__(self, engine: Any, owner: Any = None) -> None:
        import sqlalchemy as sa

        self._engine = engine
        self._owner = owner
        self._text: dict[str, Any] = {}
        self._sa = sa

    def _stmt(self, sql: str) -> Any:
        stmt = self._text.get(sql)
        if stmt is None:
            stmt = self._text[sql] = self._sa.text(sql)
        return stmt

    def query(self, sql: str, params: dict[str, Any]) -> list[Row]:
        """Rows of a ``SELECT``."""
        with self._engine.connect() as conn:
            return [tuple(r) for r in conn.execute(self._stmt(sql), params).fetchall()]

    def execute(self, sql: str, params: dict[str, Any]) -> tuple[int, list[Row]]:
        """One statement, committed by itself (autocommit: one round trip, atomic on its own)."""
        try:
            with self._engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                result = conn.execute(self._stmt(sql), params)
                rows = [tuple(r) for r in result.fetchall()] if result.returns_rows else []
                return int(result.rowcount), rows
        except self._sa.exc.IntegrityError:
            raise DuplicateKey() from None

    def close(self) -> None:
        """Close the state store opened for this connection, if any (never a shared engine)."""
        if self._owner is not None:
            self._owner.close()
            self._owner = None


def sqlite_state_db(path: Path | str) -> StateDB:
    """The SQLite state file *path* (created and migrated if needed)."""
    return StateDB(SqliteConnection(Path(path)), where=str(path), dialect="sqlite")


def postgres_state_db(config: dict[str, Any]) -> StateDB:
    """The PostgreSQL database of a ``state`` block (``url``, ``schema``, ...).

    Opens (and migrates) a PostgreSQL state store for its engine; closing the
    handle closes it.
    """
    from sparkwing_postgres.store import PostgresStateStore

    store = PostgresStateStore.from_config(config)
    return StateDB(EngineConnection(store.engine, owner=store), where=repr(store),
                   dialect="postgresql")


def open_state_db(stores: Stores, what: str) -> StateDB:
    """The state database of *stores*; :class:`ConfigError` for backends other than SQLite
    and PostgreSQL (*what* names the tables wanted, e.g. ``its tokens``)."""
    state = stores.state
    kind = type(state).__name__
    path = getattr(state, "path", None)
    if kind == "SqliteStateStore" and isinstance(path, Path):
        return sqlite_state_db(path)
    engine = getattr(state, "engine", None)
    if kind == "PostgresStateStore" and engine is not None:
        return StateDB(EngineConnection(engine), where=f"{stores.resolved.name} (postgres)",
                       dialect="postgresql")
    backend = stores.resolved.profile.state.get("type", kind)
    raise ConfigError(
        f"profile {stores.resolved.name or '?'}: the controller keeps {what} in the state "
        f"store, which must be sqlite or postgres (state type {backend!r})"
    )

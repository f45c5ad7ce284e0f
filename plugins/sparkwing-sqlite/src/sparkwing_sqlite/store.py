"""The SQLite state store: :class:`SqliteStateStore`, standard library only.

One connection per store object, in autocommit mode; every write is one
short ``BEGIN IMMEDIATE`` transaction, so writers from several processes
queue on SQLite's lock (up to the busy timeout) instead of failing, and
values computed from the database inside a write (event sequence numbers,
insertion positions, concurrency decisions) cannot race. A
:class:`threading.Lock` serialises the threads of one process sharing a
store. SQL text is built once at import; sqlite3 keeps the prepared
statements.

The schema comes from :mod:`sparkwing.storage.sql.schema`; opening a store
applies missing migrations (:mod:`sparkwing.storage.sql.migrations`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sparkwing.errors import NotFoundError, StoreError
from sparkwing.storage.contracts import StateWrite
from sparkwing.storage.sql import schema
from sparkwing.storage.sql.rows import RowCodec, encode_json
from sparkwing.storage.sql.rules import check_resolution, lost_error, lost_node_error

from .connection import busy_timeout_ms, describe, open_connection

if TYPE_CHECKING:  # record classes are made on first use (the codecs name them)
    from sparkwing.storage.records import (
        AcquireResult,
        Approval,
        CacheEntry,
        Event,
        Lease,
        Node,
        Pause,
        Run,
        RunFilter,
        Step,
        TriggerRow,
    )

_RUN = RowCodec(schema.RUNS, "Run", immutable=("id",))
_NODE = RowCodec(schema.NODES, "Node", immutable=("run_id", "node_id"))
_STEP = RowCodec(schema.NODE_STEPS, "Step")
_EVENT = RowCodec(schema.EVENTS, "Event")
_APPROVAL = RowCodec(schema.APPROVALS, "Approval")
_CACHE = RowCodec(schema.CACHE_ENTRIES, "CacheEntry")
_PAUSE = RowCodec(schema.DEBUG_PAUSES, "Pause")
_HOLDER = RowCodec(schema.CONCURRENCY_HOLDERS, "Lease")
_WAITER = RowCodec(schema.CONCURRENCY_WAITERS, "Lease")
_TRIGGER = RowCodec(schema.TRIGGERS, "TriggerRow")

def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _insert(codec: RowCodec, extra: str = "", extra_value: str = "") -> str:
    cols = codec.select + (f", {extra}" if extra else "")
    vals = _marks(len(codec.columns)) + (f", {extra_value}" if extra else "")
    return f"INSERT INTO {codec.table.name} ({cols}) VALUES ({vals})"


def _upsert_set(codec: RowCodec, keys: Sequence[str]) -> str:
    return ", ".join(f"{c} = excluded.{c}" for c in codec.columns if c not in keys)


# -- SQL text, built once ------------------------------------------------------------

_SQL_INSERT_RUN = _insert(_RUN)
_SQL_GET_RUN = f"SELECT {_RUN.select} FROM runs WHERE id = ?"
_SQL_RUN_EXISTS = "SELECT 1 FROM runs WHERE id = ?"

_SQL_INSERT_NODE = _insert(_NODE, "position", "?")
_SQL_MAX_NODE_POS = "SELECT COALESCE(MAX(position), 0) FROM nodes WHERE run_id = ?"
_SQL_GET_NODE = f"SELECT {_NODE.select} FROM nodes WHERE run_id = ? AND node_id = ?"
_SQL_LIST_NODES = f"SELECT {_NODE.select} FROM nodes WHERE run_id = ? ORDER BY position"
_SQL_NODE_EXISTS = "SELECT 1 FROM nodes WHERE run_id = ? AND node_id = ?"

_SQL_UPSERT_STEP = (
    _insert(
        _STEP, "position",
        "(SELECT COALESCE(MAX(position), 0) + 1 FROM node_steps WHERE run_id = ?)",
    )
    + " ON CONFLICT (run_id, node_id, step_id) DO UPDATE SET "
    + _upsert_set(_STEP, ("run_id", "node_id", "step_id"))
)
_SQL_LIST_STEPS = f"SELECT {_STEP.select} FROM node_steps WHERE run_id = ? ORDER BY position"
_SQL_LIST_NODE_STEPS = (
    f"SELECT {_STEP.select} FROM node_steps WHERE run_id = ? AND node_id = ? ORDER BY position"
)

# The run's counter is bumped inside the immediate transaction: gap-free per run.
_SQL_NEXT_SEQ = "UPDATE runs SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq"
_SQL_RESERVE_SEQS = "UPDATE runs SET event_seq = event_seq + ? WHERE id = ? RETURNING event_seq"
_SQL_INSERT_EVENT = (
    "INSERT INTO events (run_id, seq, node_id, kind, ts, payload_json) VALUES (?, ?, ?, ?, ?, ?)"
)
_SQL_LIST_EVENTS = (
    f"SELECT {_EVENT.select} FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)

_SQL_DELETE_RUN = (
    *(
        f"DELETE FROM {t} WHERE run_id = ?"
        for t in ("node_steps", "nodes", "events", "approvals", "debug_pauses")
    ),
    "DELETE FROM runs WHERE id = ?",
)

_SQL_STALE_RUNS = (
    "SELECT id FROM runs AS r WHERE status IN ('pending', 'running') "
    "AND COALESCE(last_heartbeat_at, started_at, created_at) < ? "
    "AND NOT EXISTS (SELECT 1 FROM nodes AS n WHERE n.run_id = r.id "
    "AND n.last_heartbeat_at >= ?) ORDER BY id"
)
_SQL_REAP_RUN = "UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?"
_SQL_REAP_NODES = (
    "UPDATE nodes SET status = 'done', outcome = 'cancelled', "
    "finished_at = COALESCE(finished_at, ?), "
    "error = CASE WHEN error = '' THEN ? ELSE error END "
    "WHERE run_id = ? AND status != 'done'"
)
_SQL_REAP_STEPS = (
    "UPDATE node_steps SET status = 'cancelled', finished_at = COALESCE(finished_at, ?) "
    "WHERE run_id = ? AND status = 'running'"
)

_SQL_CREATE_APPROVAL = _insert(_APPROVAL) + " ON CONFLICT (run_id, node_id) DO NOTHING"
_SQL_GET_APPROVAL = f"SELECT {_APPROVAL.select} FROM approvals WHERE run_id = ? AND node_id = ?"
_SQL_RESOLVE_APPROVAL = (
    "UPDATE approvals SET resolution = ?, approver = ?, comment = ?, resolved_at = ? "
    "WHERE run_id = ? AND node_id = ? AND resolution = ''"
)

_SQL_CACHE_HIT = (
    "UPDATE cache_entries SET hits = hits + 1, last_hit_at = ? "
    "WHERE key = ? AND (expires_at <= 0 OR expires_at > ?) "
    f"RETURNING {_CACHE.select}"
)
_SQL_CACHE_PUT = (
    _insert(_CACHE) + " ON CONFLICT (key) DO UPDATE SET " + _upsert_set(_CACHE, ("key",))
)
_SQL_CACHE_DELETE = "DELETE FROM cache_entries WHERE key = ?"
_SQL_CACHE_PRUNE = "DELETE FROM cache_entries WHERE expires_at > 0 AND expires_at <= ?"

_SQL_REAP_HOLDERS = "DELETE FROM concurrency_holders WHERE key = ? AND lease_expires_at <= ?"
_SQL_REAP_WAITERS = "DELETE FROM concurrency_waiters WHERE key = ? AND lease_expires_at <= ?"
_HOLDER_ORDER = "ORDER BY claimed_at, arrived_at, holder_id"
_WAITER_ORDER = "ORDER BY arrived_at, ticket"
_SQL_HOLDERS = f"SELECT holder_id, cost FROM concurrency_holders WHERE key = ? {_HOLDER_ORDER}"
_SQL_WAITERS = (
    "SELECT holder_id, cost, arrived_at, ticket FROM concurrency_waiters "
    f"WHERE key = ? {_WAITER_ORDER}"
)
_SQL_RENEW_HOLDER_ON_KEY = (
    "UPDATE concurrency_holders SET lease_expires_at = ? WHERE key = ? AND holder_id = ?"
)
_SQL_UPDATE_WAITER = (
    "UPDATE concurrency_waiters SET lease_expires_at = ?, cost = ?, capacity = ?, "
    "run_id = ?, node_id = ? WHERE key = ? AND holder_id = ?"
)
_SQL_INSERT_WAITER = (
    "INSERT INTO concurrency_waiters (key, holder_id, run_id, node_id, cost, capacity, "
    "arrived_at, ticket, lease_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQL_DELETE_WAITER = "DELETE FROM concurrency_waiters WHERE key = ? AND holder_id = ?"
_SQL_DELETE_HOLDER = "DELETE FROM concurrency_holders WHERE key = ? AND holder_id = ?"
_SQL_INSERT_HOLDER = (
    "INSERT INTO concurrency_holders (key, holder_id, run_id, node_id, cost, capacity, "
    "arrived_at, claimed_at, lease_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQL_RENEW_HOLDER = "UPDATE concurrency_holders SET lease_expires_at = ? WHERE holder_id = ?"
_SQL_RENEW_WAITER = "UPDATE concurrency_waiters SET lease_expires_at = ? WHERE holder_id = ?"
_SQL_STATE_HOLDERS = (
    f"SELECT {_HOLDER.select} FROM concurrency_holders WHERE key = ? AND lease_expires_at > ? "
    + _HOLDER_ORDER
)
_SQL_STATE_WAITERS = (
    f"SELECT {_WAITER.select} FROM concurrency_waiters WHERE key = ? AND lease_expires_at > ? "
    + _WAITER_ORDER
)

_SQL_UPSERT_PAUSE = (
    _insert(_PAUSE)
    + " ON CONFLICT (run_id, node_id) DO UPDATE SET "
    + _upsert_set(_PAUSE, ("run_id", "node_id"))
)
_SQL_GET_PAUSE = f"SELECT {_PAUSE.select} FROM debug_pauses WHERE run_id = ? AND node_id = ?"
_SQL_INSERT_TRIGGER = _insert(_TRIGGER) + " ON CONFLICT (idempotency_key) DO NOTHING"
_SQL_TRIGGER_BY_KEY = f"SELECT {_TRIGGER.select} FROM triggers WHERE idempotency_key = ?"
_SQL_GET_TRIGGER = f"SELECT {_TRIGGER.select} FROM triggers WHERE id = ?"
_SQL_CLAIM_TRIGGER = (
    "UPDATE triggers SET status = 'claimed', claimed_by = ?, claimed_at = ?, "
    "lease_expires_at = ?, claim_request = ?, claims = claims + 1 WHERE id = (SELECT id FROM triggers "
    "WHERE status = 'pending' {extra}ORDER BY created_at, id LIMIT 1) "
    f"RETURNING {_TRIGGER.select}"
)
_SQL_RENEW_TRIGGER = (
    "UPDATE triggers SET lease_expires_at = ? "
    "WHERE id = ? AND status = 'claimed' AND claimed_by = ? AND (? = 0 OR claims = ?)"
)
_SQL_FINISH_TRIGGER = (
    "UPDATE triggers SET status = ?, run_id = ?, error = ?, finished_at = ?, claimed_by = '', "
    "lease_expires_at = NULL WHERE id = ? AND status = 'claimed' AND claimed_by = ? "
    "AND (? = 0 OR claims = ?)"
)
_SQL_CLAIMED_UNDER = (
    f"SELECT {_TRIGGER.select} FROM triggers WHERE claim_request = ? AND status = 'claimed' "
    "AND claimed_by = ?"
)
_SQL_EXPIRED_TRIGGERS = (
    "UPDATE triggers SET status = 'pending', claimed_by = '', lease_expires_at = NULL, "
    "claim_request = NULL "
    "WHERE status = 'claimed' AND lease_expires_at <= ? RETURNING id, created_at"
)

_SQL_RELEASE_PAUSE = (
    "UPDATE debug_pauses SET released_at = ?, released_by = ?, release_kind = ? "
    "WHERE run_id = ? AND node_id = ? AND released_at IS NULL"
)


def _append(c: sqlite3.Connection, run_id: str, params: tuple[str, str, float, str]
            ) -> int | None:
    """Append one event (``params``: node id, kind, ts, payload) in the open write; its seq.

    ``None`` when the run does not exist.
    """
    rows = c.execute(_SQL_NEXT_SEQ, (run_id,)).fetchall()
    if not rows:
        return None
    seq = int(rows[0][0])
    c.execute(_SQL_INSERT_EVENT, (run_id, seq, *params))
    return seq


class _Tx:
    """Holds the store's lock around one transaction (or one autocommit read).

    *begin* is ``"BEGIN IMMEDIATE"`` for writes, ``"BEGIN"`` for reads that
    need one snapshot, or ``""`` for single-statement reads. SQLite errors
    the method did not turn into its own error become :class:`StoreError`.
    """

    __slots__ = ("_begin", "_store")

    def __init__(self, store: SqliteStateStore, begin: str) -> None:
        self._store = store
        self._begin = begin

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.acquire()
        conn = store._conn
        if self._begin:
            try:
                conn.execute(self._begin)
            except sqlite3.Error as exc:
                store._lock.release()
                raise store._error(exc) from exc
        return conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        store = self._store
        conn = store._conn
        try:
            if self._begin:
                if exc_type is None:
                    try:
                        conn.execute("COMMIT")
                    except sqlite3.Error as err:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise store._error(err) from err
                elif conn.in_transaction:
                    conn.execute("ROLLBACK")
        finally:
            store._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise store._error(exc) from exc


class SqliteStateStore:
    """A :class:`~sparkwing.storage.contracts.StateStore` in one SQLite file.

    Safe to share between the threads of a process and to open from many
    processes at once. The busy timeout comes from
    ``SPARKWING_SQLITE_BUSY_TIMEOUT_MS`` (default 30000 ms).

    Beyond the contract's docstrings: updating a missing run or node raises
    :class:`~sparkwing.errors.NotFoundError` (as do appending an event to,
    or creating nodes of, a missing run); updating an unknown or key field
    raises :class:`ValueError`; a cache entry with ``expires_at <= 0``
    never expires.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection = open_connection(self.path, self.busy_timeout_ms)
        self._w = _Tx(self, "BEGIN IMMEDIATE")
        self._snapshot = _Tx(self, "BEGIN")
        self._r = _Tx(self, "")
        self._update_sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteStateStore({str(self.path)!r})"

    def __enter__(self) -> SqliteStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(
                f"{describe(self.path)} stayed locked for {self.busy_timeout_ms} ms "
                "(another process holds a long write; raise SPARKWING_SQLITE_BUSY_TIMEOUT_MS "
                "to wait longer)"
            )
        return StoreError(f"{describe(self.path)}: {text}")

    def _update_statement(self, table: str, cols: tuple[str, ...], where: str) -> str:
        key = (table, cols)
        sql = self._update_sql.get(key)
        if sql is None:
            sets = ", ".join(f"{c} = ?" for c in cols)
            sql = f"UPDATE {table} SET {sets} WHERE {where}"
            self._update_sql[key] = sql
        return sql

    # -- lifecycle ------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    # -- runs -----------------------------------------------------------

    def create_run(self, run: Run) -> None:
        """Insert a new run; :class:`StoreError` if the id exists."""
        values = _RUN.values(run)
        with self._w as c:
            try:
                c.execute(_SQL_INSERT_RUN, values)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"run {run.id} already exists in {describe(self.path)}") from exc

    def update_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        """Set the given :class:`Run` fields; :class:`NotFoundError` if the run is missing."""
        cols, vals = _RUN.assignments(fields)
        with self._w as c:
            if cols:
                vals.append(run_id)
                cur = c.execute(self._update_statement("runs", cols, "id = ?"), vals)
                found = cur.rowcount > 0
            else:
                found = c.execute(_SQL_RUN_EXISTS, (run_id,)).fetchone() is not None
            if not found:
                raise NotFoundError(f"run {run_id} not found")

    def get_run(self, run_id: str) -> Run | None:
        """Return the run or ``None``."""
        with self._r as c:
            row = c.execute(_SQL_GET_RUN, (run_id,)).fetchone()
        return None if row is None else _RUN.decode(row)

    def list_runs(self, flt: RunFilter | None = None) -> list[Run]:
        """Return runs matching *flt*, newest first by id (``limit <= 0``: no limit)."""
        from sparkwing.storage.sql import runfilter  # listing only: off a run's start-up path

        if flt is None:
            from sparkwing.storage.records import RunFilter

            flt = RunFilter()
        where: list[str] = []
        params: list[Any] = []
        for cond in runfilter.conditions(flt):
            column = cond.columns[0]
            if cond.op in (runfilter.IN, runfilter.NOT_IN):
                neg = "NOT " if cond.op == runfilter.NOT_IN else ""
                where.append(f"{column} {neg}IN ({_marks(len(cond.value))})")
                params.extend(cond.value)
            elif cond.op == runfilter.ILIKE_ANY:  # SQLite's LIKE ignores ASCII case
                where.append(
                    "(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in cond.columns) + ")"
                )
                params.extend([cond.value] * len(cond.columns))
            else:
                op = {runfilter.EQ: "=", runfilter.GE: ">=", runfilter.LT: "<"}[cond.op]
                where.append(f"{column} {op} ?")
                params.append(cond.value)
        sql = f"SELECT {_RUN.select} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(flt.limit if flt.limit > 0 else -1)
        with self._r as c:
            rows = c.execute(sql, params).fetchall()
        return [_RUN.decode(r) for r in rows]

    def delete_run(self, run_id: str) -> bool:
        """Delete a run and everything recorded under it; ``False`` if it did not exist."""
        with self._w as c:
            for sql in _SQL_DELETE_RUN[:-1]:
                c.execute(sql, (run_id,))
            return c.execute(_SQL_DELETE_RUN[-1], (run_id,)).rowcount > 0

    def reap_stale_runs(self, stale_before: float, now: float) -> list[str]:
        """Fail live runs with no run or node heartbeat since *stale_before*; return their ids.

        A run's heartbeat falls back to its start, then creation, time.
        Unfinished nodes become ``done``/``cancelled``, running steps ``cancelled``.
        """
        error = lost_error(stale_before)
        node_error = lost_node_error(stale_before)
        with self._w as c:
            ids = [r[0] for r in c.execute(_SQL_STALE_RUNS, (stale_before, stale_before))]
            for run_id in ids:
                c.execute(_SQL_REAP_RUN, (now, error, run_id))
                c.execute(_SQL_REAP_NODES, (now, node_error, run_id))
                c.execute(_SQL_REAP_STEPS, (now, run_id))
        return ids

    # -- nodes ----------------------------------------------------------

    def create_nodes(self, run_id: str, nodes: Sequence[Node]) -> None:
        """Insert nodes in one transaction (in the given order, after existing ones)."""
        run_col = _NODE.columns.index("run_id")
        rows: list[list[Any]] = []
        for node in nodes:
            if node.run_id and node.run_id != run_id:
                raise ValueError(f"node {node.node_id} belongs to run {node.run_id}, not {run_id}")
            values = list(_NODE.values(node))
            values[run_col] = run_id
            rows.append(values)
        if not rows:
            return
        with self._w as c:
            (base,) = c.execute(_SQL_MAX_NODE_POS, (run_id,)).fetchone()
            for i, values in enumerate(rows, start=1):
                values.append(base + i)
            try:
                c.executemany(_SQL_INSERT_NODE, rows)
            except sqlite3.IntegrityError as exc:
                if "FOREIGN KEY" in str(exc):
                    raise NotFoundError(f"run {run_id} not found") from exc
                raise StoreError(f"run {run_id}: duplicate node id ({exc})") from exc

    def update_node(
        self,
        run_id: str,
        node_id: str,
        fields: Mapping[str, Any],
        event: tuple[str, Mapping[str, Any]] | None = None,
    ) -> int | None:
        """Set node fields and optionally append an event, atomically; return its seq."""
        cols, vals = _NODE.assignments(fields)
        if event is not None:
            event_params = (node_id, event[0], time.time(), encode_json(event[1]))
        with self._w as c:
            if cols:
                vals.append(run_id)
                vals.append(node_id)
                sql = self._update_statement("nodes", cols, "run_id = ? AND node_id = ?")
                found = c.execute(sql, vals).rowcount > 0
            else:
                found = c.execute(_SQL_NODE_EXISTS, (run_id, node_id)).fetchone() is not None
            if not found:
                raise NotFoundError(f"node {node_id} of run {run_id} not found")
            if event is None:
                return None
            return _append(c, run_id, event_params)

    def write_batch(self, writes: Sequence[StateWrite]) -> None:
        """Apply node updates, step upserts and events in order, in one transaction.

        Inside the one transaction nobody sees the order of statements, so the
        batch is applied in as few as it can: a node's updates merged into one
        ``UPDATE`` (later fields win, as applied in order), one sequence
        reservation per run and one multi-row insert for the events (their
        ``seq`` follow the order of *writes*).
        """
        if not writes:
            return
        node_fields: dict[tuple[str, str], dict[str, Any]] = {}
        steps: list[Step] = []
        events: list[tuple[str, tuple[str, str, float, str]]] = []
        per_run: dict[str, int] = {}
        for w in writes:
            if w.fields is not None:
                merged = node_fields.get((w.run_id, w.node_id))
                if merged is None:
                    node_fields[(w.run_id, w.node_id)] = dict(w.fields)
                else:
                    merged.update(w.fields)
            if w.step is not None:
                steps.append(w.step)
            if w.event is not None:
                events.append((w.run_id, (w.node_id, w.event[0],
                                           time.time() if w.ts is None else w.ts,
                                           encode_json(w.event[1]))))
                per_run[w.run_id] = per_run.get(w.run_id, 0) + 1
        # nodes whose updates set the same columns share one statement (executemany)
        by_columns: dict[tuple[str, ...], list[list[Any]]] = {}
        for (run_id, node_id), fields in node_fields.items():
            cols, vals = _NODE.assignments(fields)
            vals.append(run_id)
            vals.append(node_id)
            by_columns.setdefault(cols, []).append(vals)
        with self._w as c:
            for cols, rows in by_columns.items():
                if not cols:
                    changed = sum(1 for r in rows
                                  if c.execute(_SQL_NODE_EXISTS, r).fetchone() is not None)
                else:
                    changed = c.executemany(self._update_statement(
                        "nodes", cols, "run_id = ? AND node_id = ?"), rows).rowcount
                if changed != len(rows):
                    for r in rows:
                        if c.execute(_SQL_NODE_EXISTS, r[-2:]).fetchone() is None:
                            raise NotFoundError(f"node {r[-1]} of run {r[-2]} not found")
            for step in steps:
                try:
                    c.execute(_SQL_UPSERT_STEP, (*_STEP.values(step), step.run_id))
                except sqlite3.IntegrityError as exc:
                    raise NotFoundError(
                        f"node {step.node_id} of run {step.run_id} not found") from exc
            if events:
                next_seq: dict[str, int] = {}
                for run_id, count in per_run.items():
                    rows = c.execute(_SQL_RESERVE_SEQS, (count, run_id)).fetchall()
                    if not rows:
                        raise NotFoundError(f"run {run_id} not found")
                    next_seq[run_id] = int(rows[0][0]) - count + 1
                rows_out = []
                for run_id, params in events:
                    seq = next_seq[run_id]
                    next_seq[run_id] = seq + 1
                    rows_out.append((run_id, seq, *params))
                c.executemany(_SQL_INSERT_EVENT, rows_out)

    def get_node(self, run_id: str, node_id: str) -> Node | None:
        """Return one node or ``None``."""
        with self._r as c:
            row = c.execute(_SQL_GET_NODE, (run_id, node_id)).fetchone()
        return None if row is None else _NODE.decode(row)

    def list_nodes(self, run_id: str) -> list[Node]:
        """Return a run's nodes in insertion order."""
        with self._r as c:
            rows = c.execute(_SQL_LIST_NODES, (run_id,)).fetchall()
        return [_NODE.decode(r) for r in rows]

    # -- steps ----------------------------------------------------------

    def upsert_step(self, step: Step) -> None:
        """Insert or replace a step row (a replaced step keeps its position)."""
        params = (*_STEP.values(step), step.run_id)
        with self._w as c:
            try:
                c.execute(_SQL_UPSERT_STEP, params)
            except sqlite3.IntegrityError as exc:
                raise NotFoundError(f"node {step.node_id} of run {step.run_id} not found") from exc

    def list_steps(self, run_id: str, node_id: str | None = None) -> list[Step]:
        """Return steps of a run (or of one node) in insertion order."""
        with self._r as c:
            if node_id is None:
                rows = c.execute(_SQL_LIST_STEPS, (run_id,)).fetchall()
            else:
                rows = c.execute(_SQL_LIST_NODE_STEPS, (run_id, node_id)).fetchall()
        return [_STEP.decode(r) for r in rows]

    # -- events ---------------------------------------------------------

    def append_event(
        self, run_id: str, kind: str, payload: Mapping[str, Any], node_id: str = "",
        ts: float | None = None,
    ) -> int:
        """Append to the run's event stream and return the new gap-free ``seq``."""
        params = (node_id, kind, time.time() if ts is None else ts, encode_json(payload))
        with self._w as c:
            seq = _append(c, run_id, params)
            if seq is None:
                raise NotFoundError(f"run {run_id} not found")
            return seq

    def list_events(self, run_id: str, after_seq: int = 0, limit: int = 500) -> list[Event]:
        """Return events with ``seq > after_seq`` in order, at most *limit* (``<= 0``: all)."""
        with self._r as c:
            rows = c.execute(
                _SQL_LIST_EVENTS, (run_id, after_seq, limit if limit > 0 else -1)
            ).fetchall()
        return [_EVENT.decode(r) for r in rows]

    # -- approvals --------------------------------------------------------

    def create_approval(self, approval: Approval) -> None:
        """Record an approval request; a second request for the same node changes nothing."""
        with self._w as c:
            try:
                c.execute(_SQL_CREATE_APPROVAL, _APPROVAL.values(approval))
            except sqlite3.IntegrityError as exc:
                raise NotFoundError(f"run {approval.run_id} not found") from exc

    def get_approval(self, run_id: str, node_id: str) -> Approval | None:
        """Return the approval or ``None``."""
        with self._r as c:
            row = c.execute(_SQL_GET_APPROVAL, (run_id, node_id)).fetchone()
        return None if row is None else _APPROVAL.decode(row)

    def resolve_approval(
        self, run_id: str, node_id: str, resolution: str, approver: str, comment: str,
        now: float,
    ) -> bool:
        """Resolve a pending approval once; ``False`` if missing or already resolved."""
        check_resolution(resolution)
        with self._w as c:
            cur = c.execute(
                _SQL_RESOLVE_APPROVAL, (resolution, approver, comment, now, run_id, node_id)
            )
            return cur.rowcount > 0

    def list_approvals(
        self, run_id: str | None = None, pending_only: bool = False
    ) -> list[Approval]:
        """Return approvals (oldest request first), optionally of one run / only pending."""
        rows = self._select_by_run(
            _APPROVAL, "approvals", run_id, "resolution = ''" if pending_only else "",
            "requested_at",
        )
        return [_APPROVAL.decode(r) for r in rows]

    # -- memo cache index ---------------------------------------------------

    def cache_get(self, key: str, now: float) -> CacheEntry | None:
        """Return the unexpired entry for *key*, recording the hit, or ``None``."""
        with self._w as c:
            rows = c.execute(_SQL_CACHE_HIT, (now, key, now)).fetchall()
        return _CACHE.decode(rows[0]) if rows else None

    def cache_put(self, entry: CacheEntry) -> None:
        """Insert or replace the entry for ``entry.key``."""
        with self._w as c:
            c.execute(_SQL_CACHE_PUT, _CACHE.values(entry))

    def cache_list(self, prefix: str = "", include_expired: bool = False) -> list[CacheEntry]:
        """Return entries whose key starts with *prefix*, newest first (expiry by wall clock)."""
        where: list[str] = []
        params: list[Any] = []
        if prefix:
            where.append("substr(key, 1, ?) = ?")
            params.extend((len(prefix), prefix))
        if not include_expired:
            where.append("(expires_at <= 0 OR expires_at > ?)")
            params.append(time.time())
        sql = f"SELECT {_CACHE.select} FROM cache_entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, key"
        with self._r as c:
            rows = c.execute(sql, params).fetchall()
        return [_CACHE.decode(r) for r in rows]

    def cache_delete(self, key: str) -> bool:
        """Delete one entry; ``False`` if it did not exist."""
        with self._w as c:
            return c.execute(_SQL_CACHE_DELETE, (key,)).rowcount > 0

    def cache_prune(self, now: float) -> int:
        """Delete expired entries and return how many went."""
        with self._w as c:
            return c.execute(_SQL_CACHE_PRUNE, (now,)).rowcount

    # -- concurrency leases ---------------------------------------------------

    def concurrency_acquire(
        self, key: str, holder_id: str, *, capacity: int, cost: int, lease_s: float,
        now: float, run_id: str = "", node_id: str = "",
    ) -> AcquireResult:
        """Take *cost* units of *key* for *holder_id* or queue it (FIFO), atomically."""
        # Only runs with concurrency keys take leases: the policy loads on first use.
        from sparkwing.storage.sql.admission import GRANT, REGRANT, Holder, Waiter, admit

        expires = now + lease_s
        with self._w as c:
            c.execute(_SQL_REAP_HOLDERS, (key, now))
            c.execute(_SQL_REAP_WAITERS, (key, now))
            holders = [Holder(*h) for h in c.execute(_SQL_HOLDERS, (key,))]
            waiters = [Waiter(*w) for w in c.execute(_SQL_WAITERS, (key,))]
            d = admit(holders, waiters, holder_id, cost=cost, capacity=capacity, now=now)
            if d.action == REGRANT:
                c.execute(_SQL_RENEW_HOLDER_ON_KEY, (expires, key, holder_id))
            elif d.action == GRANT:
                if d.was_waiting:
                    c.execute(_SQL_DELETE_WAITER, (key, holder_id))
                c.execute(
                    _SQL_INSERT_HOLDER,
                    (key, holder_id, run_id, node_id, cost, capacity, d.arrived_at, now, expires),
                )
            elif d.was_waiting:
                c.execute(
                    _SQL_UPDATE_WAITER,
                    (expires, cost, capacity, run_id, node_id, key, holder_id),
                )
            else:
                c.execute(
                    _SQL_INSERT_WAITER,
                    (key, holder_id, run_id, node_id, cost, capacity, d.arrived_at, d.ticket,
                     expires),
                )
        from sparkwing.storage.records import AcquireResult

        return AcquireResult(d.action in (REGRANT, GRANT), d.active, d.ahead, d.holders)

    def concurrency_renew(self, holder_id: str, lease_expires_at: float) -> None:
        """Extend every lease (held or waiting) of *holder_id*."""
        with self._w as c:
            c.execute(_SQL_RENEW_HOLDER, (lease_expires_at, holder_id))
            c.execute(_SQL_RENEW_WAITER, (lease_expires_at, holder_id))

    def concurrency_release(self, key: str, holder_id: str) -> None:
        """Drop *holder_id*'s hold or wait on *key* (no-op when absent)."""
        with self._w as c:
            c.execute(_SQL_DELETE_HOLDER, (key, holder_id))
            c.execute(_SQL_DELETE_WAITER, (key, holder_id))

    def concurrency_state(self, key: str, now: float) -> tuple[list[Lease], list[Lease]]:
        """Return ``(holders, waiters)`` of *key*, unexpired, oldest first."""
        with self._snapshot as c:
            holders = c.execute(_SQL_STATE_HOLDERS, (key, now)).fetchall()
            waiters = c.execute(_SQL_STATE_WAITERS, (key, now)).fetchall()
        return [_HOLDER.decode(r) for r in holders], [_WAITER.decode(r) for r in waiters]

    # -- debug pauses -----------------------------------------------------------

    def create_pause(self, pause: Pause) -> None:
        """Record a pause on a node, replacing an earlier one for the same node."""
        with self._w as c:
            try:
                c.execute(_SQL_UPSERT_PAUSE, _PAUSE.values(pause))
            except sqlite3.IntegrityError as exc:
                raise NotFoundError(f"run {pause.run_id} not found") from exc

    def get_pause(self, run_id: str, node_id: str) -> Pause | None:
        """Return the node's pause or ``None``."""
        with self._r as c:
            row = c.execute(_SQL_GET_PAUSE, (run_id, node_id)).fetchone()
        return None if row is None else _PAUSE.decode(row)

    def release_pause(self, run_id: str, node_id: str, by: str, kind: str, now: float) -> bool:
        """Release a held pause; ``False`` if missing or already released."""
        with self._w as c:
            return c.execute(_SQL_RELEASE_PAUSE, (now, by, kind, run_id, node_id)).rowcount > 0

    def _select_by_run(
        self, codec: RowCodec, table: str, run_id: str | None, condition: str, first_order: str,
    ) -> list[tuple[Any, ...]]:
        """Rows of *table*, optionally of one run and/or matching *condition*, oldest first."""
        where: list[str] = [condition] if condition else []
        params: list[Any] = []
        if run_id is not None:
            where.insert(0, "run_id = ?")
            params.append(run_id)
        sql = f"SELECT {codec.select} FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {first_order}, run_id, node_id"
        with self._r as c:
            return c.execute(sql, params).fetchall()

    def list_pauses(self, run_id: str | None = None, held_only: bool = False) -> list[Pause]:
        """Return pauses (oldest first), optionally of one run / only those still held."""
        rows = self._select_by_run(
            _PAUSE, "debug_pauses", run_id, "released_at IS NULL" if held_only else "", "paused_at"
        )
        return [_PAUSE.decode(r) for r in rows]

    # -- triggers ---------------------------------------------------------------

    def insert_trigger(self, row: TriggerRow) -> tuple[TriggerRow, bool]:
        """Record *row* unless its idempotency key exists; ``(stored row, inserted?)``."""
        values = _TRIGGER.values(row)
        with self._w as c:
            try:
                created = c.execute(_SQL_INSERT_TRIGGER, values).rowcount > 0
            except sqlite3.IntegrityError as exc:
                raise StoreError(
                    f"trigger {row.id} already exists in {describe(self.path)} under another key"
                ) from exc
            stored = c.execute(_SQL_TRIGGER_BY_KEY, (row.idempotency_key,)).fetchone()
        return _TRIGGER.decode(stored), created

    def get_trigger(self, trigger_id: str) -> TriggerRow | None:
        """Return the trigger row or ``None``."""
        with self._r as c:
            row = c.execute(_SQL_GET_TRIGGER, (trigger_id,)).fetchone()
        return None if row is None else _TRIGGER.decode(row)

    def list_triggers(
        self, *, pipeline: str = "", status: str = "", source: str = "", limit: int = 20,
    ) -> list[TriggerRow]:
        """Return rows newest first, filtered by pipeline/status/source (``limit <= 0``: all)."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("pipeline", pipeline), ("status", status), ("source", source)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT {_TRIGGER.select} FROM triggers"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit if limit > 0 else -1)
        with self._r as c:
            rows = c.execute(sql, params).fetchall()
        return [_TRIGGER.decode(r) for r in rows]

    def claim_trigger(
        self, holder: str, *, lease_s: float, now: float, trigger_id: str = "",
        pipelines: Sequence[str] = (), sources: Sequence[str] = (), request_id: str = "",
    ) -> TriggerRow | None:
        """Claim the oldest pending row (or *trigger_id* when pending) for *holder*.

        Non-empty *pipelines* / *sources* restrict the candidates. A
        *request_id* some row carries (its unique index refuses the claim)
        answers that row while *holder* still holds it, else ``None``.
        """
        extra = ""
        params: list[Any] = [holder, now, now + lease_s, request_id or None]
        if trigger_id:
            extra += "AND id = ? "
            params.append(trigger_id)
        for column, values in (("pipeline", pipelines), ("source", sources)):
            if values:
                extra += f"AND {column} IN ({', '.join('?' * len(values))}) "
                params.extend(values)
        sql = _SQL_CLAIM_TRIGGER.format(extra=extra)
        with self._w as c:
            try:
                rows = c.execute(sql, params).fetchall()
            except sqlite3.IntegrityError:
                if not request_id:
                    raise
                rows = []
            if not rows and request_id:
                rows = c.execute(_SQL_CLAIMED_UNDER, (request_id, holder)).fetchall()
        return _TRIGGER.decode(rows[0]) if rows else None

    def renew_trigger(
        self, trigger_id: str, holder: str, lease_expires_at: float, *, claims: int = 0,
    ) -> bool:
        """Move the lease of a row *holder* holds (in claim *claims*); ``False`` when it does not."""
        params = (lease_expires_at, trigger_id, holder, claims, claims)
        with self._w as c:
            return c.execute(_SQL_RENEW_TRIGGER, params).rowcount > 0

    def finish_trigger(
        self, trigger_id: str, holder: str, *, status: str, now: float, run_id: str = "",
        error: str = "", claims: int = 0,
    ) -> bool:
        """End *holder*'s claim as ``done`` (with *run_id*) or ``failed`` (with *error*)."""
        if status not in ("done", "failed"):
            raise ValueError(f'a trigger finishes "done" or "failed", not {status!r}')
        params = (status, run_id, error, now, trigger_id, holder, claims, claims)
        with self._w as c:
            return c.execute(_SQL_FINISH_TRIGGER, params).rowcount > 0

    def requeue_expired_triggers(self, now: float) -> list[str]:
        """Put claimed rows whose lease expired back to pending; return their ids, oldest first."""
        with self._w as c:
            rows = c.execute(_SQL_EXPIRED_TRIGGERS, (now,)).fetchall()
        return [r[0] for r in sorted(rows, key=lambda r: (r[1], r[0]))]

"""The PostgreSQL state store: :class:`PostgresStateStore`, SQLAlchemy Core over psycopg 3.

Every method is one short transaction at READ COMMITTED run through
:class:`~sparkwing_postgres.connection.Retrier` (retried while the
database is unreachable). Values computed from the database inside a
write cannot race with other processes:

* a run's event ``seq``, node and step positions: the run's row is locked
  first (``SELECT ... FOR NO KEY UPDATE``, which does not block foreign-key
  checks), then ``MAX + 1`` is read by a later statement, so it sees every
  committed append; writers of one run queue on that row, other runs are
  untouched. Writes that touch a run and its children lock the run first,
  so lock order is always run, then children (no deadlocks between them);
* a concurrency key: ``pg_advisory_xact_lock`` on a 64-bit hash of the key
  serialises acquirers of that key, then the shared FIFO rule
  (:mod:`sparkwing.storage.sql.admission`) decides;
* approvals and pauses resolve once: ``UPDATE ... WHERE resolution = ''``
  re-checks the condition after waiting for a concurrent resolver;
* stale runs are reaped with ``FOR UPDATE SKIP LOCKED``, so two reapers
  never reap the same run twice.

The tables come from :mod:`sparkwing.storage.sql.schema` (through
:func:`~sparkwing.storage.sql.schema.to_sqlalchemy`), rows are encoded and
decoded by the same :class:`~sparkwing.storage.sql.rows.RowCodec` as
SQLite's, and a :class:`~sparkwing.storage.records.RunFilter` means what
:mod:`sparkwing.storage.sql.runfilter` says.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from sparkwing.errors import NotFoundError, StoreError
from sparkwing.storage.contracts import StateWrite
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
from sparkwing.storage.sql import runfilter, schema
from sparkwing.storage.sql.admission import GRANT, REGRANT, Holder, Waiter, admit
from sparkwing.storage.sql.rows import RowCodec, encode_json
from sparkwing.storage.sql.rules import (
    LIVE_RUN_STATUSES,
    check_resolution,
    lost_error,
    lost_node_error,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from .connection import Retrier, check_connection, create_engine, sqlstate
from .migrate import ensure_schema
from .notify import ChangeFeed, channel_name
from .settings import PgSettings, parse_settings

_RUN = RowCodec(schema.RUNS, Run, immutable=("id",))
_NODE = RowCodec(schema.NODES, Node, immutable=("run_id", "node_id"))
_STEP = RowCodec(schema.NODE_STEPS, Step)
_EVENT = RowCodec(schema.EVENTS, Event)
_APPROVAL = RowCodec(schema.APPROVALS, Approval)
_CACHE = RowCodec(schema.CACHE_ENTRIES, CacheEntry)
_PAUSE = RowCodec(schema.DEBUG_PAUSES, Pause)
_HOLDER = RowCodec(schema.CONCURRENCY_HOLDERS, Lease)
_WAITER = RowCodec(schema.CONCURRENCY_WAITERS, Lease)
_TRIGGER = RowCodec(schema.TRIGGERS, TriggerRow)

_MD = schema.to_sqlalchemy()
RUNS = _MD.tables["runs"]
NODES = _MD.tables["nodes"]
STEPS = _MD.tables["node_steps"]
EVENTS = _MD.tables["events"]
APPROVALS = _MD.tables["approvals"]
CACHE = _MD.tables["cache_entries"]
HOLDERS = _MD.tables["concurrency_holders"]
WAITERS = _MD.tables["concurrency_waiters"]
PAUSES = _MD.tables["debug_pauses"]
TRIGGERS = _MD.tables["triggers"]

_UNIQUE, _FOREIGN_KEY = "23505", "23503"


def _cols(table: sa.Table, codec: RowCodec) -> list[sa.Column[Any]]:
    return [table.c[name] for name in codec.columns]


def _row(codec: RowCodec, rec: Any) -> dict[str, Any]:
    return dict(zip(codec.columns, codec.values(rec), strict=True))


def _text(sql: str) -> sa.TextClause:
    return sa.text(sql)


# -- statements, built once ------------------------------------------------------------

_LOCK_RUN = _text("SELECT 1 FROM runs WHERE id = :run_id FOR NO KEY UPDATE")
_LOCK_RUN_DELETE = _text("SELECT 1 FROM runs WHERE id = :run_id FOR UPDATE")
_SEL_RUN = sa.select(*_cols(RUNS, _RUN)).where(RUNS.c.id == sa.bindparam("run_id"))
_SEL_NODE = sa.select(*_cols(NODES, _NODE)).where(
    NODES.c.run_id == sa.bindparam("run_id"), NODES.c.node_id == sa.bindparam("node_id")
)
_SEL_NODES = (sa.select(*_cols(NODES, _NODE)).where(NODES.c.run_id == sa.bindparam("run_id"))
              .order_by(NODES.c.position))
_MAX_NODE_POS = _text("SELECT COALESCE(MAX(position), 0) FROM nodes WHERE run_id = :run_id")
# An append is one statement: bump the run's counter (the row lock orders appenders, and
# READ COMMITTED re-reads the row after waiting, so each gets the next number), then insert.
_NEXT_SEQ = "s AS (UPDATE runs SET event_seq = event_seq + 1 WHERE id = :run_id{cond} " \
    "RETURNING event_seq)"
_INSERT_EVENT = (
    "e AS (INSERT INTO events (run_id, seq, node_id, kind, ts, payload_json, write_id) "
    "SELECT CAST(:run_id AS TEXT), s.event_seq, CAST(:node_id AS TEXT), CAST(:kind AS TEXT), "
    "CAST(:ts AS DOUBLE PRECISION), CAST(:payload AS TEXT), CAST(:write_id AS TEXT) FROM s "
    "RETURNING seq)"
)
# A retried append first looks for the row its earlier try may have committed unseen.
_FIND_WRITE = _text("SELECT seq FROM events WHERE run_id = :run_id AND write_id = :write_id")


def new_write_id() -> str:
    """A fresh token naming one append (64 random bits, as 16 hex digits)."""
    return os.urandom(8).hex()


def append_sql(node_update: str = "", notify: bool = False) -> str:
    """The one statement appending an event, optionally after a node update, with its notify.

    *node_update* is ``UPDATE nodes SET ...`` (or a ``SELECT`` checking the
    node exists) for ``:run_id``/``:node_id``: the counter moves only when it
    found the node, so a missing node costs no sequence number. Returns no
    row when the run (or the node) is missing.
    """
    ctes = []
    cond = ""
    if node_update:
        ctes.append(f"n AS ({node_update} RETURNING 1)" if node_update.startswith("UPDATE")
                    else f"n AS ({node_update})")
        cond = " AND EXISTS (SELECT 1 FROM n)"
    ctes.append(_NEXT_SEQ.format(cond=cond))
    ctes.append(_INSERT_EVENT)
    tail = ", pg_notify(:channel, :note)" if notify else ""
    return "WITH " + ", ".join(ctes) + f" SELECT seq{tail} FROM e"


_NODE_EXISTS_SQL = "SELECT 1 FROM nodes WHERE run_id = :run_id AND node_id = :node_id"
_NOTIFY = _text("SELECT pg_notify(:channel, :note)")
_SEL_EVENTS = (
    sa.select(*_cols(EVENTS, _EVENT))
    .where(EVENTS.c.run_id == sa.bindparam("run_id"), EVENTS.c.seq > sa.bindparam("after"))
    .order_by(EVENTS.c.seq)
)

_step_ins = pg_insert(STEPS).values(
    {**{c: sa.bindparam(c) for c in _STEP.columns},
     "position": sa.select(sa.func.coalesce(sa.func.max(STEPS.c.position), 0) + 1)
     .where(STEPS.c.run_id == sa.bindparam("run_id")).scalar_subquery()}
)
_UPSERT_STEP = _step_ins.on_conflict_do_update(
    index_elements=["run_id", "node_id", "step_id"],
    set_={c: _step_ins.excluded[c] for c in _STEP.columns
          if c not in ("run_id", "node_id", "step_id")},
)
_SEL_STEPS = sa.select(*_cols(STEPS, _STEP)).where(STEPS.c.run_id == sa.bindparam("run_id"))

_STALE = _text(
    "UPDATE runs SET status = 'failed', finished_at = :now, error = :error "
    "WHERE status IN ('pending', 'running') AND id IN ("
    " SELECT r.id FROM runs AS r WHERE r.status IN ('pending', 'running')"
    " AND COALESCE(r.last_heartbeat_at, r.started_at, r.created_at) < :stale_before"
    " AND NOT EXISTS (SELECT 1 FROM nodes AS n WHERE n.run_id = r.id"
    " AND n.last_heartbeat_at >= :stale_before)"
    " FOR UPDATE OF r SKIP LOCKED) RETURNING id"
)
_REAP_NODES = (
    sa.update(NODES)
    .where(NODES.c.run_id.in_(sa.bindparam("ids", expanding=True)), NODES.c.status != "done")
    .values(
        status="done", outcome="cancelled",
        finished_at=sa.func.coalesce(NODES.c.finished_at, sa.bindparam("now")),
        error=sa.case((NODES.c.error == "", sa.bindparam("node_error")), else_=NODES.c.error),
    )
)
_REAP_STEPS = (
    sa.update(STEPS)
    .where(STEPS.c.run_id.in_(sa.bindparam("ids", expanding=True)), STEPS.c.status == "running")
    .values(status="cancelled",
            finished_at=sa.func.coalesce(STEPS.c.finished_at, sa.bindparam("now")))
)

_SEL_APPROVAL = sa.select(*_cols(APPROVALS, _APPROVAL)).where(
    APPROVALS.c.run_id == sa.bindparam("run_id"), APPROVALS.c.node_id == sa.bindparam("node_id")
)
_CREATE_APPROVAL = pg_insert(APPROVALS).on_conflict_do_nothing(
    index_elements=["run_id", "node_id"]
)
_RESOLVE_APPROVAL = _text(
    "UPDATE approvals SET resolution = :resolution, approver = :approver, comment = :comment, "
    "resolved_at = :now WHERE run_id = :run_id AND node_id = :node_id AND resolution = ''"
)

_CACHE_HIT = (
    sa.update(CACHE)
    .where(CACHE.c.key == sa.bindparam("k"),
           sa.or_(CACHE.c.expires_at <= 0, CACHE.c.expires_at > sa.bindparam("now")))
    .values(hits=CACHE.c.hits + 1, last_hit_at=sa.bindparam("now"))
    .returning(*_cols(CACHE, _CACHE))
)
_cache_ins = pg_insert(CACHE)
_CACHE_PUT = _cache_ins.on_conflict_do_update(
    index_elements=["key"],
    set_={c: _cache_ins.excluded[c] for c in _CACHE.columns if c != "key"},
)
_CACHE_DELETE = _text("DELETE FROM cache_entries WHERE key = :k")
_CACHE_PRUNE = _text("DELETE FROM cache_entries WHERE expires_at > 0 AND expires_at <= :now")

_KEY_LOCK = _text("SELECT pg_advisory_xact_lock(:k)")
_REAP_HOLDERS = _text(
    "DELETE FROM concurrency_holders WHERE key = :key AND lease_expires_at <= :now"
)
_REAP_WAITERS = _text(
    "DELETE FROM concurrency_waiters WHERE key = :key AND lease_expires_at <= :now"
)
_HOLDER_ORDER = "ORDER BY claimed_at, arrived_at, holder_id"
_WAITER_ORDER = "ORDER BY arrived_at, ticket"
_HOLDERS = _text(f"SELECT holder_id, cost FROM concurrency_holders WHERE key = :key "
                 f"{_HOLDER_ORDER}")
_WAITERS = _text("SELECT holder_id, cost, arrived_at, ticket FROM concurrency_waiters "
                 f"WHERE key = :key {_WAITER_ORDER}")
_RENEW_HOLDER_ON_KEY = _text(
    "UPDATE concurrency_holders SET lease_expires_at = :expires "
    "WHERE key = :key AND holder_id = :holder"
)
_UPDATE_WAITER = _text(
    "UPDATE concurrency_waiters SET lease_expires_at = :expires, cost = :cost, "
    "capacity = :capacity, run_id = :run_id, node_id = :node_id "
    "WHERE key = :key AND holder_id = :holder"
)
_INSERT_WAITER = _text(
    "INSERT INTO concurrency_waiters (key, holder_id, run_id, node_id, cost, capacity, "
    "arrived_at, ticket, lease_expires_at) VALUES (:key, :holder, :run_id, :node_id, :cost, "
    ":capacity, :arrived, :ticket, :expires)"
)
_DELETE_WAITER = _text("DELETE FROM concurrency_waiters WHERE key = :key AND holder_id = :holder")
_DELETE_HOLDER = _text("DELETE FROM concurrency_holders WHERE key = :key AND holder_id = :holder")
_INSERT_HOLDER = _text(
    "INSERT INTO concurrency_holders (key, holder_id, run_id, node_id, cost, capacity, "
    "arrived_at, claimed_at, lease_expires_at) VALUES (:key, :holder, :run_id, :node_id, :cost, "
    ":capacity, :arrived, :now, :expires)"
)
_RENEW_HOLDER = _text(
    "UPDATE concurrency_holders SET lease_expires_at = :expires WHERE holder_id = :holder"
)
_RENEW_WAITER = _text(
    "UPDATE concurrency_waiters SET lease_expires_at = :expires WHERE holder_id = :holder"
)
_STATE_HOLDERS = sa.text(
    f"SELECT {_HOLDER.select} FROM concurrency_holders "
    f"WHERE key = :key AND lease_expires_at > :now {_HOLDER_ORDER}"
)
_STATE_WAITERS = sa.text(
    f"SELECT {_WAITER.select} FROM concurrency_waiters "
    f"WHERE key = :key AND lease_expires_at > :now {_WAITER_ORDER}"
)

_pause_ins = pg_insert(PAUSES)
_UPSERT_PAUSE = _pause_ins.on_conflict_do_update(
    index_elements=["run_id", "node_id"],
    set_={c: _pause_ins.excluded[c] for c in _PAUSE.columns if c not in ("run_id", "node_id")},
)
_SEL_PAUSE = sa.select(*_cols(PAUSES, _PAUSE)).where(
    PAUSES.c.run_id == sa.bindparam("run_id"), PAUSES.c.node_id == sa.bindparam("node_id")
)
_RELEASE_PAUSE = _text(
    "UPDATE debug_pauses SET released_at = :now, released_by = :by, release_kind = :kind "
    "WHERE run_id = :run_id AND node_id = :node_id AND released_at IS NULL"
)

_INSERT_TRIGGER = (pg_insert(TRIGGERS).on_conflict_do_nothing(index_elements=["idempotency_key"])
                   .returning(TRIGGERS.c.id))
_TRIGGER_BY_KEY = sa.select(*_cols(TRIGGERS, _TRIGGER)).where(
    TRIGGERS.c.idempotency_key == sa.bindparam("key"))
_GET_TRIGGER = sa.select(*_cols(TRIGGERS, _TRIGGER)).where(TRIGGERS.c.id == sa.bindparam("id"))
# The oldest pending row nobody else is claiming right now: FOR UPDATE SKIP LOCKED lets
# concurrent claimers each take a different row instead of queueing on the first one.
_CLAIM_TRIGGER = (
    "UPDATE triggers SET status = 'claimed', claimed_by = :holder, claimed_at = :now, "
    "lease_expires_at = :expires, claim_request = :request, claims = claims + 1 "
    "WHERE status = 'pending' AND id = (SELECT id FROM triggers WHERE status = 'pending' "
    "{extra}ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    f"RETURNING {_TRIGGER.select}"
)
#: The claim statement per (by id, by pipeline, by source) filter combination.
_CLAIMS = {
    (one, by_pipeline, by_source): _text(_CLAIM_TRIGGER.format(extra="".join((
        "AND id = :id " if one else "",
        "AND pipeline = ANY(CAST(:pipelines AS TEXT[])) " if by_pipeline else "",
        "AND source = ANY(CAST(:sources AS TEXT[])) " if by_source else "",
    ))))
    for one in (False, True) for by_pipeline in (False, True) for by_source in (False, True)
}
_RENEW_TRIGGER = _text(
    "UPDATE triggers SET lease_expires_at = :expires "
    "WHERE id = :id AND status = 'claimed' AND claimed_by = :holder "
    "AND (:claims = 0 OR claims = :claims)"
)
_FINISH_TRIGGER = _text(
    "UPDATE triggers SET status = :status, run_id = :run_id, error = :error, "
    "finished_at = :now, claimed_by = '', lease_expires_at = NULL "
    "WHERE id = :id AND status = 'claimed' AND claimed_by = :holder "
    "AND (:claims = 0 OR claims = :claims)"
)
_CLAIMED_UNDER = sa.select(*_cols(TRIGGERS, _TRIGGER)).where(
    TRIGGERS.c.claim_request == sa.bindparam("request"), TRIGGERS.c.status == "claimed",
    TRIGGERS.c.claimed_by == sa.bindparam("holder"))
_REQUEUE_TRIGGERS = _text(
    "UPDATE triggers SET status = 'pending', claimed_by = '', lease_expires_at = NULL, "
    "claim_request = NULL "
    "WHERE id IN (SELECT id FROM triggers WHERE status = 'claimed' AND lease_expires_at <= :now "
    "FOR UPDATE SKIP LOCKED) AND status = 'claimed' AND lease_expires_at <= :now "
    "RETURNING id, created_at"
)


def key_lock_id(key: str) -> int:
    """The advisory-lock id serialising acquirers of concurrency key *key* (signed 64-bit)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"sw-conc").digest()
    return int.from_bytes(digest, "big", signed=True)


def _condition(cond: runfilter.Condition) -> Any:
    cols = [RUNS.c[c] for c in cond.columns]
    if cond.op == runfilter.IN:
        return cols[0].in_(cond.value)
    if cond.op == runfilter.NOT_IN:
        return cols[0].not_in(cond.value)
    if cond.op == runfilter.ILIKE_ANY:
        return sa.or_(*(c.ilike(cond.value, escape="\\") for c in cols))
    if cond.op == runfilter.EQ:
        return cols[0] == cond.value
    if cond.op == runfilter.GE:
        return cols[0] >= cond.value
    if cond.op == runfilter.LT:
        return cols[0] < cond.value
    raise ValueError(f"unknown run filter operator {cond.op!r}")


class PostgresStateStore:
    """A :class:`~sparkwing.storage.contracts.StateStore` in a PostgreSQL schema.

    Opening one connects (a failure is a one-line error naming the host),
    checks the schema version and migrates an older or empty database. Safe
    to share between threads (each call checks a connection out of the
    pool) and to open from many processes and machines at once.

    Beyond the contract, it behaves exactly like the SQLite store: the
    conformance suite pins the shared semantics.
    """

    def __init__(self, settings: PgSettings) -> None:
        self.settings = settings
        self._engine = create_engine(settings)
        try:
            check_connection(self._engine, settings)
            ensure_schema(self._engine, settings)
        except BaseException:
            self._engine.dispose()
            raise
        self._retrier = Retrier(self._engine, settings)
        self._channel = channel_name(settings.schema) if settings.notify else ""
        self._append_sql: dict[Any, sa.TextClause] = {}
        #: The batch whose last try failed with its outcome unknown, and its write ids:
        #: sent again (the journal does), it reuses them and first looks for its rows.
        self._unsettled: tuple[StateWrite, int, list[str]] | None = None
        self._closed = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any], where: str = "state") -> PostgresStateStore:
        """Open a store from a profile's ``state`` block (``url`` already resolved)."""
        return cls(parse_settings(config, where))

    def __repr__(self) -> str:
        return f"PostgresStateStore({self.settings.display!r}, schema={self.settings.schema!r})"

    def __enter__(self) -> PostgresStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def retry_timeout(self) -> float:
        """Seconds a write keeps retrying while the database is unreachable.

        The run journal gives a run whose store failed this long once more
        to write its last records.
        """
        return self.settings.retry_timeout

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (for the dashboard's notifications and for tests)."""
        return self._engine

    def change_feed(self) -> ChangeFeed | None:
        """A listener for this store's change notifications (``None`` with ``notify: false``).

        The caller starts it with a callback and closes it; see
        :mod:`sparkwing_postgres.notify`.
        """
        return ChangeFeed(self.settings) if self._channel else None

    def _notify(self, c: Any, what: str, run_id: str) -> None:
        if self._channel:
            c.execute(_NOTIFY, {"channel": self._channel, "note": f"{what}:{run_id}"})

    def _append_statement(self, cols: tuple[str, ...] | None) -> sa.TextClause:
        """The cached one-statement append: after a node update setting *cols* (``()``: the
        node must exist), or of a run-level event (``None``)."""
        key = cols
        stmt = self._append_sql.get(key)
        if stmt is None:
            if cols is None:
                node = ""
            elif cols:
                sets = ", ".join(f"{c} = :v_{c}" for c in cols)
                node = f"UPDATE nodes SET {sets} WHERE run_id = :run_id AND node_id = :node_id"
            else:
                node = _NODE_EXISTS_SQL
            stmt = _text(append_sql(node, notify=bool(self._channel)))
            self._append_sql[key] = stmt
        return stmt

    @staticmethod
    def _committed(c: Any, params: Mapping[str, Any]) -> int | None:
        """The seq of the append named by ``params["write_id"]`` if it is recorded."""
        seq = c.execute(_FIND_WRITE, params).scalar()
        return None if seq is None else int(seq)

    def _append(self, c: Any, stmt: sa.TextClause, params: dict[str, Any]) -> int | None:
        if self._channel:
            params = {**params, "channel": self._channel, "note": f"event:{params['run_id']}"}
        row = c.execute(stmt, params).first()
        return None if row is None else int(row[0])

    def _tx(self, body: Any) -> Any:
        """Run *body* in one transaction (retried as a whole)."""
        return self._retrier.run(body)

    def _one(self, body: Any) -> Any:
        """Run *body*, a single statement (or independent ones), in autocommit mode."""
        return self._retrier.run(body, autocommit=True)

    def _integrity(self, exc: sa_exc.IntegrityError, missing: str, duplicate: str) -> Exception:
        if sqlstate(exc) == _FOREIGN_KEY:
            return NotFoundError(missing)
        return StoreError(duplicate)

    # -- lifecycle ------------------------------------------------------

    def close(self) -> None:
        """Close every pooled connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    # -- runs -----------------------------------------------------------

    def create_run(self, run: Run) -> None:
        """Insert a new run; :class:`StoreError` if the id exists."""
        row = _row(_RUN, run)

        def body(c: Any, attempt: int) -> None:
            try:  # autocommit: after a failed insert the connection can still read
                c.execute(sa.insert(RUNS), row)
            except sa_exc.IntegrityError as exc:
                if attempt and sqlstate(exc) == _UNIQUE and self._same_run(c, run):
                    return  # our own insert, committed before the connection dropped
                raise StoreError(
                    f"run {run.id} already exists in {self.settings.where}"
                ) from None
            self._notify(c, "run", run.id)

        self._one(body)

    @staticmethod
    def _same_run(c: Any, run: Run) -> bool:
        got = c.execute(_SEL_RUN, {"run_id": run.id}).first()
        return got is not None and _RUN.decode(got) == run

    def update_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        """Set the given :class:`Run` fields; :class:`NotFoundError` if the run is missing."""
        cols, vals = _RUN.assignments(fields)

        def body(c: Any, attempt: int) -> None:
            if cols:
                stmt = (sa.update(RUNS).where(RUNS.c.id == run_id)
                        .values(dict(zip(cols, vals, strict=True))))
                found = c.execute(stmt).rowcount > 0
            else:
                found = c.execute(_SEL_RUN, {"run_id": run_id}).first() is not None
            if not found:
                raise NotFoundError(f"run {run_id} not found")
            self._notify(c, "run", run_id)

        self._one(body)

    def get_run(self, run_id: str) -> Run | None:
        """Return the run or ``None``."""
        row = self._one(lambda c, _: c.execute(_SEL_RUN, {"run_id": run_id}).first())
        return None if row is None else _RUN.decode(row)

    def list_runs(self, flt: RunFilter | None = None) -> list[Run]:
        """Return runs matching *flt*, newest first by id (``limit <= 0``: no limit)."""
        flt = flt or RunFilter()
        stmt = sa.select(*_cols(RUNS, _RUN))
        conds = [_condition(c) for c in runfilter.conditions(flt)]
        if conds:
            stmt = stmt.where(*conds)
        stmt = stmt.order_by(RUNS.c.id.desc())
        if flt.limit > 0:
            stmt = stmt.limit(flt.limit)
        rows = self._one(lambda c, _: c.execute(stmt).all())
        return [_RUN.decode(r) for r in rows]

    def delete_run(self, run_id: str) -> bool:
        """Delete a run and everything recorded under it; ``False`` if it did not exist."""

        def body(c: Any, attempt: int) -> bool:
            if c.execute(_LOCK_RUN_DELETE, {"run_id": run_id}).first() is None:
                return False
            # nodes, steps, events, approvals and pauses go by ON DELETE CASCADE
            gone = bool(c.execute(sa.delete(RUNS).where(RUNS.c.id == run_id)).rowcount > 0)
            self._notify(c, "run", run_id)
            return gone

        return bool(self._tx(body))

    def reap_stale_runs(self, stale_before: float, now: float) -> list[str]:
        """Fail live runs with no run or node heartbeat since *stale_before*; return their ids."""
        params = {"now": now, "error": lost_error(stale_before), "stale_before": stale_before,
                  "node_error": lost_node_error(stale_before)}
        assert LIVE_RUN_STATUSES == ("pending", "running")  # spelled out in _STALE

        def body(c: Any, attempt: int) -> list[str]:
            ids = sorted(r[0] for r in c.execute(_STALE, params))
            if ids:
                c.execute(_REAP_NODES, {**params, "ids": ids})
                c.execute(_REAP_STEPS, {**params, "ids": ids})
                self._notify(c, "run", ids[0])
            return ids

        return list(self._tx(body))

    # -- nodes ----------------------------------------------------------

    def _lock_run(self, c: Any, run_id: str) -> None:
        if c.execute(_LOCK_RUN, {"run_id": run_id}).first() is None:
            raise NotFoundError(f"run {run_id} not found")

    def create_nodes(self, run_id: str, nodes: Sequence[Node]) -> None:
        """Insert nodes in one transaction (in the given order, after existing ones)."""
        rows: list[dict[str, Any]] = []
        for node in nodes:
            if node.run_id and node.run_id != run_id:
                raise ValueError(f"node {node.node_id} belongs to run {node.run_id}, not {run_id}")
            row = _row(_NODE, node)
            row["run_id"] = run_id
            rows.append(row)
        if not rows:
            return

        def body(c: Any, attempt: int) -> None:
            self._lock_run(c, run_id)
            base = int(c.execute(_MAX_NODE_POS, {"run_id": run_id}).scalar() or 0)
            for i, row in enumerate(rows, start=1):
                row["position"] = base + i
            try:
                with c.begin_nested() if attempt else nullcontext():
                    c.execute(sa.insert(NODES), rows)
            except sa_exc.IntegrityError as exc:
                if attempt and sqlstate(exc) == _UNIQUE and self._same_nodes(c, run_id, rows):
                    return
                raise self._integrity(exc, f"run {run_id} not found",
                                      f"run {run_id}: duplicate node id") from None

        self._tx(body)

    @staticmethod
    def _same_nodes(c: Any, run_id: str, rows: list[dict[str, Any]]) -> bool:
        have = {r[0] for r in c.execute(
            sa.select(NODES.c.node_id).where(NODES.c.run_id == run_id)
        )}
        return all(r["node_id"] in have for r in rows) and len(
            {r["node_id"] for r in rows}) == len(rows)

    def update_node(
        self,
        run_id: str,
        node_id: str,
        fields: Mapping[str, Any],
        event: tuple[str, Mapping[str, Any]] | None = None,
    ) -> int | None:
        """Set node fields and optionally append an event, atomically; return its seq."""
        cols, vals = _NODE.assignments(fields)
        missing = f"node {node_id} of run {run_id} not found"
        if event is None:
            def plain(c: Any, attempt: int) -> None:
                if cols:
                    stmt = (sa.update(NODES)
                            .where(NODES.c.run_id == run_id, NODES.c.node_id == node_id)
                            .values(dict(zip(cols, vals, strict=True))))
                    found = c.execute(stmt).rowcount > 0
                else:
                    found = c.execute(_text(_NODE_EXISTS_SQL),
                                      {"run_id": run_id, "node_id": node_id}).first() is not None
                if not found:
                    raise NotFoundError(missing)

            self._one(plain)
            return None
        params: dict[str, Any] = {
            "run_id": run_id, "node_id": node_id, "kind": event[0], "ts": time.time(),
            "payload": encode_json(event[1]), "write_id": new_write_id(),
            **{f"v_{c}": v for c, v in zip(cols, vals, strict=True)},
        }
        stmt = self._append_statement(cols)

        def with_event(c: Any, attempt: int) -> int:
            # a retry: the first try may have committed (node and event) before the drop
            seq = self._committed(c, params) if attempt else None
            if seq is None:
                seq = self._append(c, stmt, params)
            if seq is None:
                raise NotFoundError(missing)
            return seq

        return int(self._one(with_event))

    def write_batch(self, writes: Sequence[StateWrite]) -> None:
        """Apply node updates, step upserts and events in order, in one transaction.

        Each write is the single call's statement (one round trip each, the
        event appends through the run's counter), all committed together; a
        missing node or run fails the whole batch with :class:`NotFoundError`.

        Every event carries a write id. A retried transaction first looks
        for the first event's row: found, the earlier try committed unseen
        and nothing is applied twice. When the store gives up with the
        outcome unknown, the same batch sent again (the same list of the
        same writes, as the run journal does) reuses its ids and looks too.
        """
        if not writes:
            return
        unsettled = self._unsettled
        ids: list[str] = []
        if unsettled is not None and unsettled[0] is writes[0] and unsettled[1] == len(writes):
            self._unsettled = None
            ids = unsettled[2]
        fresh = not ids
        planned: list[tuple[str, Any, dict[str, Any], str]] = []
        for w in writes:
            ts = time.time() if w.ts is None else w.ts
            base = {"run_id": w.run_id, "node_id": w.node_id}
            missing = f"node {w.node_id} of run {w.run_id} not found"
            if w.fields is not None:
                cols, vals = _NODE.assignments(w.fields)
                if w.event is None:
                    stmt = (sa.update(NODES)
                            .where(NODES.c.run_id == w.run_id, NODES.c.node_id == w.node_id)
                            .values(dict(zip(cols, vals, strict=True)))
                            if cols else _text(_NODE_EXISTS_SQL))
                    planned.append(("update" if cols else "exists", stmt, base, missing))
                    continue
                params = {**base, "kind": w.event[0], "ts": ts,
                          "payload": encode_json(w.event[1]),
                          **{f"v_{c}": v for c, v in zip(cols, vals, strict=True)}}
                planned.append(("append", self._append_statement(cols), params, missing))
                continue
            if w.step is not None:
                step_missing = f"node {w.step.node_id} of run {w.step.run_id} not found"
                planned.append(("step", _UPSERT_STEP, _row(_STEP, w.step), step_missing))
            if w.event is not None:
                params = {**base, "kind": w.event[0], "ts": ts,
                          "payload": encode_json(w.event[1])}
                planned.append(("append", self._append_statement(None), params,
                                f"run {w.run_id} not found"))
        appends = [params for what, _, params, _ in planned if what == "append"]
        if fresh:
            ids = [new_write_id() for _ in appends]
        for params, write_id in zip(appends, ids, strict=True):
            params["write_id"] = write_id

        def body(c: Any, attempt: int) -> None:
            if appends and (attempt or not fresh) and self._committed(c, appends[0]) is not None:
                return  # an earlier try committed the whole batch before the connection dropped
            for what, stmt, params, missing in planned:
                if what == "update":
                    if c.execute(stmt).rowcount == 0:
                        raise NotFoundError(missing)
                elif what == "exists":
                    if c.execute(stmt, params).first() is None:
                        raise NotFoundError(missing)
                elif what == "step":
                    if c.execute(_LOCK_RUN, {"run_id": params["run_id"]}).first() is None:
                        raise NotFoundError(missing)
                    try:
                        with c.begin_nested():
                            c.execute(stmt, params)
                    except sa_exc.IntegrityError:
                        raise NotFoundError(missing) from None
                elif self._append(c, stmt, params) is None:
                    raise NotFoundError(missing)

        try:
            self._tx(body)
        except StoreError:
            self._unsettled = (writes[0], len(writes), ids)  # its last try may have committed
            raise

    def get_node(self, run_id: str, node_id: str) -> Node | None:
        """Return one node or ``None``."""
        row = self._one(lambda c, _: c.execute(
            _SEL_NODE, {"run_id": run_id, "node_id": node_id}).first())
        return None if row is None else _NODE.decode(row)

    def list_nodes(self, run_id: str) -> list[Node]:
        """Return a run's nodes in insertion order."""
        rows = self._one(lambda c, _: c.execute(_SEL_NODES, {"run_id": run_id}).all())
        return [_NODE.decode(r) for r in rows]

    # -- steps ----------------------------------------------------------

    def upsert_step(self, step: Step) -> None:
        """Insert or replace a step row (a replaced step keeps its position)."""
        row = _row(_STEP, step)
        missing = f"node {step.node_id} of run {step.run_id} not found"

        def body(c: Any, attempt: int) -> None:
            if c.execute(_LOCK_RUN, {"run_id": step.run_id}).first() is None:
                raise NotFoundError(missing)
            try:
                c.execute(_UPSERT_STEP, row)
            except sa_exc.IntegrityError:
                raise NotFoundError(missing) from None

        self._tx(body)

    def list_steps(self, run_id: str, node_id: str | None = None) -> list[Step]:
        """Return steps of a run (or of one node) in insertion order."""
        stmt = _SEL_STEPS
        params: dict[str, Any] = {"run_id": run_id}
        if node_id is not None:
            stmt = stmt.where(STEPS.c.node_id == sa.bindparam("node_id"))
            params["node_id"] = node_id
        stmt = stmt.order_by(STEPS.c.position)
        rows = self._one(lambda c, _: c.execute(stmt, params).all())
        return [_STEP.decode(r) for r in rows]

    # -- events ---------------------------------------------------------

    def append_event(
        self, run_id: str, kind: str, payload: Mapping[str, Any], node_id: str = "",
        ts: float | None = None,
    ) -> int:
        """Append to the run's event stream and return the new gap-free ``seq``."""
        params = {"run_id": run_id, "node_id": node_id, "kind": kind,
                  "ts": time.time() if ts is None else ts, "payload": encode_json(payload),
                  "write_id": new_write_id()}
        stmt = self._append_statement(None)

        def body(c: Any, attempt: int) -> int:
            # a retry: the first try may have committed before the connection dropped
            seq = self._committed(c, params) if attempt else None
            if seq is None:
                seq = self._append(c, stmt, params)
            if seq is None:
                raise NotFoundError(f"run {run_id} not found")
            return seq

        return int(self._one(body))

    def list_events(self, run_id: str, after_seq: int = 0, limit: int = 500) -> list[Event]:
        """Return events with ``seq > after_seq`` in order, at most *limit* (``<= 0``: all)."""
        stmt = _SEL_EVENTS.limit(limit) if limit > 0 else _SEL_EVENTS
        rows = self._one(lambda c, _: c.execute(
            stmt, {"run_id": run_id, "after": after_seq}).all())
        return [_EVENT.decode(r) for r in rows]

    # -- approvals --------------------------------------------------------

    def create_approval(self, approval: Approval) -> None:
        """Record an approval request; a second request for the same node changes nothing."""
        row = _row(_APPROVAL, approval)

        def body(c: Any, attempt: int) -> None:
            try:
                c.execute(_CREATE_APPROVAL, row)
            except sa_exc.IntegrityError:
                raise NotFoundError(f"run {approval.run_id} not found") from None

        self._one(body)

    def get_approval(self, run_id: str, node_id: str) -> Approval | None:
        """Return the approval or ``None``."""
        row = self._one(lambda c, _: c.execute(
            _SEL_APPROVAL, {"run_id": run_id, "node_id": node_id}).first())
        return None if row is None else _APPROVAL.decode(row)

    def resolve_approval(
        self, run_id: str, node_id: str, resolution: str, approver: str, comment: str,
        now: float,
    ) -> bool:
        """Resolve a pending approval once; ``False`` if missing or already resolved."""
        check_resolution(resolution)
        params = {"resolution": resolution, "approver": approver, "comment": comment,
                  "now": now, "run_id": run_id, "node_id": node_id}

        def body(c: Any, attempt: int) -> bool:
            if c.execute(_RESOLVE_APPROVAL, params).rowcount > 0:
                return True
            if attempt:  # our own resolution may have committed before the connection dropped
                got = c.execute(_SEL_APPROVAL, params).first()
                mine = got is not None and _APPROVAL.decode(got)
                return bool(mine and (mine.resolution, mine.approver, mine.resolved_at)
                            == (resolution, approver, now))
            return False

        return bool(self._one(body))

    def list_approvals(
        self, run_id: str | None = None, pending_only: bool = False
    ) -> list[Approval]:
        """Return approvals (oldest request first), optionally of one run / only pending."""
        rows = self._select_by_run(
            APPROVALS, _APPROVAL, run_id,
            APPROVALS.c.resolution == "" if pending_only else None, APPROVALS.c.requested_at,
        )
        return [_APPROVAL.decode(r) for r in rows]

    # -- memo cache index ---------------------------------------------------

    def cache_get(self, key: str, now: float) -> CacheEntry | None:
        """Return the unexpired entry for *key*, recording the hit, or ``None``."""
        row = self._one(lambda c, _: c.execute(_CACHE_HIT, {"k": key, "now": now}).first())
        return None if row is None else _CACHE.decode(row)

    def cache_put(self, entry: CacheEntry) -> None:
        """Insert or replace the entry for ``entry.key``."""
        row = _row(_CACHE, entry)
        self._one(lambda c, _: c.execute(_CACHE_PUT, row))

    def cache_list(self, prefix: str = "", include_expired: bool = False) -> list[CacheEntry]:
        """Return entries whose key starts with *prefix*, newest first (expiry by wall clock)."""
        stmt = sa.select(*_cols(CACHE, _CACHE))
        if prefix:
            stmt = stmt.where(sa.func.substr(CACHE.c.key, 1, len(prefix)) == prefix)
        if not include_expired:
            stmt = stmt.where(sa.or_(CACHE.c.expires_at <= 0, CACHE.c.expires_at > time.time()))
        stmt = stmt.order_by(CACHE.c.created_at.desc(), CACHE.c.key)
        rows = self._one(lambda c, _: c.execute(stmt).all())
        return [_CACHE.decode(r) for r in rows]

    def cache_delete(self, key: str) -> bool:
        """Delete one entry; ``False`` if it did not exist."""
        return bool(self._one(lambda c, _: c.execute(_CACHE_DELETE, {"k": key}).rowcount > 0))

    def cache_prune(self, now: float) -> int:
        """Delete expired entries and return how many went."""
        return int(self._one(lambda c, _: c.execute(_CACHE_PRUNE, {"now": now}).rowcount))

    # -- concurrency leases ---------------------------------------------------

    def concurrency_acquire(
        self, key: str, holder_id: str, *, capacity: int, cost: int, lease_s: float,
        now: float, run_id: str = "", node_id: str = "",
    ) -> AcquireResult:
        """Take *cost* units of *key* for *holder_id* or queue it (FIFO), atomically."""
        expires = now + lease_s
        lock = key_lock_id(key)
        base = {"key": key, "holder": holder_id, "run_id": run_id, "node_id": node_id,
                "cost": cost, "capacity": capacity, "now": now, "expires": expires}

        def body(c: Any, attempt: int) -> AcquireResult:
            c.execute(_KEY_LOCK, {"k": lock})
            c.execute(_REAP_HOLDERS, base)
            c.execute(_REAP_WAITERS, base)
            holders = [Holder(*h) for h in c.execute(_HOLDERS, base)]
            waiters = [Waiter(*w) for w in c.execute(_WAITERS, base)]
            d = admit(holders, waiters, holder_id, cost=cost, capacity=capacity, now=now)
            if d.action == REGRANT:
                c.execute(_RENEW_HOLDER_ON_KEY, base)
            elif d.action == GRANT:
                if d.was_waiting:
                    c.execute(_DELETE_WAITER, base)
                c.execute(_INSERT_HOLDER, {**base, "arrived": d.arrived_at})
            elif d.was_waiting:
                c.execute(_UPDATE_WAITER, base)
            else:
                c.execute(_INSERT_WAITER, {**base, "arrived": d.arrived_at, "ticket": d.ticket})
            return AcquireResult(d.action in (REGRANT, GRANT), d.active, d.ahead, d.holders)

        result: AcquireResult = self._tx(body)
        return result

    def concurrency_renew(self, holder_id: str, lease_expires_at: float) -> None:
        """Extend every lease (held or waiting) of *holder_id*."""
        params = {"holder": holder_id, "expires": lease_expires_at}

        def body(c: Any, attempt: int) -> None:
            c.execute(_RENEW_HOLDER, params)
            c.execute(_RENEW_WAITER, params)

        self._tx(body)

    def concurrency_release(self, key: str, holder_id: str) -> None:
        """Drop *holder_id*'s hold or wait on *key* (no-op when absent)."""
        params = {"key": key, "holder": holder_id}

        def body(c: Any, attempt: int) -> None:
            c.execute(_DELETE_HOLDER, params)
            c.execute(_DELETE_WAITER, params)

        self._tx(body)

    def concurrency_state(self, key: str, now: float) -> tuple[list[Lease], list[Lease]]:
        """Return ``(holders, waiters)`` of *key*, unexpired, oldest first."""
        params = {"key": key, "now": now}

        def body(c: Any, attempt: int) -> tuple[list[Any], list[Any]]:
            c.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return (c.execute(_STATE_HOLDERS, params).all(),
                    c.execute(_STATE_WAITERS, params).all())

        holders, waiters = self._tx(body)
        return [_HOLDER.decode(r) for r in holders], [_WAITER.decode(r) for r in waiters]

    # -- debug pauses -----------------------------------------------------------

    def create_pause(self, pause: Pause) -> None:
        """Record a pause on a node, replacing an earlier one for the same node."""
        row = _row(_PAUSE, pause)

        def body(c: Any, attempt: int) -> None:
            try:
                c.execute(_UPSERT_PAUSE, row)
            except sa_exc.IntegrityError:
                raise NotFoundError(f"run {pause.run_id} not found") from None

        self._one(body)

    def get_pause(self, run_id: str, node_id: str) -> Pause | None:
        """Return the node's pause or ``None``."""
        row = self._one(lambda c, _: c.execute(
            _SEL_PAUSE, {"run_id": run_id, "node_id": node_id}).first())
        return None if row is None else _PAUSE.decode(row)

    def release_pause(self, run_id: str, node_id: str, by: str, kind: str, now: float) -> bool:
        """Release a held pause; ``False`` if missing or already released."""
        params = {"now": now, "by": by, "kind": kind, "run_id": run_id, "node_id": node_id}

        def body(c: Any, attempt: int) -> bool:
            if c.execute(_RELEASE_PAUSE, params).rowcount > 0:
                return True
            if attempt:  # our own release may have committed before the connection dropped
                got = c.execute(_SEL_PAUSE, params).first()
                mine = got is not None and _PAUSE.decode(got)
                return bool(mine and (mine.released_at, mine.released_by) == (now, by))
            return False

        return bool(self._one(body))

    def list_pauses(self, run_id: str | None = None, held_only: bool = False) -> list[Pause]:
        """Return pauses (oldest first), optionally of one run / only those still held."""
        rows = self._select_by_run(
            PAUSES, _PAUSE, run_id, PAUSES.c.released_at.is_(None) if held_only else None,
            PAUSES.c.paused_at,
        )
        return [_PAUSE.decode(r) for r in rows]

    def _select_by_run(
        self, table: sa.Table, codec: RowCodec, run_id: str | None, condition: Any,
        first_order: Any,
    ) -> list[Any]:
        stmt = sa.select(*_cols(table, codec))
        if run_id is not None:
            stmt = stmt.where(table.c.run_id == run_id)
        if condition is not None:
            stmt = stmt.where(condition)
        stmt = stmt.order_by(first_order, table.c.run_id, table.c.node_id)
        return list(self._one(lambda c, _: c.execute(stmt).all()))

    # -- triggers -----------------------------------------------------------------

    def insert_trigger(self, row: TriggerRow) -> tuple[TriggerRow, bool]:
        """Record *row* unless its idempotency key exists; ``(stored row, inserted?)``.

        ``ON CONFLICT (idempotency_key) DO NOTHING`` makes concurrent inserts of
        one key wait for each other: exactly one inserts.
        """
        values = _row(_TRIGGER, row)

        def body(c: Any, attempt: int) -> tuple[TriggerRow, bool]:
            try:
                created = c.execute(_INSERT_TRIGGER, values).first() is not None
            except sa_exc.IntegrityError:
                raise StoreError(
                    f"trigger {row.id} already exists in {self.settings.where} under another key"
                ) from None
            stored = c.execute(_TRIGGER_BY_KEY, {"key": row.idempotency_key}).one()
            got: TriggerRow = _TRIGGER.decode(stored)
            if not created and attempt and got == row:
                created = True  # our own insert, committed before the connection dropped
            return got, created

        result: tuple[TriggerRow, bool] = self._one(body)
        return result

    def get_trigger(self, trigger_id: str) -> TriggerRow | None:
        """Return the trigger row or ``None``."""
        row = self._one(lambda c, _: c.execute(_GET_TRIGGER, {"id": trigger_id}).first())
        return None if row is None else _TRIGGER.decode(row)

    def list_triggers(
        self, *, pipeline: str = "", status: str = "", source: str = "", limit: int = 20,
    ) -> list[TriggerRow]:
        """Return rows newest first, filtered by pipeline/status/source (``limit <= 0``: all)."""
        stmt = sa.select(*_cols(TRIGGERS, _TRIGGER))
        for column, value in (("pipeline", pipeline), ("status", status), ("source", source)):
            if value:
                stmt = stmt.where(TRIGGERS.c[column] == value)
        stmt = stmt.order_by(TRIGGERS.c.created_at.desc(), TRIGGERS.c.id.desc())
        if limit > 0:
            stmt = stmt.limit(limit)
        rows = self._one(lambda c, _: c.execute(stmt).all())
        return [_TRIGGER.decode(r) for r in rows]

    def claim_trigger(
        self, holder: str, *, lease_s: float, now: float, trigger_id: str = "",
        pipelines: Sequence[str] = (), sources: Sequence[str] = (), request_id: str = "",
    ) -> TriggerRow | None:
        """Claim the oldest pending row (or *trigger_id* when pending) for *holder*.

        Non-empty *pipelines* / *sources* restrict the candidates. A
        *request_id* some row carries (its unique index refuses the claim,
        also from a concurrent first try) answers that row while *holder*
        still holds it, else ``None``.
        """
        params = {"holder": holder, "now": now, "expires": now + lease_s, "id": trigger_id,
                  "pipelines": list(pipelines), "sources": list(sources),
                  "request": request_id or None}
        stmt = _CLAIMS[(bool(trigger_id), bool(pipelines), bool(sources))]

        def body(c: Any, attempt: int) -> Any:
            try:  # autocommit: after a refused update the connection can still read
                row = c.execute(stmt, params).first()
            except sa_exc.IntegrityError as exc:
                if not request_id or sqlstate(exc) != _UNIQUE:
                    raise
                row = None
            if row is None and request_id:
                return c.execute(_CLAIMED_UNDER, {"request": request_id,
                                                  "holder": holder}).first()
            if row is None and attempt:  # our claim may have committed before the drop
                got = c.execute(sa.select(*_cols(TRIGGERS, _TRIGGER)).where(
                    TRIGGERS.c.status == "claimed", TRIGGERS.c.claimed_by == holder,
                    TRIGGERS.c.claimed_at == now)).first()
                return got
            return row

        row = self._one(body)
        return None if row is None else _TRIGGER.decode(row)

    def renew_trigger(
        self, trigger_id: str, holder: str, lease_expires_at: float, *, claims: int = 0,
    ) -> bool:
        """Move the lease of a row *holder* holds (in claim *claims*); ``False`` when it does not."""
        params = {"id": trigger_id, "holder": holder, "expires": lease_expires_at,
                  "claims": claims}
        return bool(self._one(lambda c, _: c.execute(_RENEW_TRIGGER, params).rowcount > 0))

    def finish_trigger(
        self, trigger_id: str, holder: str, *, status: str, now: float, run_id: str = "",
        error: str = "", claims: int = 0,
    ) -> bool:
        """End *holder*'s claim as ``done`` (with *run_id*) or ``failed`` (with *error*)."""
        if status not in ("done", "failed"):
            raise ValueError(f'a trigger finishes "done" or "failed", not {status!r}')
        params = {"status": status, "run_id": run_id, "error": error, "now": now,
                  "id": trigger_id, "holder": holder, "claims": claims}

        def body(c: Any, attempt: int) -> bool:
            if c.execute(_FINISH_TRIGGER, params).rowcount > 0:
                return True
            if attempt:  # our own finish may have committed before the connection dropped
                got = c.execute(_GET_TRIGGER, {"id": trigger_id}).first()
                mine = got is not None and _TRIGGER.decode(got)
                return bool(mine and (mine.status, mine.finished_at, mine.run_id)
                            == (status, now, run_id))
            return False

        return bool(self._one(body))

    def requeue_expired_triggers(self, now: float) -> list[str]:
        """Put claimed rows whose lease expired back to pending; return their ids, oldest first."""
        rows = self._one(lambda c, _: c.execute(_REQUEUE_TRIGGERS, {"now": now}).all())
        return [r[0] for r in sorted(rows, key=lambda r: (r[1], r[0]))]

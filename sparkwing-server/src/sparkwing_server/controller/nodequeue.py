"""The node claim queue in the state database: SQLite (stdlib) and PostgreSQL (SQLAlchemy Core).

:class:`SqlNodeQueue` implements :class:`sparkwing.storage.nodequeue.NodeQueue`
(read its module docstring for the rules) over the ``node_queue`` table of
:mod:`sparkwing.storage.sql.schema`, through a :class:`~.statedb.StateDB`
handle:

* on SQLite, its own connection to the state file, each write in
  ``BEGIN IMMEDIATE`` (SQLite has one writer at a time, so claims are
  serialised by the database itself);
* on PostgreSQL, the state store's SQLAlchemy engine (same database, same
  schema). Claims and sweeps pick their rows with ``FOR UPDATE SKIP
  LOCKED``, so concurrent claimers each take a different row instead of
  queueing behind the first one.

Every claim is one ``UPDATE ... WHERE key = (SELECT the oldest matching
ready row) RETURNING``: the runner's labels are matched in SQL (the
attempt's ``needs_any_json`` against the runner's set), so a runner that
does not match leaves the row untouched. A claim's request id goes into
``claim_request`` (unique), which is how a repeated request is recognised. Heartbeat, release and finish
are single ``UPDATE`` statements fenced by ``claimed_by`` and
``claim_seq``; the reaper's sweeps are single statements that re-check
their condition, so a heartbeat and a sweep never both win.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkwing.storage.nodequeue import (
    AGENT_LOST,
    CANCELLED,
    CLAIMED,
    FINISHED,
    QUEUE_TIMEOUT,
    READY,
    REVOKED,
    QueuedAttempt,
    parse_needs,
)
from sparkwing.storage.sql import schema
from sparkwing.storage.sql.rows import RowCodec

from .statedb import DuplicateKey, StateDB, open_state_db, postgres_state_db, sqlite_state_db

if TYPE_CHECKING:
    from sparkwing.config import Stores

_CODEC = RowCodec(schema.NODE_QUEUE, QueuedAttempt)
_COLS = _CODEC.select
_KEY = "run_id = :run_id AND node_id = :node_id AND attempt = :attempt"
_FENCE = f"{_KEY} AND status = '{CLAIMED}' AND claimed_by = :holder AND claim_seq = :seq"
_ORDER = "queued_at, run_id, node_id, attempt"


def _match_sql(dialect: str) -> str:
    """SQL true when row ``q``'s needs are satisfied by the runner's ``:labels``."""
    if dialect == "sqlite":
        return ("NOT EXISTS (SELECT 1 FROM json_each(q.needs_any_json) AS term WHERE NOT EXISTS "
                "(SELECT 1 FROM json_each(term.value) AS alt WHERE alt.value IN "
                "(SELECT value FROM json_each(:labels))))")
    return ("NOT EXISTS (SELECT 1 FROM jsonb_array_elements(CAST(q.needs_any_json AS jsonb)) "
            "AS term(v) WHERE NOT (term.v ?| CAST(:labels AS TEXT[])))")


class SqlNodeQueue:
    """A :class:`~sparkwing.storage.nodequeue.NodeQueue` on the ``node_queue`` table of *db*."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.where = db.where
        pg = db.dialect == "postgresql"
        lock = " FOR UPDATE SKIP LOCKED" if pg else ""
        self._pg = pg
        # The candidate: the oldest ready row whose needs the labels meet. On PostgreSQL it is
        # locked (rows other claimers hold are skipped, and a row that stopped being ready
        # meanwhile is re-checked and passed over), then updated through its primary key; on
        # SQLite the statement runs under the one write lock.
        pick = (f"SELECT q.run_id, q.node_id, q.attempt FROM node_queue AS q "
                f"WHERE q.status = '{READY}' AND {_match_sql(db.dialect)} "
                f"ORDER BY q.{_ORDER.replace(', ', ', q.')} LIMIT 1{lock}")
        sets = (f"SET status = '{CLAIMED}', claimed_by = :holder, claim_seq = claim_seq + 1, "
                "claimed_at = :now, heartbeat_at = :now, lease_expires_at = :expires, "
                "claim_request = :request")
        if pg:
            self._claim = (
                f"WITH c AS ({pick}) UPDATE node_queue AS n {sets} FROM c WHERE "
                "n.run_id = c.run_id AND n.node_id = c.node_id AND n.attempt = c.attempt "
                f"RETURNING {', '.join('n.' + c for c in _CODEC.columns)}")
        else:
            self._claim = (f"UPDATE node_queue {sets} WHERE (run_id, node_id, attempt) = "
                           f"({pick}) RETURNING {_COLS}")
        self._sweep = (
            "UPDATE node_queue SET status = '" + FINISHED + "', outcome = 'failed', "
            "failure_reason = :reason, finished_at = :now, error = {error} "
            "WHERE status = :status AND {cond} AND (run_id, node_id, attempt) IN "
            "(SELECT q.run_id, q.node_id, q.attempt FROM node_queue AS q WHERE "
            "q.status = :status AND q.{cond} ORDER BY q.{col} LIMIT :limit" + lock + ") "
            f"RETURNING {_COLS}"
        )

    def close(self) -> None:
        """Release the connection."""
        self.db.close()

    def _rows(self, sql: str, **params: Any) -> list[QueuedAttempt]:
        return [_CODEC.decode(r) for r in self.db.query(sql, params)]

    def _write(self, sql: str, **params: Any) -> int:
        return self.db.write(sql, params)

    def _write_rows(self, sql: str, **params: Any) -> list[QueuedAttempt]:
        return [_CODEC.decode(r) for r in self.db.write_returning(sql, params)]

    # -- the queue --------------------------------------------------------------------

    def enqueue(self, run_id: str, node_id: str, attempt: int, *,
                needs_labels: Sequence[str] = (), now: float) -> QueuedAttempt:
        """Make the attempt claimable (a revoked one keeps its FIFO place); return its row."""
        terms = [str(t) for t in needs_labels]
        self._write(
            f"INSERT INTO node_queue ({_COLS}, needs_any_json) VALUES (:run_id, :node_id, "
            ":attempt, :needs, '" + READY + "', :now, :now, '', 0, NULL, NULL, NULL, NULL, "
            "'', NULL, '', '', NULL, NULL, :needs_any) ON CONFLICT (run_id, node_id, attempt) "
            "DO UPDATE "
            f"SET status = '{READY}', ready_at = :now, needs_labels_json = :needs, "
            f"needs_any_json = :needs_any WHERE node_queue.status = '{REVOKED}'",
            run_id=run_id, node_id=node_id, attempt=attempt, now=now,
            needs=json.dumps(terms), needs_any=json.dumps(parse_needs(terms)))
        row = self.get(run_id, node_id, attempt)
        assert row is not None
        return row

    def revoke(self, run_id: str, node_id: str, attempt: int, *, now: float) -> bool:
        """Take a ready attempt off the queue; ``False`` when it is not ready."""
        changed = self._write(
            f"UPDATE node_queue SET status = '{REVOKED}', ready_at = NULL "
            f"WHERE {_KEY} AND status = '{READY}'",
            run_id=run_id, node_id=node_id, attempt=attempt)
        return changed > 0

    def cancel(self, run_id: str, node_id: str, attempt: int, *, now: float,
               error: str = "") -> QueuedAttempt:
        """Cancel one attempt (ready/revoked: finished now; claimed: marked for its holder)."""
        keys = {"run_id": run_id, "node_id": node_id, "attempt": attempt, "now": now,
                "error": error}
        self._write(
            f"INSERT INTO node_queue ({_COLS}, needs_any_json) VALUES (:run_id, :node_id, "
            f":attempt, '[]', '{FINISHED}', :now, NULL, '', 0, NULL, NULL, NULL, :now, "
            f"'{CANCELLED}', NULL, :error, '{CANCELLED}', NULL, :now, '[]') "
            "ON CONFLICT (run_id, node_id, attempt) DO NOTHING", **keys)
        self._write(
            f"UPDATE node_queue SET status = '{FINISHED}', outcome = '{CANCELLED}', "
            f"failure_reason = '{CANCELLED}', error = :error, finished_at = :now, "
            f"cancel_requested_at = :now WHERE {_KEY} AND status IN ('{READY}', '{REVOKED}')",
            **keys)
        self._write(
            "UPDATE node_queue SET cancel_requested_at = :now "
            f"WHERE {_KEY} AND status = '{CLAIMED}' AND cancel_requested_at IS NULL", **keys)
        row = self.get(run_id, node_id, attempt)
        assert row is not None
        return row

    def claim(self, holder: str, labels: Sequence[str], *, lease_s: float,
              now: float, request_id: str = "") -> QueuedAttempt | None:
        """Claim the oldest ready attempt *labels* satisfy, for *holder*.

        A *request_id* some row carries already claims nothing: that row is
        the answer while *holder* still holds it in that claim. The claim is
        tried first (one statement on the common path); the unique index on
        ``claim_request`` refuses it when the id is taken, even by a first
        try committing at the same moment, and only then (or when nothing
        was claimable) is the id's row read.
        """
        have = sorted({str(label).strip() for label in labels if str(label).strip()})
        try:
            rows = self._write_rows(self._claim, holder=holder, now=now, expires=now + lease_s,
                                    labels=have if self._pg else json.dumps(have),
                                    request=request_id or None)
        except DuplicateKey:
            if not request_id:
                raise
            rows = []
        if rows or not request_id:
            return rows[0] if rows else None
        return self._claimed_under(request_id, holder)

    def _claimed_under(self, request_id: str, holder: str) -> QueuedAttempt | None:
        """The row claimed by *holder* under *request_id* still, else ``None``."""
        rows = self._rows(f"SELECT {_COLS} FROM node_queue WHERE claim_request = :request "
                          f"AND status = '{CLAIMED}' AND claimed_by = :holder",
                          request=request_id, holder=holder)
        return rows[0] if rows else None

    def heartbeat(self, run_id: str, node_id: str, attempt: int, holder: str, seq: int, *,
                  lease_s: float, now: float) -> QueuedAttempt | None:
        """Extend the claim ``(holder, seq)``; ``None`` when it is not the current claim."""
        rows = self._write_rows(
            "UPDATE node_queue SET lease_expires_at = :expires, heartbeat_at = :now "
            f"WHERE {_FENCE} RETURNING {_COLS}",
            run_id=run_id, node_id=node_id, attempt=attempt, holder=holder, seq=seq,
            now=now, expires=now + lease_s)
        return rows[0] if rows else None

    def release(self, run_id: str, node_id: str, attempt: int, holder: str, seq: int, *,
                now: float) -> bool:
        """Give the claim ``(holder, seq)`` back: ready again, FIFO place kept."""
        changed = self._write(
            f"UPDATE node_queue SET status = '{READY}', ready_at = :now, claimed_by = '', "
            "claimed_at = NULL, lease_expires_at = NULL, heartbeat_at = NULL, "
            "claim_request = NULL "
            f"WHERE {_FENCE}",
            run_id=run_id, node_id=node_id, attempt=attempt, holder=holder, seq=seq, now=now)
        return changed > 0

    def finish(self, run_id: str, node_id: str, attempt: int, holder: str, seq: int, *,
               outcome: str, now: float, exit_code: int | None = None, error: str = "",
               failure_reason: str = "") -> QueuedAttempt | None:
        """Record the result of the claim ``(holder, seq)``; ``None`` when it is not current."""
        rows = self._write_rows(
            f"UPDATE node_queue SET status = '{FINISHED}', outcome = :outcome, "
            "exit_code = :exit_code, error = :error, failure_reason = :reason, "
            f"finished_at = :now, lease_expires_at = NULL WHERE {_FENCE} RETURNING {_COLS}",
            run_id=run_id, node_id=node_id, attempt=attempt, holder=holder, seq=seq,
            outcome=outcome, exit_code=exit_code, error=error, reason=failure_reason, now=now)
        return rows[0] if rows else None

    # -- reading ------------------------------------------------------------------------

    def get(self, run_id: str, node_id: str, attempt: int) -> QueuedAttempt | None:
        """The row, or ``None``."""
        rows = self._rows(f"SELECT {_COLS} FROM node_queue WHERE {_KEY}",
                          run_id=run_id, node_id=node_id, attempt=attempt)
        return rows[0] if rows else None

    def latest(self, run_id: str, node_id: str) -> QueuedAttempt | None:
        """The node's row with the highest attempt, or ``None``."""
        rows = self._rows(f"SELECT {_COLS} FROM node_queue WHERE run_id = :run_id AND "
                          "node_id = :node_id ORDER BY attempt DESC LIMIT 1",
                          run_id=run_id, node_id=node_id)
        return rows[0] if rows else None

    def list_attempts(self, *, run_id: str = "", status: str = "", holder: str = "",
             limit: int = 100) -> list[QueuedAttempt]:
        """Rows in queue order, filtered (``limit <= 0``: all)."""
        where = [f"{col} = :{col}" for col, value in
                 (("run_id", run_id), ("status", status), ("claimed_by", holder)) if value]
        sql = f"SELECT {_COLS} FROM node_queue"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_ORDER}"
        if limit > 0:
            sql += f" LIMIT {int(limit):d}"
        return self._rows(sql, run_id=run_id, status=status, claimed_by=holder)

    # -- the reaper's sweeps -----------------------------------------------------------------

    def reap_lost(self, now: float, *, limit: int = 500) -> list[QueuedAttempt]:
        """Fail claimed attempts whose lease ran out (``agent_lost``); return them."""
        sql = self._sweep.format(
            cond="lease_expires_at <= :now", col="lease_expires_at",
            error="'runner ' || claimed_by || ' stopped renewing its lease (claim ' || "
                  "CAST(claim_seq AS TEXT) || ')'")
        rows = self._write_rows(sql, now=now, reason=AGENT_LOST, status=CLAIMED, limit=limit)
        return sorted(rows, key=lambda r: (r.queued_at, r.run_id, r.node_id, r.attempt))

    def reap_queue_timeouts(self, now: float, timeout_s: float, *,
                            limit: int = 500) -> list[QueuedAttempt]:
        """Fail ready attempts unclaimed for *timeout_s* (``queue_timeout``); ``<= 0``: off."""
        if timeout_s <= 0:
            return []
        sql = self._sweep.format(cond="ready_at <= :cutoff", col="ready_at", error=":error")
        error = f"no runner with matching labels claimed it within {timeout_s:g} s"
        rows = self._write_rows(sql, now=now, cutoff=now - timeout_s, reason=QUEUE_TIMEOUT,
                              status=READY, limit=limit, error=error)
        return sorted(rows, key=lambda r: (r.queued_at, r.run_id, r.node_id, r.attempt))

    def stats(self, now: float, *, active_window_s: float) -> dict[str, int]:
        """``{"ready", "claimed", "holders"}`` (holders heartbeating within the window)."""
        out = {READY: 0, CLAIMED: 0, "holders": 0}
        for status, count in self.db.query(
                "SELECT status, COUNT(*) FROM node_queue WHERE status IN "
                f"('{READY}', '{CLAIMED}') GROUP BY status", {}):
            out[str(status)] = int(count)
        rows = self.db.query(
            "SELECT COUNT(DISTINCT claimed_by) FROM node_queue WHERE status = "
            f"'{CLAIMED}' AND heartbeat_at >= :since", {"since": now - active_window_s})
        out["holders"] = int(rows[0][0]) if rows else 0
        return out


# -- opening ------------------------------------------------------------------------------------

def sqlite_node_queue(path: Path | str) -> SqlNodeQueue:
    """The queue in the SQLite state file *path* (created and migrated if needed)."""
    return SqlNodeQueue(sqlite_state_db(path))


def postgres_node_queue(config: dict[str, Any]) -> SqlNodeQueue:
    """The queue in the PostgreSQL database of a ``state`` block (``url``, ``schema``, ...).

    Opens (and migrates) a PostgreSQL state store for its engine; closing the
    queue closes it.
    """
    return SqlNodeQueue(postgres_state_db(config))


def open_node_queue(stores: Stores) -> SqlNodeQueue:
    """The queue of *stores*' state database; :class:`ConfigError` for other backends."""
    return SqlNodeQueue(open_state_db(stores, "its node queue"))

"""The three store contracts every backend implements.

* :class:`StateStore`: runs, nodes, steps, the per-run event stream,
  approvals, the memo cache index, concurrency leases, debug pauses and
  trigger rows (run requests recorded under an idempotency key).
* :class:`LogStore`: JSON-lines log records per ``(run, node)`` plus one
  run-level stream (the *envelope*, addressed with node id ``""``).
* :class:`ArtifactStore`: content-addressed blobs plus named keys.

Each contract has a conformance suite in :mod:`sparkwing.testing.suites`
that every backend in this repository runs, and that plugin authors can
run against theirs. All methods are synchronous; implementations must be
safe to use from several processes at once (and from several threads when
the implementation says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..slotted import Slotted

if TYPE_CHECKING:  # annotations only: each record class is made on first use
    from .records import (
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

#: Node id under which a log store keeps run-level (envelope) records.
ENVELOPE = ""


@runtime_checkable
class StateStore(Protocol):
    """Durable state of runs. Every write is committed before the call returns."""

    # -- lifecycle ------------------------------------------------------
    def close(self) -> None:
        """Release connections and files. Further calls are undefined."""

    # -- runs -----------------------------------------------------------
    def create_run(self, run: Run) -> None:
        """Insert a new run. Raises :class:`~sparkwing.errors.StoreError` if the id exists."""

    def update_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        """Set the given :class:`Run` fields (by attribute name) on an existing run."""

    def get_run(self, run_id: str) -> Run | None:
        """Return the run or ``None``."""

    def list_runs(self, flt: RunFilter | None = None) -> list[Run]:
        """Return runs matching *flt*, newest first (by id), at most ``flt.limit``."""

    def delete_run(self, run_id: str) -> bool:
        """Delete a run and everything recorded under it; ``False`` if it did not exist."""

    def reap_stale_runs(self, stale_before: float, now: float) -> list[str]:
        """Fail runs still live whose heartbeat is older than *stale_before*.

        Their unfinished nodes become ``done``/``cancelled``; the runs become
        ``failed`` with an error saying the process was lost. Returns their ids.
        """

    # -- nodes ----------------------------------------------------------
    def create_nodes(self, run_id: str, nodes: Sequence[Node]) -> None:
        """Insert the nodes of a run (usually all ``pending``) in one transaction."""

    def update_node(
        self,
        run_id: str,
        node_id: str,
        fields: Mapping[str, Any],
        event: tuple[str, Mapping[str, Any]] | None = None,
    ) -> int | None:
        """Set :class:`Node` fields; with *event* ``(kind, payload)`` also append it atomically.

        Returns the appended event's ``seq`` or ``None``.
        """

    def get_node(self, run_id: str, node_id: str) -> Node | None:
        """Return one node or ``None``."""

    def list_nodes(self, run_id: str) -> list[Node]:
        """Return a run's nodes in insertion order."""

    # -- steps ----------------------------------------------------------
    def upsert_step(self, step: Step) -> None:
        """Insert or replace a step row."""

    def list_steps(self, run_id: str, node_id: str | None = None) -> list[Step]:
        """Return steps of a run (or of one node) in insertion order."""

    # -- events ---------------------------------------------------------
    def append_event(
        self, run_id: str, kind: str, payload: Mapping[str, Any], node_id: str = "",
        ts: float | None = None,
    ) -> int:
        """Append to the run's event stream and return the new ``seq`` (1, 2, 3, ...).

        Sequence numbers are gap-free and strictly increasing per run, even when
        several processes append to the same run.
        """

    def list_events(self, run_id: str, after_seq: int = 0, limit: int = 500) -> list[Event]:
        """Return events with ``seq > after_seq`` in order, at most *limit*."""

    # -- approvals --------------------------------------------------------
    def create_approval(self, approval: Approval) -> None:
        """Record an approval request (idempotent for the same run/node)."""

    def get_approval(self, run_id: str, node_id: str) -> Approval | None:
        """Return the approval or ``None``."""

    def resolve_approval(
        self, run_id: str, node_id: str, resolution: str, approver: str, comment: str,
        now: float,
    ) -> bool:
        """Resolve a pending approval; ``False`` if it was missing or already resolved."""

    def list_approvals(self, run_id: str | None = None, pending_only: bool = False) -> list[Approval]:
        """Return approvals, optionally of one run and/or only the pending ones."""

    # -- memo cache index ---------------------------------------------------
    def cache_get(self, key: str, now: float) -> CacheEntry | None:
        """Return the unexpired entry for *key* (recording a hit) or ``None``."""

    def cache_put(self, entry: CacheEntry) -> None:
        """Insert or replace the entry for ``entry.key``."""

    def cache_list(self, prefix: str = "", include_expired: bool = False) -> list[CacheEntry]:
        """Return cache entries whose key starts with *prefix*, newest first."""

    def cache_delete(self, key: str) -> bool:
        """Delete one entry; ``False`` if it did not exist."""

    def cache_prune(self, now: float) -> int:
        """Delete expired entries and return how many went."""

    # -- concurrency leases ---------------------------------------------------
    def concurrency_acquire(
        self, key: str, holder_id: str, *, capacity: int, cost: int, lease_s: float,
        now: float, run_id: str = "", node_id: str = "",
    ) -> AcquireResult:
        """Try to take *cost* units of *key* for *holder_id*, in one atomic step.

        Expired holders and waiters are reaped first. A holder that already
        holds the key is re-granted (its lease renewed). Otherwise the caller
        is queued as a waiter (keeping its original arrival time on repeat
        calls) and granted only when the live holders' cost plus *cost* fits in
        *capacity* and no older waiter that would fit is ahead of it.
        """

    def concurrency_renew(self, holder_id: str, lease_expires_at: float) -> None:
        """Extend every lease (held or waiting) of *holder_id*."""

    def concurrency_release(self, key: str, holder_id: str) -> None:
        """Drop *holder_id*'s hold or wait on *key* (no-op when absent)."""

    def concurrency_state(self, key: str, now: float) -> tuple[list[Lease], list[Lease]]:
        """Return ``(holders, waiters)`` of *key*, unexpired, oldest first."""

    # -- debug pauses -----------------------------------------------------------
    def create_pause(self, pause: Pause) -> None:
        """Record a pause on a node (replacing an earlier one for the same node)."""

    def get_pause(self, run_id: str, node_id: str) -> Pause | None:
        """Return the node's pause or ``None``."""

    def release_pause(self, run_id: str, node_id: str, by: str, kind: str, now: float) -> bool:
        """Release a held pause; ``False`` if missing or already released."""

    def list_pauses(self, run_id: str | None = None, held_only: bool = False) -> list[Pause]:
        """Return pauses, optionally of one run and/or only those still held."""

    # -- triggers ---------------------------------------------------------------
    # A trigger row is one run request under a unique idempotency key. Its
    # life: ``pending`` (queued) -> ``claimed`` (a dispatcher holds a lease)
    # -> ``done`` (run created, ``run_id`` set) or ``failed`` (``error`` set);
    # an expired lease puts a ``claimed`` row back to ``pending``. A lease is
    # live while ``lease_expires_at > now``.

    def insert_trigger(self, row: TriggerRow) -> tuple[TriggerRow, bool]:
        """Record *row* unless a row with its ``idempotency_key`` exists, in one atomic step.

        Returns ``(row as stored, True)`` when inserted, else ``(existing row,
        False)`` and *row* is discarded whatever its other fields. Of several
        processes inserting one key at once exactly one gets ``True``. The
        row is stored with the status, claim and lease fields it carries (a
        dispatcher starting the run itself inserts it ``claimed``). Raises
        :class:`~sparkwing.errors.StoreError` when the id exists under another key.
        """

    def get_trigger(self, trigger_id: str) -> TriggerRow | None:
        """Return the trigger row or ``None``."""

    def list_triggers(
        self, *, pipeline: str = "", status: str = "", source: str = "", limit: int = 20,
    ) -> list[TriggerRow]:
        """Return rows newest first (``created_at``, then ``id``, descending), at most *limit*.

        Each non-empty filter must match exactly; ``limit <= 0`` means no limit.
        """

    def claim_trigger(
        self, holder: str, *, lease_s: float, now: float, trigger_id: str = "",
        pipelines: Sequence[str] = (), sources: Sequence[str] = (), request_id: str = "",
    ) -> TriggerRow | None:
        """Claim the oldest ``pending`` row (by ``created_at``, then ``id``) for *holder*.

        With *trigger_id*, claim that row only, and only if it is pending.
        Non-empty *pipelines* / *sources* restrict the claim to rows whose
        ``pipeline`` / ``source`` is one of them (both given: both must
        match). The claimed row gets status ``claimed``, ``claimed_by``
        *holder*, ``claimed_at`` *now*, ``lease_expires_at`` ``now + lease_s``
        and one more ``claims``; it is returned. ``None`` when nothing could
        be claimed. Two claimers never get the same row.

        ``claims`` after a claim is that claim's sequence number (its
        fencing token): :meth:`renew_trigger` and :meth:`finish_trigger`
        given ``claims`` act only while the row is still in that claim.

        *request_id* (the claimer's id for this claim, repeated when it
        retries a claim whose answer it lost) is stored in ``claim_request``.
        When a row carries it already, nothing is claimed: that row is
        returned unchanged while it is still ``claimed`` by *holder* (the
        same claim, answered again), else ``None`` (that claim ended).
        :meth:`requeue_expired_triggers` forgets a row's id.
        """

    def renew_trigger(
        self, trigger_id: str, holder: str, lease_expires_at: float, *, claims: int = 0,
    ) -> bool:
        """Move the lease of a row *holder* has claimed to *lease_expires_at*.

        ``False`` when the row is not ``claimed`` by *holder* (any more), or
        when *claims* is non-zero and the row's ``claims`` differs (it was
        requeued and claimed again since): the caller must stop working on it.
        """

    def finish_trigger(
        self, trigger_id: str, holder: str, *, status: str, now: float, run_id: str = "",
        error: str = "", claims: int = 0,
    ) -> bool:
        """End *holder*'s claim: ``done`` with the *run_id* it started, or ``failed`` with *error*.

        Sets ``finished_at`` and clears ``claimed_by`` and the lease. ``False``
        (and no change) when the row is not ``claimed`` by *holder* (in claim
        number *claims*, when non-zero); a :class:`ValueError` for a status
        other than ``done``/``failed``.
        """

    def requeue_expired_triggers(self, now: float) -> list[str]:
        """Put ``claimed`` rows whose lease expired (``lease_expires_at <= now``) back.

        They return to ``pending``, with their ``claimed_by``, lease and
        ``claim_request`` cleared (``claims`` keeps counting).
        Returns their ids, oldest first.
        """


class StateWrite:
    """One write of a batch (:meth:`BatchingStateStore.write_batch`).

    With ``fields`` it is :meth:`StateStore.update_node` of ``node_id`` (with
    ``event``, appended atomically); with ``step`` it is
    :meth:`StateStore.upsert_step` followed by ``event``; with neither it is
    :meth:`StateStore.append_event` of ``event`` on ``node_id``. ``ts`` is the
    event's time (``None``: when it is written). A plain slotted class: it is
    made for every write on the hot path and its module loads on every run.
    """

    __slots__ = ("event", "fields", "node_id", "run_id", "step", "ts")

    def __init__(self, run_id: str, node_id: str = "", *,
                 fields: Mapping[str, Any] | None = None,
                 event: tuple[str, Mapping[str, Any]] | None = None, step: Step | None = None,
                 ts: float | None = None) -> None:
        self.run_id = run_id
        self.node_id = node_id
        self.fields = fields
        self.event = event
        self.step = step
        self.ts = ts

    def __repr__(self) -> str:
        what = "update" if self.fields is not None else "step" if self.step else "event"
        return f"StateWrite({what} {self.run_id}/{self.node_id}, event={self.event!r})"


@runtime_checkable
class BatchingStateStore(Protocol):
    """Optional capability of a :class:`StateStore`: several writes in one transaction.

    A run's journal uses it to commit the node transitions and events of one
    turn of the event loop together. A store without it gets the same
    writes one call at a time.
    """

    def write_batch(self, writes: Sequence[StateWrite]) -> None:
        """Apply *writes* in order in one transaction, with the effects of the single calls.

        A write that fails (a missing node) fails the whole batch.
        """


class LogChunk(Slotted):
    """Records read from a log stream and the offset to continue from."""

    __slots__ = ("lines", "next_offset")

    def __init__(self, lines: list[str], next_offset: int) -> None:
        self.lines = lines
        self.next_offset = next_offset


class LogWriter(Protocol):
    """An open append handle on one log stream."""

    def write(self, lines: Iterable[str]) -> None:
        """Append JSON records, one per element, each without its trailing newline."""

    def write_raw(self, text: str) -> None:
        """Append already-framed text: zero or more complete ``\\n``-terminated JSON lines."""

    def write_bytes(self, data: bytes) -> None:
        """Append already-framed records encoded as UTF-8, like :meth:`write_raw` of their text."""

    def flush(self) -> None:
        """Make everything written so far visible to readers."""

    def close(self) -> None:
        """Flush and release the stream."""


@runtime_checkable
class LogStore(Protocol):
    """JSON-lines log records per ``(run_id, node_id)``; node id ``""`` is the run envelope."""

    def writer(self, run_id: str, node_id: str) -> LogWriter:
        """Open an append handle on a stream (created on first write)."""

    def append(self, run_id: str, node_id: str, lines: Iterable[str]) -> None:
        """Append records to a stream in one call (open, write, close)."""

    def read(self, run_id: str, node_id: str, offset: int = 0, limit: int | None = None) -> LogChunk:
        """Return complete records from *offset* (0 = start), at most *limit*.

        ``next_offset`` continues after the last returned record; reading at
        the end returns no lines and the same offset. A missing stream reads
        as empty.
        """

    def tail(self, run_id: str, node_id: str, n: int) -> list[str]:
        """Return the last *n* complete records of a stream."""

    def streams(self, run_id: str) -> list[str]:
        """Return the node ids that have a stream in this run (``""`` for the envelope)."""

    def delete_run(self, run_id: str) -> None:
        """Delete every stream of a run."""

    def close(self) -> None:
        """Release resources held by the store."""


@runtime_checkable
class ArtifactStore(Protocol):
    """Content-addressed blobs (sha256 hex digests) plus named keys."""

    def put_blob(self, data: bytes) -> str:
        """Store *data* and return its sha256 hex digest (idempotent)."""

    def get_blob(self, digest: str) -> bytes:
        """Return a blob; raises :class:`~sparkwing.errors.NotFoundError` if absent."""

    def has_blob(self, digest: str) -> bool:
        """Tell whether a blob is stored."""

    def put(self, key: str, data: bytes) -> None:
        """Store *data* under a ``/``-separated key (validated like node ids), replacing it."""

    def get(self, key: str) -> bytes:
        """Return a key's data; raises :class:`~sparkwing.errors.NotFoundError` if absent."""

    def exists(self, key: str) -> bool:
        """Tell whether a key is stored."""

    def delete(self, key: str) -> bool:
        """Delete a key; ``False`` if it did not exist."""

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys under *prefix*, sorted."""

    def close(self) -> None:
        """Release resources held by the store."""

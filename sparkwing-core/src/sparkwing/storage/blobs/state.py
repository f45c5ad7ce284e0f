"""The state store over a blob store: :class:`BlobStateStore`.

Layout below the profile's ``prefix`` (each part is described in its module)::

    runs/<bucket>/<run>.json        run heads            (runindex: CAS per run)
    buckets/, rollups/, live/       the run index        (runindex)
    runlog/<run>/<inc>/<seq>.json   nodes, steps, events (runlog: create-only records)
    runseg/<run>/<inc>/<a>-<b>.json record segments      (runlog)
    approvals/, pauses/ (+ markers) gates                (gates: CAS per gate)
    memo/<key>.json                 memo cache entries   (memo: CAS on hit)
    conc/<sha256>.json              concurrency keys     (leases: CAS per key)
    meta/conditional-writes.json    the probe's verdict  (probe)

One run's writer never contends with another run's: a run owns its head and
its record log; the only objects several runs write are the concurrency
keys, the memo entries they share and (rarely) the gates and heads that
another process settles (approve, cancel, reap), all by compare-and-swap.

When the object store is unreachable (:class:`BlobUnavailable`) and the
store has an outbox, writes are applied to what this process knows (its
own runs' heads and folds) and queued (see :mod:`.link`); reads are
answered from the same local copies; concurrency keys of one run and memo
keys are decided in this process, others wait for the store.

Where the store does not honour conditional writes (see :mod:`.probe`),
runs are still recorded (last writer wins) but global and box-scoped
concurrency groups, and approving or releasing a pause from another
machine, raise :class:`~.probe.ConditionalWritesRequired`; memoize still
replays stored results, without in-flight dedupe across processes.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import fields
from typing import Any, Final, TypeVar

from ...errors import NotFoundError
from ..contracts import StateWrite
from ..records import (
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
from . import probe as probe_mod
from .contracts import BlobInfo, BlobStore, BlobUnavailable
from .gates import RESOLUTIONS, GateBook
from .leases import LeaseBook
from .link import Link
from .memo import MemoIndex
from .memory import MemoryBlobStore
from .outbox import Entry
from .runindex import LIVE, Head, RunIndex
from .runlog import (
    RunFold,
    RunLogBook,
    check_fields,
    first_event_seq,
    op_event,
    ops_batch,
    ops_create_nodes,
    ops_reap,
    ops_update_node,
    ops_upsert_step,
)
from .triggers import FINISHED, TriggerBook

#: Threads used to read many objects at once.
POOL_SIZE: Final = 16
#: Queued writes into an existing run (replayed only while that run still exists).
_RUN_WRITES: Final = frozenset({"update_run", "create_nodes", "update_node", "upsert_step",
                                "append_event", "write_batch", "resolve_approval",
                                "release_pause"})
#: Holder ids reported for a key that waits for an unreachable store.
UNREACHABLE_HOLDER: Final = "(state store unreachable)"


def _lost_error(stale_before: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stale_before))
    return f"run process lost: no heartbeat since {stamp}"


_R = TypeVar("_R", Run, Node, Step, Event, Approval, Pause, CacheEntry, TriggerRow)


_SCALARS = (str, int, float, bool, type(None))


def _copy(record: _R) -> _R:
    """A copy callers may change without touching the cached original."""
    values: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        values[f.name] = value if isinstance(value, _SCALARS) else copy.deepcopy(value)
    return type(record)(**values)


class BlobStateStore:
    """:class:`~sparkwing.storage.contracts.StateStore` over any blob store.

    Safe to share between threads and to open from many processes and
    machines at once. *link* connects it to the outbox (default: none, so
    an unreachable store raises). *target* names the bucket and prefix for
    the conditional-write verdict (default: the blob store's ``repr``).
    *host* is the machine name recorded on gates (default: this host's).

    Beyond the contract: :meth:`concurrency_renew` extends the leases a
    holder took through this store object (a run renews its own); a run
    deleted while another process still writes it loses those writes.
    """

    def __init__(self, blobs: BlobStore, *, link: Link | None = None, target: str = "",
                 host: str | None = None) -> None:
        self.blobs = blobs
        self._host = host or socket.gethostname()
        self.link = link or Link.direct("state")
        self.link.replayer = self._replay
        self.target = target or repr(blobs)
        self._pool_obj: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.index = RunIndex(blobs, self._pool)
        self.logbook = RunLogBook(blobs, self._pool)
        self.memo = MemoIndex(blobs, self._pool)
        self.leases = LeaseBook(blobs)
        self.gates = GateBook(blobs, self._pool, self._guard, host=self._host)
        self.triggers = TriggerBook(blobs, self._pool, self._need_cas)
        self._local_triggers: dict[str, TriggerRow] = {}
        self._local_leases = LeaseBook(MemoryBlobStore())
        self._local_keys: set[str] = set()
        self._seen_leases: dict[str, tuple[list[Lease], list[Lease]]] = {}
        self._own: dict[str, Head] = {}  # heads this object wrote last
        self._incs: dict[str, str] = {}
        self._local_gates: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return f"BlobStateStore({self.blobs!r})"

    def _pool(self) -> Executor | None:
        """Threads for reading many objects at once (``None`` for a local store)."""
        size = int(getattr(self.blobs, "parallel_reads", POOL_SIZE))
        if size <= 1:
            return None
        with self._pool_lock:
            if self._pool_obj is None:
                self._pool_obj = ThreadPoolExecutor(size, thread_name_prefix="sw-blobs")
            return self._pool_obj

    # -- conditional writes --------------------------------------------------------------
    def verdict(self) -> probe_mod.Verdict | None:
        """Whether the store honours conditional writes (``None``: not known yet)."""
        return probe_mod.verdict(self.blobs, self.target)

    def _cas_ok(self) -> bool:
        found = self.verdict()
        return found is None or found.honoured

    def _refuse(self, feature: str) -> probe_mod.ConditionalWritesRequired:
        found = self.verdict()
        assert found is not None
        return probe_mod.refuse(feature, self.blobs.kind, found)

    def _need_cas(self, feature: str) -> None:
        if not self._cas_ok():
            raise self._refuse(feature)

    def _guard(self, feature: str, creator_host: str) -> None:
        if creator_host and creator_host != self._host and not self._cas_ok():
            raise self._refuse(feature)

    # -- the write path: remote, else local and queued ------------------------------------
    def _write(self, op: str, args: dict[str, Any], merge: str = "") -> Any:
        if self._usable():
            try:
                return self._remote(op, args)
            except BlobUnavailable as exc:
                if not self.link.buffering:
                    raise
                self.link.failed(exc)
        result = self._local(op, args)
        self.link.queue("state", op, args, key=str(args.get("run_id", "")), merge=merge)
        return result

    def _remote(self, op: str, args: dict[str, Any]) -> Any:
        return getattr(self, "_r_" + op)(**args)

    def _local(self, op: str, args: dict[str, Any]) -> Any:
        fn = getattr(self, "_l_" + op, None)
        if fn is None:
            raise self._unreachable(op.replace("_", " "))
        return fn(**args)

    def _replay(self, entry: Entry) -> None:
        run_id = entry.args.get("run_id")
        if run_id and entry.op in _RUN_WRITES:  # the run may be gone (or re-created) since
            head = self.index.get(str(run_id))
            if head is None:
                raise NotFoundError(f"run {run_id} not found")
            self._incs[str(run_id)] = head.inc
        self._remote(entry.op, entry.args)

    def _usable(self) -> bool:
        """Whether to use the store now; local copies go once the outbox is drained."""
        if not self.link.usable():
            return False
        if self.logbook.has_local() and not self.link.queued:
            self.logbook.settle()
        return True

    def _read(self, remote: Callable[[], Any], local: Callable[[], Any]) -> Any:
        if self._usable():
            try:
                return remote()
            except BlobUnavailable as exc:
                if not self.link.buffering:
                    raise
                self.link.failed(exc)
        return local()

    def _unreachable(self, what: str) -> BlobUnavailable:
        detail = f" ({self.link.last_error})" if self.link.last_error else ""
        return BlobUnavailable(
            f"the {self.blobs.kind} state store is unreachable{detail}, so {what} cannot be "
            "answered now; writes are kept in the outbox (sparkwing outbox status)"
        )

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Replay what waits in the outbox when possible, stop the reader threads, close."""
        if self.link.queued:
            self.link.drain()
        with self._pool_lock:
            if self._pool_obj is not None:
                self._pool_obj.shutdown(wait=True)
                self._pool_obj = None
        self.blobs.close()

    # -- runs ---------------------------------------------------------------------------
    def _inc(self, run_id: str) -> str:
        inc = self._incs.get(run_id)
        if inc is None:
            head = self.index.get(run_id)
            if head is None:
                raise NotFoundError(f"run {run_id} not found")
            inc = self._incs[run_id] = head.inc
        return inc

    def create_run(self, run: Run) -> None:
        """Insert a new run; :class:`~sparkwing.errors.StoreError` if the id exists."""
        self._write("create_run", {"run": run.to_dict(), "inc": uuid.uuid4().hex[:16]})

    def _r_create_run(self, run: dict[str, Any], inc: str) -> None:
        record = Run(**run)
        head = Head(record, inc, BlobInfo("", "", 0), self._host)
        try:
            made = self.index.create(head, exists_check=not self._cas_ok())
        except Exception:
            existing = self.index.get(record.id)
            if existing is not None and existing.inc == inc:  # a replay of a write that landed
                made = existing
            else:
                raise
        with self._lock:
            self._own[record.id] = made
            self._incs[record.id] = inc

    def _l_create_run(self, run: dict[str, Any], inc: str) -> None:
        record = Run(**run)
        with self._lock:
            self._own[record.id] = Head(record, inc, BlobInfo("", "", 0), self._host)
            self._incs[record.id] = inc

    def update_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        """Set :class:`Run` fields; :class:`NotFoundError` if the run is missing."""
        changes = check_fields(Run, fields, ("id",))
        self._write("update_run", {"run_id": run_id, "fields": changes}, merge="fields")

    def _r_update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        head = self.index.update(run_id, fields, seed=self._own.get(run_id))
        if head is not None:
            with self._lock:
                self._own[run_id] = head
                self._incs[run_id] = head.inc

    def _l_update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        head = self._own.get(run_id)
        if head is None:
            raise self._unreachable(f"run {run_id} (not started here)")
        run = head.run.to_dict()
        run.update(fields)
        with self._lock:
            self._own[run_id] = Head(Run(**run), head.inc, head.info, head.host)

    def get_run(self, run_id: str) -> Run | None:
        """Return the run or ``None``."""

        def remote() -> Run | None:
            head = self.index.get(run_id)
            if head is None:
                return None
            self._incs[run_id] = head.inc
            return _copy(head.run)

        def local() -> Run | None:
            head = self._own.get(run_id)
            if head is None:
                raise self._unreachable(f"run {run_id}")
            return _copy(head.run)

        result: Run | None = self._read(remote, local)
        return result

    def list_runs(self, flt: RunFilter | None = None) -> list[Run]:
        """Runs matching *flt*, newest first by id, at most ``flt.limit``."""
        flt = flt or RunFilter()

        def local() -> list[Run]:
            raise self._unreachable("the run list")

        runs: list[Run] = self._read(lambda: self.index.list_runs(flt), local)
        return [_copy(r) for r in runs]

    def delete_run(self, run_id: str) -> bool:
        """Delete a run and everything recorded under it; ``False`` if it did not exist."""

        def local() -> bool:
            raise self._unreachable(f"deleting run {run_id}")

        deleted: bool = self._read(lambda: self._r_delete_run(run_id), local)
        return deleted

    def _r_delete_run(self, run_id: str) -> bool:
        head = self.index.get(run_id)
        with self._lock:
            self._own.pop(run_id, None)
            self._incs.pop(run_id, None)
            for k in [k for k in self._local_gates if k[1] == run_id]:
                del self._local_gates[k]
        self.logbook.forget(run_id)
        if head is None:
            return False
        self.index.delete(run_id)
        self.logbook.delete(run_id, head.inc)
        self.gates.delete_run(run_id)
        return True

    def reap_stale_runs(self, stale_before: float, now: float) -> list[str]:
        """Fail live runs with no run or node heartbeat since *stale_before*; return their ids."""
        return list(self._read(lambda: self._r_reap(stale_before, now), lambda: []))

    def _r_reap(self, stale_before: float, now: float) -> list[str]:
        error = _lost_error(stale_before)
        node_error = "cancelled: " + error
        reaped: list[str] = []

        def beat(run: Mapping[str, Any]) -> float:
            return float(run.get("last_heartbeat_at") or run.get("started_at")
                         or run.get("created_at") or 0.0)

        for head in self.index.live():
            if beat(head.run.to_dict()) >= stale_before:
                continue
            fold = self.logbook.fold(head.run.id, head.inc)
            if any((n.last_heartbeat_at or 0.0) >= stale_before for n in fold.nodes.values()):
                continue

            def decide(run: dict[str, Any]) -> dict[str, Any] | None:
                if run["status"] not in LIVE or beat(run) >= stale_before:
                    return None  # finished or beat meanwhile
                return {"status": "failed", "finished_at": now, "error": error}

            if self.index.update(head.run.id, decide) is None:
                continue
            self.logbook.append(head.run.id, head.inc,
                                lambda f: ops_reap(f, now, node_error))
            reaped.append(head.run.id)
        return sorted(reaped)

    # -- nodes, steps, events -------------------------------------------------------------
    def _fold(self, run_id: str) -> RunFold | None:
        """The run's fold, from the store when it answers, else the local copy."""

        def remote() -> RunFold | None:
            head = self.index.get(run_id)
            if head is None:
                return None
            self._incs[run_id] = head.inc
            return self.logbook.fold(run_id, head.inc)

        def local() -> RunFold | None:
            fold = self.logbook.cached(run_id)
            if fold is None:
                if run_id in self._own:
                    return RunFold(run_id, self._own[run_id].inc)
                raise self._unreachable(f"the nodes of run {run_id}")
            return fold

        found: RunFold | None = self._read(remote, local)
        return found

    def _append(self, run_id: str, build: Callable[[RunFold], list[dict[str, Any]]],
                op: str) -> dict[str, Any] | None:
        _, rec = self.logbook.append(run_id, self._inc(run_id), build, op)
        return rec

    def _append_local(self, run_id: str, build: Callable[[RunFold], list[dict[str, Any]]],
                      op: str) -> list[dict[str, Any]]:
        inc = self._incs.get(run_id)
        if inc is None:
            raise self._unreachable(f"run {run_id} (not started here)")
        with self.logbook.run_lock(run_id):
            ops = build(self.logbook.local_fold(run_id, inc))
        if ops:
            self.logbook.apply_local(run_id, inc, ops, op)
        return ops

    def create_nodes(self, run_id: str, nodes: Sequence[Node]) -> None:
        """Insert nodes (in the given order, after existing ones) in one record."""
        for node in nodes:
            if node.run_id and node.run_id != run_id:
                raise ValueError(f"node {node.node_id} belongs to run {node.run_id}, not {run_id}")
        if not nodes:
            return
        self._write("create_nodes", {"run_id": run_id, "nodes": [n.to_dict() for n in nodes],
                                     "op": uuid.uuid4().hex})

    def _r_create_nodes(self, run_id: str, nodes: list[dict[str, Any]], op: str) -> None:
        records = [Node(**n) for n in nodes]
        self._append(run_id, lambda f: ops_create_nodes(f, records), op)

    def _l_create_nodes(self, run_id: str, nodes: list[dict[str, Any]], op: str) -> None:
        records = [Node(**n) for n in nodes]
        self._append_local(run_id, lambda f: ops_create_nodes(f, records), op)

    def update_node(
        self,
        run_id: str,
        node_id: str,
        fields: Mapping[str, Any],
        event: tuple[str, Mapping[str, Any]] | None = None,
    ) -> int | None:
        """Set node fields and optionally append an event, in one record; return its seq."""
        changes = check_fields(Node, fields, ("run_id", "node_id"))
        args = {"run_id": run_id, "node_id": node_id, "fields": changes,
                "event": [event[0], dict(event[1])] if event is not None else None,
                "op": uuid.uuid4().hex, "ts": time.time()}
        seq: int | None = self._write("update_node", args)
        return seq

    def _build_update(self, node_id: str, fields: dict[str, Any], event: list[Any] | None,
                      ts: float) -> Callable[[RunFold], list[dict[str, Any]]]:
        pair = (str(event[0]), dict(event[1])) if event is not None else None
        return lambda f: ops_update_node(f, node_id, fields, pair, ts)

    def _r_update_node(self, run_id: str, node_id: str, fields: dict[str, Any],
                       event: list[Any] | None, op: str, ts: float) -> int | None:
        rec = self._append(run_id, self._build_update(node_id, fields, event, ts), op)
        return first_event_seq(rec["ops"]) if rec is not None and event is not None else None

    def _l_update_node(self, run_id: str, node_id: str, fields: dict[str, Any],
                       event: list[Any] | None, op: str, ts: float) -> int | None:
        ops = self._append_local(run_id, self._build_update(node_id, fields, event, ts), op)
        return first_event_seq(ops) if event is not None else None

    def get_node(self, run_id: str, node_id: str) -> Node | None:
        """Return one node or ``None``."""
        fold = self._fold(run_id)
        node = fold.nodes.get(node_id) if fold is not None else None
        return None if node is None else _copy(node)

    def list_nodes(self, run_id: str) -> list[Node]:
        """Return a run's nodes in insertion order."""
        fold = self._fold(run_id)
        return [] if fold is None else [_copy(n) for n in fold.nodes.values()]

    def upsert_step(self, step: Step) -> None:
        """Insert or replace a step (a replaced step keeps its position)."""
        self._write("upsert_step", {"run_id": step.run_id, "step": step.to_dict(),
                                    "op": uuid.uuid4().hex})

    def _r_upsert_step(self, run_id: str, step: dict[str, Any], op: str) -> None:
        record = Step(**step)
        self._append(run_id, lambda f: ops_upsert_step(f, record), op)

    def _l_upsert_step(self, run_id: str, step: dict[str, Any], op: str) -> None:
        record = Step(**step)
        self._append_local(run_id, lambda f: ops_upsert_step(f, record), op)

    def list_steps(self, run_id: str, node_id: str | None = None) -> list[Step]:
        """Return steps of a run (or of one node) in insertion order."""
        fold = self._fold(run_id)
        if fold is None:
            return []
        return [_copy(s) for s in fold.steps.values() if node_id is None or s.node_id == node_id]

    def append_event(
        self, run_id: str, kind: str, payload: Mapping[str, Any], node_id: str = "",
        ts: float | None = None,
    ) -> int:
        """Append to the run's event stream and return the new gap-free ``seq``."""
        args = {"run_id": run_id, "kind": kind, "payload": dict(payload), "node_id": node_id,
                "ts": time.time() if ts is None else ts, "op": uuid.uuid4().hex}
        seq: int = self._write("append_event", args)
        return seq

    def _r_append_event(self, run_id: str, kind: str, payload: dict[str, Any], node_id: str,
                        ts: float, op: str) -> int:
        rec = self._append(run_id, lambda f: [op_event(f, kind, payload, node_id, ts)], op)
        return first_event_seq(rec["ops"]) or 0 if rec is not None else 0

    def _l_append_event(self, run_id: str, kind: str, payload: dict[str, Any], node_id: str,
                        ts: float, op: str) -> int:
        ops = self._append_local(run_id, lambda f: [op_event(f, kind, payload, node_id, ts)], op)
        return first_event_seq(ops) or 0

    def list_events(self, run_id: str, after_seq: int = 0, limit: int = 500) -> list[Event]:
        """Return events with ``seq > after_seq`` in order, at most *limit* (``<= 0``: all)."""
        fold = self._fold(run_id)
        if fold is None:
            return []
        events = fold.events[after_seq:] if after_seq >= 0 else fold.events
        events = [e for e in events if e.seq > after_seq]
        if limit > 0:
            events = events[:limit]
        return [_copy(e) for e in events]

    def write_batch(self, writes: Sequence[StateWrite]) -> None:
        """Apply node updates, step upserts and events in order: one record per run.

        The writes of one run land together or not at all (a missing node
        fails them all); a batch spanning several runs makes one record per
        run, in the order the runs first appear.
        """
        if not writes:
            return
        now = time.time()
        groups: dict[str, list[dict[str, Any]]] = {}
        for w in writes:
            fields = (check_fields(Node, w.fields, ("run_id", "node_id"))
                      if w.fields is not None else None)
            groups.setdefault(w.run_id, []).append({
                "node_id": w.node_id, "fields": fields,
                "step": w.step.to_dict() if w.step is not None else None,
                "event": [w.event[0], dict(w.event[1])] if w.event is not None else None,
                "ts": now if w.ts is None else w.ts,
            })
        for run_id, items in groups.items():
            self._write("write_batch", {"run_id": run_id, "writes": items,
                                        "op": uuid.uuid4().hex})

    def _r_write_batch(self, run_id: str, writes: list[dict[str, Any]], op: str) -> None:
        self._append(run_id, lambda f: ops_batch(f, writes), op)

    def _l_write_batch(self, run_id: str, writes: list[dict[str, Any]], op: str) -> None:
        self._append_local(run_id, lambda f: ops_batch(f, writes), op)

    # -- approvals ------------------------------------------------------------------------
    def create_approval(self, approval: Approval) -> None:
        """Record an approval request (a second request for the same node changes nothing)."""
        self._write("create_approval", {"approval": approval.to_dict()})

    def _r_create_approval(self, approval: dict[str, Any]) -> None:
        record = Approval(**approval)
        self._inc(record.run_id)  # NotFoundError for a missing run
        self.gates.create_approval(record)

    def _l_create_approval(self, approval: dict[str, Any]) -> None:
        record = Approval(**approval)
        self._local_gates.setdefault(("approval", record.run_id, record.node_id), record)

    def get_approval(self, run_id: str, node_id: str) -> Approval | None:
        """Return the approval or ``None``."""

        def local() -> Approval | None:
            found = self._local_gates.get(("approval", run_id, node_id))
            if found is None and run_id not in self._own:
                raise self._unreachable(f"the approval {node_id} of run {run_id}")
            return None if found is None else _copy(found)

        result: Approval | None = self._read(lambda: self.gates.get_approval(run_id, node_id),
                                             local)
        return result

    def resolve_approval(self, run_id: str, node_id: str, resolution: str, approver: str,
                         comment: str, now: float) -> bool:
        """Resolve a pending approval once; ``False`` if missing or already resolved."""
        if resolution not in RESOLUTIONS:
            raise ValueError(
                f"approval resolution must be one of {sorted(RESOLUTIONS)}, got {resolution!r}"
            )
        done: bool = self._write("resolve_approval", {
            "run_id": run_id, "node_id": node_id, "resolution": resolution,
            "approver": approver, "comment": comment, "now": now})
        return done

    def _r_resolve_approval(self, run_id: str, node_id: str, resolution: str, approver: str,
                            comment: str, now: float) -> bool:
        return self.gates.resolve_approval(run_id, node_id, resolution, approver, comment, now)

    def _l_resolve_approval(self, run_id: str, node_id: str, resolution: str, approver: str,
                            comment: str, now: float) -> bool:
        found = self._local_gates.get(("approval", run_id, node_id))
        if found is None:
            raise self._unreachable(f"the approval {node_id} of run {run_id}")
        if found.resolution:
            return False
        found.resolution, found.approver, found.comment, found.resolved_at = (
            resolution, approver, comment, now)
        return True

    def list_approvals(self, run_id: str | None = None,
                       pending_only: bool = False) -> list[Approval]:
        """Return approvals (oldest request first), optionally of one run / only pending."""

        def local() -> list[Approval]:
            raise self._unreachable("the approval list")

        found: list[Approval] = self._read(
            lambda: self.gates.list_approvals(run_id, pending_only), local)
        return found

    # -- memo cache index -------------------------------------------------------------------
    def cache_get(self, key: str, now: float) -> CacheEntry | None:
        """Return the unexpired entry for *key* (counting the hit) or ``None``."""
        found: CacheEntry | None = self._read(lambda: self.memo.get(key, now), lambda: None)
        return found

    def cache_put(self, entry: CacheEntry) -> None:
        """Insert or replace the entry for ``entry.key``."""
        self._write("cache_put", {"entry": entry.to_dict()})

    def _r_cache_put(self, entry: dict[str, Any]) -> None:
        self.memo.put(CacheEntry(**entry))

    def _l_cache_put(self, entry: dict[str, Any]) -> None:
        pass  # queued only: nobody can read it before the store returns

    def cache_list(self, prefix: str = "", include_expired: bool = False) -> list[CacheEntry]:
        """Return entries whose key starts with *prefix*, newest first."""

        def local() -> list[CacheEntry]:
            raise self._unreachable("the memo cache list")

        found: list[CacheEntry] = self._read(lambda: self.memo.list(prefix, include_expired),
                                             local)
        return found

    def cache_delete(self, key: str) -> bool:
        """Delete one entry; ``False`` if it did not exist."""

        def local() -> bool:
            raise self._unreachable("deleting a memo entry")

        gone: bool = self._read(lambda: self.memo.delete(key), local)
        return gone

    def cache_prune(self, now: float) -> int:
        """Delete expired entries and return how many went."""

        def local() -> int:
            raise self._unreachable("pruning the memo cache")

        count: int = self._read(lambda: self.memo.prune(now), local)
        return count

    # -- concurrency leases -----------------------------------------------------------------
    def _locally(self, key: str) -> bool:
        """Whether *key* is decided in this process (no CAS, or an outage holds it local)."""
        if key in self._local_keys:
            return True
        if key.startswith(("memo:", "r:")) and not self._cas_ok():
            self._note_once("memo", "memoize in-flight dedupe across processes needs "
                            "conditional writes, which this store ignores: concurrent runs "
                            "of one key each compute it")
            return True
        if key.startswith(("g:", "b:")) and not self._cas_ok():
            scope = "global" if key.startswith("g:") else "box"
            raise self._refuse(f'the {scope}-scoped concurrency group "{key[2:].split(":")[-1]}"')
        return False

    def _note_once(self, topic: str, message: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            from ...proglog import get_logger

            get_logger("sparkwing.storage.blobs").warning(message)

    def concurrency_acquire(
        self, key: str, holder_id: str, *, capacity: int, cost: int, lease_s: float,
        now: float, run_id: str = "", node_id: str = "",
    ) -> AcquireResult:
        """Take *cost* units of *key* for *holder_id* or queue it (FIFO), by compare-and-swap."""
        kw = {"capacity": capacity, "cost": cost, "lease_s": lease_s, "now": now,
              "run_id": run_id, "node_id": node_id}
        if self._locally(key):
            return self._local_acquire(key, holder_id, kw)

        def local() -> AcquireResult:
            if key.startswith(("memo:", "r:")):
                return self._local_acquire(key, holder_id, kw)
            return AcquireResult(False, 0, 0, [UNREACHABLE_HOLDER])

        result: AcquireResult = self._read(
            lambda: self.leases.acquire(key, holder_id, **kw), local)  # type: ignore[arg-type]
        return result

    def _local_acquire(self, key: str, holder_id: str, kw: dict[str, Any]) -> AcquireResult:
        with self._lock:
            self._local_keys.add(key)
        return self._local_leases.acquire(key, holder_id, **kw)

    def concurrency_renew(self, holder_id: str, lease_expires_at: float) -> None:
        """Extend every lease (held or waiting) of *holder_id* taken through this object."""
        self._local_leases.renew(holder_id, lease_expires_at)
        self._read(lambda: self.leases.renew(holder_id, lease_expires_at), lambda: None)

    def concurrency_release(self, key: str, holder_id: str) -> None:
        """Drop *holder_id*'s hold or wait on *key* (no-op when absent)."""
        if key in self._local_keys:
            self._local_leases.release(key, holder_id)
            holders, waiters = self._local_leases.state(key, 0.0)
            if not holders and not waiters:
                with self._lock:
                    self._local_keys.discard(key)
            return
        self._read(lambda: self.leases.release(key, holder_id), lambda: None)

    def concurrency_state(self, key: str, now: float) -> tuple[list[Lease], list[Lease]]:
        """Return ``(holders, waiters)`` of *key*, unexpired, oldest first."""
        if key in self._local_keys:
            return self._local_leases.state(key, now)

        def remote() -> tuple[list[Lease], list[Lease]]:
            found = self.leases.state(key, now)
            self._seen_leases[key] = found
            return found

        def local() -> tuple[list[Lease], list[Lease]]:
            holders, waiters = self._seen_leases.get(key, ([], []))
            return ([h for h in holders if h.lease_expires_at > now],
                    [w for w in waiters if w.lease_expires_at > now])

        found: tuple[list[Lease], list[Lease]] = self._read(remote, local)
        return found

    # -- debug pauses ---------------------------------------------------------------------
    def create_pause(self, pause: Pause) -> None:
        """Record a pause on a node (replacing an earlier one for the same node)."""
        self._write("create_pause", {"pause": pause.to_dict()})

    def _r_create_pause(self, pause: dict[str, Any]) -> None:
        record = Pause(**pause)
        self._inc(record.run_id)
        self.gates.create_pause(record)

    def _l_create_pause(self, pause: dict[str, Any]) -> None:
        record = Pause(**pause)
        self._local_gates[("pause", record.run_id, record.node_id)] = record

    def get_pause(self, run_id: str, node_id: str) -> Pause | None:
        """Return the node's pause or ``None``."""

        def local() -> Pause | None:
            found = self._local_gates.get(("pause", run_id, node_id))
            if found is None and run_id not in self._own:
                raise self._unreachable(f"the pause of {node_id} in run {run_id}")
            return None if found is None else _copy(found)

        result: Pause | None = self._read(lambda: self.gates.get_pause(run_id, node_id), local)
        return result

    def release_pause(self, run_id: str, node_id: str, by: str, kind: str, now: float) -> bool:
        """Release a held pause; ``False`` if missing or already released."""
        done: bool = self._write("release_pause", {"run_id": run_id, "node_id": node_id,
                                                   "by": by, "kind": kind, "now": now})
        return done

    def _r_release_pause(self, run_id: str, node_id: str, by: str, kind: str,
                         now: float) -> bool:
        return self.gates.release_pause(run_id, node_id, by, kind, now)

    def _l_release_pause(self, run_id: str, node_id: str, by: str, kind: str,
                         now: float) -> bool:
        found = self._local_gates.get(("pause", run_id, node_id))
        if found is None:
            raise self._unreachable(f"the pause of {node_id} in run {run_id}")
        if found.released_at is not None:
            return False
        found.released_at, found.released_by, found.release_kind = now, by, kind
        return True

    def list_pauses(self, run_id: str | None = None, held_only: bool = False) -> list[Pause]:
        """Return pauses (oldest first), optionally of one run / only those still held."""

        def local() -> list[Pause]:
            raise self._unreachable("the pause list")

        found: list[Pause] = self._read(lambda: self.gates.list_pauses(run_id, held_only), local)
        return found

    # -- triggers ---------------------------------------------------------------------------
    def insert_trigger(self, row: TriggerRow) -> tuple[TriggerRow, bool]:
        """Record *row* unless a row with its idempotency key exists, atomically."""
        stored, created = self._write("insert_trigger", {"row": row.to_dict()})
        return _copy(stored), bool(created)

    def _r_insert_trigger(self, row: dict[str, Any]) -> tuple[TriggerRow, bool]:
        stored, created = self.triggers.insert(TriggerRow(**row), exists_check=not self._cas_ok())
        self._keep_trigger(stored)
        return stored, created

    def _keep_trigger(self, row: TriggerRow | None) -> None:
        """Remember a row this process inserted or claimed (its copy while the store is away)."""
        if row is not None:
            self._local_triggers[row.id] = _copy(row)

    def _l_insert_trigger(self, row: dict[str, Any]) -> tuple[TriggerRow, bool]:
        record = TriggerRow(**row)
        self._local_triggers[record.id] = record
        return record, True

    def get_trigger(self, trigger_id: str) -> TriggerRow | None:
        """Return the trigger row or ``None``."""

        def local() -> TriggerRow | None:
            found = self._local_triggers.get(trigger_id)
            if found is None:
                raise self._unreachable(f"trigger {trigger_id}")
            return _copy(found)

        row: TriggerRow | None = self._read(lambda: self.triggers.get(trigger_id), local)
        return row

    def list_triggers(self, *, pipeline: str = "", status: str = "", source: str = "",
                      limit: int = 20) -> list[TriggerRow]:
        """Return rows newest first, filtered, at most *limit* (``<= 0``: all)."""

        def local() -> list[TriggerRow]:
            raise self._unreachable("the trigger list")

        rows: list[TriggerRow] = self._read(lambda: self.triggers.list_rows(
            pipeline=pipeline, status=status, source=source, limit=limit), local)
        return rows

    def claim_trigger(self, holder: str, *, lease_s: float, now: float,
                      trigger_id: str = "", pipelines: Sequence[str] = (),
                      sources: Sequence[str] = (), request_id: str = "") -> TriggerRow | None:
        """Claim the oldest pending row (or *trigger_id*) for *holder*, by compare-and-swap."""

        def local() -> TriggerRow | None:
            raise self._unreachable("claiming a trigger")

        row: TriggerRow | None = self._read(lambda: self.triggers.claim(
            holder, lease_s=lease_s, now=now, trigger_id=trigger_id, pipelines=pipelines,
            sources=sources, request_id=request_id), local)
        self._keep_trigger(row)
        return row

    def renew_trigger(self, trigger_id: str, holder: str, lease_expires_at: float, *,
                      claims: int = 0) -> bool:
        """Move the lease of a row *holder* claimed; ``False`` when it is not theirs."""
        done: bool = self._write("renew_trigger", {
            "trigger_id": trigger_id, "holder": holder, "lease_expires_at": lease_expires_at,
            "claims": claims})
        return done

    def _r_renew_trigger(self, trigger_id: str, holder: str, lease_expires_at: float,
                         claims: int = 0) -> bool:
        done = self.triggers.renew(trigger_id, holder, lease_expires_at, claims)
        if done:
            self._l_renew_trigger(trigger_id, holder, lease_expires_at, claims, missing_ok=True)
        return done

    def _l_renew_trigger(self, trigger_id: str, holder: str, lease_expires_at: float,
                         claims: int = 0, missing_ok: bool = False) -> bool:
        row = self._local_claimed(trigger_id, holder, missing_ok, claims)
        if row is None:
            return False
        row.lease_expires_at = lease_expires_at
        return True

    def finish_trigger(self, trigger_id: str, holder: str, *, status: str, now: float,
                       run_id: str = "", error: str = "", claims: int = 0) -> bool:
        """End *holder*'s claim: ``done`` with its run, or ``failed`` with *error*."""
        if status not in FINISHED:
            raise ValueError(f"trigger status must be done or failed, got {status!r}")
        done: bool = self._write("finish_trigger", {
            "trigger_id": trigger_id, "holder": holder, "status": status, "now": now,
            "run_id": run_id, "error": error, "claims": claims})
        return done

    def _r_finish_trigger(self, trigger_id: str, holder: str, status: str, now: float,
                          run_id: str, error: str, claims: int = 0) -> bool:
        done = self.triggers.finish(trigger_id, holder, status=status, now=now, run_id=run_id,
                                    error=error, claims=claims)
        if done:
            self._l_finish_trigger(trigger_id, holder, status, now, run_id, error, claims,
                                   missing_ok=True)
        return done

    def _l_finish_trigger(self, trigger_id: str, holder: str, status: str, now: float,
                          run_id: str, error: str, claims: int = 0,
                          missing_ok: bool = False) -> bool:
        row = self._local_claimed(trigger_id, holder, missing_ok, claims)
        if row is None:
            return False
        row.status, row.finished_at, row.claimed_by = status, now, ""
        row.lease_expires_at, row.run_id, row.error = None, run_id, error
        return True

    def _local_claimed(self, trigger_id: str, holder: str, missing_ok: bool = False,
                       claims: int = 0) -> TriggerRow | None:
        row = self._local_triggers.get(trigger_id)
        if row is None:
            if missing_ok:
                return None
            raise self._unreachable(f"trigger {trigger_id}")
        if claims and row.claims != claims:
            return None
        return row if row.status == "claimed" and row.claimed_by == holder else None

    def requeue_expired_triggers(self, now: float) -> list[str]:
        """Put claimed rows whose lease expired back to pending; return their ids."""
        ids: list[str] = self._read(lambda: self.triggers.requeue_expired(now), lambda: [])
        return ids


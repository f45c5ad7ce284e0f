"""A run's nodes, steps and events as an append-only log of create-only objects.

Every change to a run's nodes, steps or event stream is one *record*,
written create-only at the next free sequence number::

    runlog/<run>/<inc>/<seq:012d>.json     {"seq", "op", "ts", "ops": [...]}
    runseg/<run>/<inc>/<first>-<last>.json  records first..last in one object

``<inc>`` is the run's incarnation (a fresh id each time a run with this id
is created, so a deleted and re-created run starts afresh). A writer
validates its change against the run as of record ``N - 1`` (its *fold*)
and writes record ``N`` with ``if_none_match="*"``; when another process
took ``N`` first, it reads the records it missed and tries again. So every
decision (a duplicate node id, a missing node, the next event ``seq``) is
made against exactly the state it lands on, events get gap-free sequence
numbers across processes, and no object is ever written twice (no hot
object: GCS's one write per second per object name never applies).

Every :data:`SEGMENT` records the writer of the last one also writes a
*segment* holding all of them, so a reader that starts from nothing reads
one listing and a few segments instead of every record. Each record
carries an operation id; replaying a buffered write (the outbox) that
already landed finds its id in the fold and writes nothing.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

from ...errors import NotFoundError, StoreError
from ..records import Event, Node, Run, Step
from .cas import dumps, loads
from .contracts import BlobStore, PreconditionFailed
from .keys import segment
from .pool import PoolGetter, parallel_map

#: Records per segment object.
SEGMENT: Final = 64
#: Largest number of records fetched in parallel while catching up.
PROBE_MAX: Final = 32
#: Folds kept in memory (least recently used go; they are read again when needed).
FOLDS_KEPT: Final = 256
#: Tries of one append before giving up (each lost race reads what it missed first).
APPEND_TRIES: Final = 200


def _names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


RUN_FIELDS: Final = _names(Run)
NODE_FIELDS: Final = _names(Node)


def check_fields(record: type, changes: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """Return *changes* as a dict; :class:`ValueError` for unknown or key fields of *record*."""
    allowed = _names(record)
    for name in changes:
        if name not in allowed or name in keys:
            what = "immutable" if name in allowed else "unknown"
            raise ValueError(f"cannot update {what} {record.__name__} field {name!r}")
    return dict(changes)


@dataclass
class RunFold:
    """What a run's records say so far: the run's nodes, steps and events as of ``seq``."""

    run_id: str
    inc: str
    seq: int = 0
    nodes: dict[str, Node] = field(default_factory=dict)
    steps: dict[tuple[str, str], Step] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    op_ids: set[str] = field(default_factory=set)
    #: Records after the last segment boundary, for the writer of the next segment.
    tail: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: True for a local copy holding writes made while the store was unreachable.
    provisional: bool = False

    def apply(self, rec: Mapping[str, Any]) -> None:
        """Apply the record that follows ``seq`` (raises :class:`StoreError` on a gap)."""
        seq = int(rec["seq"])
        if seq != self.seq + 1:
            raise StoreError(f"run {self.run_id}: record {seq} does not follow {self.seq}")
        for op in rec["ops"]:
            kind = op["t"]
            if kind == "nodes":
                for raw in op["v"]:
                    node = Node(**raw)
                    self.nodes[node.node_id] = node
            elif kind == "node":
                target = self.nodes.get(op["id"])
                if target is not None:
                    for name, value in op["v"].items():
                        setattr(target, name, value)
            elif kind == "step":
                step = Step(**op["v"])
                self.steps[(step.node_id, step.step_id)] = step
            elif kind == "event":
                self.events.append(Event(**op["v"]))
        self.seq = seq
        op_id = rec.get("op")
        if op_id:
            self.op_ids.add(str(op_id))
        if seq % SEGMENT == 1:
            self.tail.clear()
        self.tail[seq] = dict(rec)


# -- building the ops of one change, validated against the fold --------------------------


def ops_create_nodes(fold: RunFold, nodes: Sequence[Node]) -> list[dict[str, Any]]:
    """Ops inserting *nodes* after the existing ones; :class:`StoreError` on a duplicate id."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for node in nodes:
        if node.node_id in fold.nodes or node.node_id in seen:
            raise StoreError(f"run {fold.run_id}: duplicate node id {node.node_id!r}")
        seen.add(node.node_id)
        raw = node.to_dict()
        raw["run_id"] = fold.run_id
        out.append(raw)
    return [{"t": "nodes", "v": out}] if out else []


def ops_update_node(
    fold: RunFold, node_id: str, changes: Mapping[str, Any],
    event: tuple[str, Mapping[str, Any]] | None, ts: float,
) -> list[dict[str, Any]]:
    """Ops setting node fields (and appending *event*); :class:`NotFoundError` for a missing node."""
    if node_id not in fold.nodes:
        raise NotFoundError(f"node {node_id} of run {fold.run_id} not found")
    ops: list[dict[str, Any]] = []
    if changes:
        ops.append({"t": "node", "id": node_id, "v": dict(changes)})
    if event is not None:
        ops.append(op_event(fold, event[0], event[1], node_id, ts))
    return ops


def ops_upsert_step(fold: RunFold, step: Step) -> list[dict[str, Any]]:
    """The op inserting or replacing *step*; :class:`NotFoundError` when its node is missing."""
    if step.node_id not in fold.nodes:
        raise NotFoundError(f"node {step.node_id} of run {step.run_id} not found")
    raw = step.to_dict()
    raw["run_id"] = fold.run_id
    return [{"t": "step", "v": raw}]


def op_event(fold: RunFold, kind: str, payload: Mapping[str, Any], node_id: str,
             ts: float) -> dict[str, Any]:
    """The op appending one event, numbered after the fold's last."""
    return {"t": "event", "v": {
        "run_id": fold.run_id, "seq": len(fold.events) + 1, "kind": kind, "ts": ts,
        "node_id": node_id, "payload": dict(payload),
    }}


def ops_batch(fold: RunFold, writes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ops of a batch of writes (node updates, step upserts, events), in order.

    Each write is ``{"node_id", "fields", "step", "event", "ts"}`` (``fields``
    and ``step`` may be ``None``; ``event`` is ``[kind, payload]`` or
    ``None``). A write on a missing node raises :class:`NotFoundError`, so
    the batch is written whole or not at all; events are numbered in order.
    """
    ops: list[dict[str, Any]] = []
    seq = len(fold.events)
    for w in writes:
        node_id = str(w["node_id"])
        if w.get("fields") is not None:
            if node_id not in fold.nodes:
                raise NotFoundError(f"node {node_id} of run {fold.run_id} not found")
            if w["fields"]:
                ops.append({"t": "node", "id": node_id, "v": dict(w["fields"])})
        step = w.get("step")
        if step is not None:
            if step["node_id"] not in fold.nodes:
                raise NotFoundError(f"node {step['node_id']} of run {fold.run_id} not found")
            ops.append({"t": "step", "v": {**step, "run_id": fold.run_id}})
        event = w.get("event")
        if event is not None:
            seq += 1
            ops.append({"t": "event", "v": {
                "run_id": fold.run_id, "seq": seq, "kind": str(event[0]), "ts": float(w["ts"]),
                "node_id": node_id, "payload": dict(event[1]),
            }})
    return ops


def ops_reap(fold: RunFold, now: float, node_error: str) -> list[dict[str, Any]]:
    """Ops ending every unfinished node (``done``/``cancelled``) and running step (``cancelled``)."""
    ops: list[dict[str, Any]] = []
    for node in fold.nodes.values():
        if node.status != "done":
            change: dict[str, Any] = {"status": "done", "outcome": "cancelled",
                                      "finished_at": node.finished_at or now}
            if not node.error:
                change["error"] = node_error
            ops.append({"t": "node", "id": node.node_id, "v": change})
    for step in fold.steps.values():
        if step.status == "running":
            raw = step.to_dict()
            raw.update(status="cancelled", finished_at=step.finished_at or now)
            ops.append({"t": "step", "v": raw})
    return ops


def first_event_seq(ops: Sequence[Mapping[str, Any]]) -> int | None:
    """The ``seq`` of the first event among *ops*, or ``None``."""
    for op in ops:
        if op["t"] == "event":
            return int(op["v"]["seq"])
    return None


# -- reading and writing records ------------------------------------------------------------


def _seq_key(seq: int) -> str:
    return f"{seq:012d}.json"


class RunLogBook:
    """Reads and appends the record logs of runs, keeping a caught-up fold per run.

    Safe to share between threads: appends to one run are serialised in this
    process (other processes are handled by create-only writes).
    """

    def __init__(self, blobs: BlobStore, pool: PoolGetter) -> None:
        self.blobs = blobs
        self._pool = pool
        self._folds: OrderedDict[str, RunFold] = OrderedDict()
        self._local: dict[str, RunFold] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- keys ---------------------------------------------------------------------
    @staticmethod
    def log_prefix(run_id: str, inc: str = "") -> str:
        """Prefix of a run's records (of one incarnation when *inc* is given)."""
        base = f"runlog/{segment(run_id)}/"
        return f"{base}{inc}/" if inc else base

    @staticmethod
    def seg_prefix(run_id: str, inc: str = "") -> str:
        """Prefix of a run's segments (of one incarnation when *inc* is given)."""
        base = f"runseg/{segment(run_id)}/"
        return f"{base}{inc}/" if inc else base

    def run_lock(self, run_id: str) -> threading.Lock:
        """The lock serialising this process's appends to (and catch-ups of) *run_id*."""
        with self._lock:
            lock = self._locks.get(run_id)
            if lock is None:
                lock = self._locks[run_id] = threading.Lock()
            return lock

    # -- folds --------------------------------------------------------------------
    def cached(self, run_id: str) -> RunFold | None:
        """The fold this process knows for *run_id* (its local copy first), or ``None``."""
        return self._local.get(run_id) or self._folds.get(run_id)

    def forget(self, run_id: str) -> None:
        """Drop the folds kept for *run_id*."""
        self._folds.pop(run_id, None)
        self._local.pop(run_id, None)

    def has_local(self) -> bool:
        """Whether writes made while the store was unreachable are held in local copies."""
        return bool(self._local)

    def settle(self) -> None:
        """Drop the local copies: their writes reached the store (the outbox is drained)."""
        self._local.clear()

    def fold(self, run_id: str, inc: str) -> RunFold:
        """The fold of incarnation *inc* of *run_id*, caught up with the store."""
        with self.run_lock(run_id):
            fold = self._fold_locked(run_id, inc)
            self.catch_up(fold)
            return fold

    def local_fold(self, run_id: str, inc: str) -> RunFold:
        """The local copy of the fold (started from the known one) for writes made offline."""
        fold = self._local.get(run_id)
        if fold is None or fold.inc != inc:
            known = self._folds.get(run_id)
            fold = copy.deepcopy(known) if known is not None and known.inc == inc else (
                RunFold(run_id, inc))
            fold.provisional = True
            self._local[run_id] = fold
        return fold

    def _fold_locked(self, run_id: str, inc: str) -> RunFold:
        with self._lock:
            fold = self._folds.get(run_id)
            if fold is None or fold.inc != inc:
                fold = self._folds[run_id] = RunFold(run_id, inc)
            self._folds.move_to_end(run_id)
            while len(self._folds) > FOLDS_KEPT:
                self._folds.popitem(last=False)  # read again from the store when needed
            return fold

    def catch_up(self, fold: RunFold) -> None:
        """Apply every record after ``fold.seq`` that exists (caller holds the run lock)."""
        if fold.seq == 0:
            self._load_segments(fold)
        batch = 1
        while True:
            seqs = list(range(fold.seq + 1, fold.seq + 1 + batch))
            records = self._get_many([self.log_prefix(fold.run_id, fold.inc) + _seq_key(s)
                                      for s in seqs])
            for rec in records:
                if rec is None:
                    return
                fold.apply(rec)
            batch = min(batch * 4, PROBE_MAX)

    def _load_segments(self, fold: RunFold) -> None:
        prefix = self.seg_prefix(fold.run_id, fold.inc)
        spans: list[tuple[int, int, str]] = []
        token = ""
        while True:
            page = self.blobs.list_page(prefix, page_token=token)
            for info in page.items:
                name = info.key[len(prefix):].removesuffix(".json")
                lo, _, hi = name.partition("-")
                if lo.isdigit() and hi.isdigit():
                    spans.append((int(lo), int(hi), info.key))
            token = page.next_token
            if not token:
                break
        spans.sort()
        chain: list[str] = []
        end = 0
        for first, last, key in spans:
            if first == end + 1:
                chain.append(key)
                end = last
        for raw in self._get_many(chain):
            if raw is None:  # deleted meanwhile: read the records one by one instead
                return
            for rec in raw["records"]:
                if int(rec["seq"]) == fold.seq + 1:
                    fold.apply(rec)

    def _get_many(self, keys: list[str]) -> list[Any]:
        if not keys:
            return []
        return parallel_map(self._pool, self._get_json, keys)

    def _get_json(self, key: str) -> Any:
        blob = self.blobs.get(key)
        return None if blob is None else loads(blob.data, key)

    # -- appending -----------------------------------------------------------------
    def append(
        self,
        run_id: str,
        inc: str,
        build: Callable[[RunFold], list[dict[str, Any]]],
        op_id: str = "",
    ) -> tuple[RunFold, dict[str, Any] | None]:
        """Append the ops ``build(fold)`` returns as one record; return ``(fold, record)``.

        *build* validates against the fold (raising aborts with nothing
        written) and is called again after a lost race. An empty op list
        writes nothing (record ``None``); so does an *op_id* already in the
        log (a replayed write).
        """
        op_id = op_id or uuid.uuid4().hex
        with self.run_lock(run_id):
            fold = self._fold_locked(run_id, inc)
            if fold.seq == 0:
                self.catch_up(fold)
            for _ in range(APPEND_TRIES):
                if op_id in fold.op_ids:
                    return fold, None
                ops = build(fold)
                if not ops:
                    return fold, None
                rec = {"seq": fold.seq + 1, "op": op_id, "ts": time.time(), "ops": ops}
                key = self.log_prefix(run_id, inc) + _seq_key(fold.seq + 1)
                try:
                    self.blobs.put(key, dumps(rec), if_none_match="*",
                                   content_type="application/json")
                except PreconditionFailed:
                    self.catch_up(fold)
                    continue
                fold.apply(rec)
                if fold.seq % SEGMENT == 0:
                    self._write_segment(fold)
                return fold, rec
        raise StoreError(f"run {run_id}: gave up appending after {APPEND_TRIES} lost races")

    def _write_segment(self, fold: RunFold) -> None:
        first = fold.seq - SEGMENT + 1
        records = [fold.tail.get(s) for s in range(first, fold.seq + 1)]
        if any(r is None for r in records):
            return
        key = f"{self.seg_prefix(fold.run_id, fold.inc)}{first:012d}-{fold.seq:012d}.json"
        try:
            self.blobs.put(key, dumps({"records": records}), if_none_match="*",
                           content_type="application/json")
        except PreconditionFailed:
            pass

    def apply_local(self, run_id: str, inc: str, ops: list[dict[str, Any]], op_id: str) -> RunFold:
        """Apply ops to the local copy of the fold without writing (the store is unreachable)."""
        with self.run_lock(run_id):
            fold = self.local_fold(run_id, inc)
            fold.apply({"seq": fold.seq + 1, "op": op_id, "ops": ops})
            return fold

    # -- deleting --------------------------------------------------------------------
    def delete(self, run_id: str, inc: str) -> None:
        """Delete every record and segment of incarnation *inc* of *run_id*."""
        keys: list[str] = []
        for prefix in (self.seg_prefix(run_id, inc), self.log_prefix(run_id, inc)):
            token = ""
            while True:
                page = self.blobs.list_page(prefix, page_token=token)
                keys.extend(i.key for i in page.items)
                token = page.next_token
                if not token:
                    break
        parallel_map(self._pool, self.blobs.delete, keys)
        with self.run_lock(run_id):
            self.forget(run_id)

"""The run journal: the one place a run's records are written and its progress reported.

Every write of the run's record goes through :class:`RunJournal`: the run
and node rows, the run's event stream, step rows, memoized results,
approval and pause requests, the run envelope in the log store; so does
every call to the live reporter and to the plugins' observer hooks.

On the hot path (node transitions, events, steps) the journal batches:
when the state store offers :class:`~sparkwing.storage.contracts.BatchingStateStore`,
writes are queued and committed together, in one transaction, at most
:data:`COMMIT_WINDOW_S` after the first of them (group commit). Anything a
person or another process waits on is committed at once:
:meth:`RunJournal.flush` runs before an attempt starts outside this process
(so a node's output is durable in the state store before a dependent reads
it from another process), when a gate or a pause starts waiting, before the
run's nodes change and when the run ends.

When the state store fails a write after its own retries (a
:class:`~sparkwing.errors.StoreError`: PostgreSQL down for longer than its
``retry_timeout``), :meth:`RunJournal.store_failed` records why and tells
the orchestrator, which stops the run. From then on the journal keeps every
write in memory; :meth:`RunJournal.finish` sends them, the run's failure
last, and gives a store that retries (a ``retry_timeout`` attribute, in
seconds) that long once more to take them. If it still cannot, the run ends
with the reason as a one-line :class:`~sparkwing.errors.StoreError`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import events
from ..errors import StoreError
from ..execution.contracts import AttemptResult
from ..runtime.nodelog import NodeLogger
from ..runtime.secrets import Masker
from ..storage.contracts import ENVELOPE, LogStore, LogWriter, StateStore, StateWrite
from ..storage.logrecord import make_record
from ..storage.records import Node
from .graph import NodeState
from .reporting import Reporter

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..dsl.nodes import JobNode
    from ..dsl.plan import Plan
    from ..plugins.manager import PluginHost
    from ..storage.records import Approval, CacheEntry, Pause, Run

_NODE_FIELDS = frozenset(f.name for f in dataclasses.fields(Node))

#: Longest time a queued write waits for others to share its transaction. Shell jobs
#: end every millisecond or two; at 2 ms a 100-job run made ~45 transactions, at 20 ms
#: ~10 (each costs a commit on the event loop's thread). Readers see a transition at
#: most this much later; whatever someone waits on is flushed at once (see above).
COMMIT_WINDOW_S = 0.02

#: First and longest pause between the last tries to record a run after its store failed.
LAST_RECORD_BACKOFF_S = (0.2, 2.0)


class RunJournal:
    """Writes one run's records and reports its progress (see the module docs).

    Built from the run's state and log stores, the live reporter, the masker
    every recorded error passes through and, optionally, the plugin host
    whose observer hooks (``run_started``, ``node_started``, ...) it calls.
    A failing observer costs a warning, never the run.
    """

    def __init__(self, state: StateStore, logs: LogStore, reporter: Reporter, masker: Masker,
                 hooks: PluginHost | None = None) -> None:
        self.state = state
        self.logs = logs
        self.reporter = reporter
        self.masker = masker
        self.hooks = hooks
        self.run: Run | None = None
        self._run_id = ""
        #: What this process last wrote of each node's row (handed to observers).
        self.rows: dict[str, Node] = {}
        self.envelope_writer: LogWriter | None = None
        # BatchingStateStore, told by its method (a Protocol isinstance check costs more)
        self._write_batch: Callable[[Sequence[StateWrite]], None] | None = getattr(
            state, "write_batch", None)
        self._batching = callable(self._write_batch)
        self._pending: list[StateWrite] = []
        #: A batch the store gave up on: sent again, as the same list, before anything else.
        self._unsent: list[StateWrite] = []
        self._flush_scheduled = False
        #: Why the state store cannot record this run (``""`` while it can).
        self.store_error = ""
        #: Called once with :attr:`store_error` when the store fails (the orchestrator
        #: stops the run).
        self.on_store_failure: Callable[[str], None] | None = None
        #: False when attached to a run another process owns (``node exec``): a failed
        #: write is then raised to the caller, as there is no run here to stop.
        self._owns_run = True
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Whether a plugin observes nodes starting / finishing (the row mirror and the hook
        #: calls cost nothing otherwise; a hook nobody implements is not called).
        self._observes_starts = hooks is not None and hooks.implements("sparkwing_node_started")
        self._observes_ends = hooks is not None and hooks.implements("sparkwing_node_finished")
        self._observes_nodes = self._observes_starts or self._observes_ends

    @property
    def run_id(self) -> str:
        """The id of the journal's run."""
        assert self.run is not None, "the journal has no run yet"
        return self._run_id

    # -- the run ---------------------------------------------------------------------
    def start(self, run: Run, plan: Plan, nodes: list[JobNode], states: dict[str, NodeState],
              envelope: dict[str, Any]) -> None:
        """Create the run and its nodes, write the envelope's first records, tell everyone."""
        self.run, self._run_id = run, run.id
        self.state.create_run(run)
        self._create_nodes(nodes)
        writer = self.envelope_writer = self.logs.writer(run.id, ENVELOPE)
        self.envelope(events.LOG_RUN_START, f"run {run.id} of {run.pipeline}", envelope)
        self.envelope(events.LOG_RUN_PLAN, f"{len(nodes)} jobs", run.plan or {})
        writer.flush()
        self.state.append_event(run.id, events.RUN_STARTED, {"pipeline": run.pipeline})
        self.reporter.run_started(run, plan, states)
        if self.hooks is not None:
            self._observe(self.hooks.run_started, run)

    def attach(self, run: Run, *, batching: bool = False) -> None:
        """Journal into a run that already exists (``sparkwing node exec``).

        Writes go to the store at once unless *batching* (and the store can batch); a
        write the store fails raises :class:`StoreError` to the caller.
        """
        self.run, self._run_id = run, run.id
        self._owns_run = False
        self._batching = batching and self._batching

    def envelope(self, event: str, msg: str, attrs: dict[str, Any], level: str = "info") -> None:
        """Write one record to the run's envelope stream (and to the reporter)."""
        assert self.envelope_writer is not None, "the run's envelope is not open"
        text = make_record(self.masker.mask(msg), level=level, event=event, attrs=attrs) + "\n"
        data = text.encode("utf-8", "replace")
        self.envelope_writer.write_bytes(data)
        self.reporter.records(data)

    def heartbeat(self) -> None:
        """Record that the run's process is alive (nothing once the store has failed)."""
        if self.store_error:
            return
        try:
            self.state.update_run(self.run_id, {"last_heartbeat_at": time.time()})
        except StoreError as exc:
            self.store_failed(exc)

    def store_failed(self, exc: BaseException) -> None:
        """The state store failed a write after its own retries: remember why, stop the run.

        Only the first failure counts; later ones change nothing.
        """
        if self.store_error:
            return
        self.store_error = " ".join(str(exc).split()) or type(exc).__name__
        if self.on_store_failure is not None:
            self.on_store_failure(self.store_error)

    def finish(self, run: Run, status: str, error: str, states: dict[str, NodeState]) -> None:
        """Record the run's terminal status and summary and tell the reporter and observers.

        When the state store has failed (before or now), the run ends
        ``failed`` with the store's reason; if even its last records cannot
        be written, :class:`StoreError` with that reason is raised after the
        reporter and observers were told.
        """
        self._flush_scheduled = False
        if not self.store_error:
            try:
                self._send()
            except StoreError as exc:
                self.store_failed(exc)
        if self.store_error:
            status, error = "failed", self.store_error
        now = time.time()
        run.status, run.error, run.finished_at = status, error, now
        fields = {"status": status, "error": error, "finished_at": now, "last_heartbeat_at": now}
        recorded = True
        if self.store_error:
            recorded = self._last_records(run.id, fields)
        else:
            self.state.update_run(run.id, fields)
        counts: dict[str, int] = {}
        for st in states.values():
            counts[st.outcome or "none"] = counts.get(st.outcome or "none", 0) + 1
        self.envelope(
            events.LOG_RUN_SUMMARY, f"{len(states)} jobs",
            {"outcomes": counts, "duration_ms": int((now - (run.started_at or now)) * 1000)},
        )
        hints = {"status": f"sparkwing runs status --run {run.id}",
                 "logs": f"sparkwing runs logs --run {run.id}"}
        if status != "success":
            hints["retry"] = f"sparkwing runs retry --run {run.id} --failed"
        self.envelope(
            events.LOG_RUN_FINISH, f"run {status}" + (f": {error}" if error else ""),
            {"run_id": run.id, "status": status, "error": error, "hints": hints},
            level="info" if status == "success" else "error",
        )
        if self.envelope_writer is not None:
            self.envelope_writer.close()
        if not self.store_error:
            self.state.append_event(run.id, events.RUN_FINISHED,
                                    {"status": status, "error": error})
        self.reporter.run_finished(run, states)
        if self.hooks is not None:
            self._observe(self.hooks.run_finished, run)
        if not recorded:
            raise StoreError(f"{self.store_error} (run {run.id} could not record its end)")

    def _last_records(self, run_id: str, fields: dict[str, Any]) -> bool:
        """After a store failure: send every kept write, the run's end last; ``True`` when done.

        Tries until the store's ``retry_timeout`` (if it has one) has passed once more.
        """
        end = (events.RUN_FINISHED, {"status": fields["status"], "error": fields["error"]})
        self._pending.append(StateWrite(run_id, event=end, ts=fields["finished_at"]))
        deadline = time.monotonic() + float(getattr(self.state, "retry_timeout", 0.0) or 0.0)
        delay, longest = LAST_RECORD_BACKOFF_S
        while True:
            try:
                self._send()
                self.state.update_run(run_id, fields)
                return True
            except StoreError:
                if time.monotonic() >= deadline:
                    return False
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, longest)

    # -- nodes -----------------------------------------------------------------------
    def add_nodes(self, nodes: list[JobNode]) -> None:
        """Record nodes created while the run is live (fan-out members, spawned children)."""
        self.flush()
        self._create_nodes(nodes)

    def _create_nodes(self, nodes: list[JobNode]) -> None:
        run_id = self.run_id
        rows = [Node(run_id, n.id, kind=n.kind, deps=list(n.deps), groups=list(n.groups))
                for n in nodes]
        self.state.create_nodes(run_id, rows)
        for row in rows:
            self.rows[row.node_id] = row

    def update(self, nid: str, fields: dict[str, Any], event: str | None = None,
               payload: dict[str, Any] | None = None) -> None:
        """Set fields of a node's row, appending *event* with it when given."""
        if self._observes_nodes:
            row = self.rows.get(nid)
            if row is not None:
                for key, value in fields.items():
                    if key in _NODE_FIELDS:
                        setattr(row, key, value)
        ev = (event, payload or {}) if event else None
        write = StateWrite(self._run_id, nid, fields=fields, event=ev, ts=time.time())
        if self._batching or self.store_error:
            self._queue(write)
        else:
            self._direct(write)

    def event(self, kind: str, payload: dict[str, Any], node_id: str = "") -> None:
        """Append an event to the run's stream."""
        write = StateWrite(self._run_id, node_id, event=(kind, payload), ts=time.time())
        if self._batching or self.store_error:
            self._queue(write)
        else:
            self._direct(write)

    def changed(self, st: NodeState) -> None:
        """Tell the reporter a node's live state changed."""
        self.reporter.node_changed(st)

    def warning(self, message: str) -> None:
        """Something the person running should know that is not a log record."""
        self.reporter.warning(message)

    def started(self, st: NodeState) -> None:
        """A node's first attempt is starting: running row, event, reporter, observers."""
        now = time.time()
        st.status, st.started = "running", now
        self.update(st.id, {"status": "running", "started_at": now, "status_detail": ""},
                    events.NODE_STARTED, {})
        self.reporter.node_changed(st)
        if self._observes_starts:
            self._observe_node(True, st.id)

    def settle(self, st: NodeState, outcome: str, error: str = "", event: str = "",
               extra: dict[str, Any] | None = None,
               payload: dict[str, Any] | None = None, raw_payload: bool = False) -> None:
        """Record a node that ends without running (skipped, cancelled, cached, a gate, ...).

        The event's payload is ``{outcome, reason}`` plus *payload*, or only
        *payload* with ``raw_payload``.
        """
        error = self.masker.mask(error)
        now = time.time()
        st.status, st.outcome, st.error, st.finished = "done", outcome, error, now
        fields = {"status": "done", "outcome": outcome, "error": error, "finished_at": now}
        fields.update(extra or {})
        body = dict(payload or {}) if raw_payload else {
            "outcome": outcome, "reason": error, **(payload or {})}
        self.update(st.id, fields, event or events.node_settled(outcome), body)
        self.reporter.node_changed(st)
        if self._observes_ends:
            self._observe_node(False, st.id)

    def finished(self, st: NodeState, node: JobNode, log: NodeLogger, outcome: str, error: str,
                 reason: str, exit_code: int | None, output: Any) -> None:
        """Record a node that ran to its outcome: row, events, its last log records."""
        nid = st.id
        now = time.time()
        error = self.masker.mask(error)
        st.status, st.outcome, st.error, st.finished = "done", outcome, error, now
        duration_ms = int((now - (st.started or now)) * 1000)
        fields: dict[str, Any] = {
            "status": "done", "outcome": outcome, "error": error, "finished_at": now,
            "failure_reason": reason, "exit_code": exit_code, "attempts": st.attempt,
        }
        if outcome == "success":
            if output is not None:
                fields["output"] = output
                fields["has_output"] = True
            log.record(f"job {nid} succeeded", event=events.LOG_NODE_END,
                       attrs={"outcome": outcome, "duration_ms": duration_ms}, flush=False)
            self.update(nid, fields, events.NODE_SUCCEEDED, {"duration_ms": duration_ms})
        else:
            excerpt, cut = log.excerpt()
            st.excerpt = excerpt
            level = "warn" if node.is_optional else "error"
            log.record(error, level=level, event=events.LOG_NODE_END,
                       attrs={"outcome": outcome, "duration_ms": duration_ms, "error": error})
            self.update(nid, fields, events.NODE_FAILED,
                        {"error": error, "failure_reason": reason, "exit_code": exit_code,
                         "duration_ms": duration_ms, "optional": node.is_optional})
            self.event(
                events.NODE_FAILURE_EXCERPT,
                {"log_excerpt": excerpt, "log_excerpt_truncated": cut,
                 "logs": f"sparkwing runs logs --run {self.run_id} --node {nid}"},
                node_id=nid,
            )
        self.reporter.node_changed(st)
        if self._observes_ends:
            self._observe_node(False, nid)

    def retrying(self, st: NodeState, attempt: int, error: str) -> None:
        """A node is about to start attempt number *attempt* after a failed one."""
        self.update(st.id, {"attempts": attempt}, events.ATTEMPT_RETRY,
                    {"attempt": attempt, "error": error})
        self.reporter.node_changed(st)

    def attempt_finished(self, nid: str, attempt: int, result: AttemptResult,
                         executor: str) -> None:
        """Append the ``attempt_finished`` event of one attempt."""
        self.attempt_finished_payload(nid, result.to_payload(attempt, executor))

    def attempt_finished_payload(self, nid: str, payload: dict[str, Any]) -> None:
        """Append an ``attempt_finished`` event with a payload built by :func:`attempt_payload`."""
        self.event(events.ATTEMPT_FINISHED, payload, node_id=nid)

    def note(self, nid: str, kind: str, text: str) -> None:
        """Add an annotation to a node, or set its summary (``kind`` ``annotation``/``summary``).

        Called from the job's own thread; written at once (dropped once the store failed).
        """
        if self.store_error:
            return
        try:
            self._note(nid, kind, text)
        except StoreError as exc:
            if not self._owns_run:
                raise
            self.store_failed(exc)

    def _note(self, nid: str, kind: str, text: str) -> None:
        if kind == "annotation":
            current = self.state.get_node(self.run_id, nid)
            notes = [*(current.annotations if current else []), text]
            fields: dict[str, Any] = {"annotations": notes}
        else:
            fields = {"summary": text}
        row = self.rows.get(nid)
        if row is not None:
            for key, value in fields.items():
                setattr(row, key, value)
        self.state.update_node(self.run_id, nid, fields)

    def node_log(self, nid: str) -> NodeLogger:
        """Open a node's log (tee'd to the reporter when it wants every record)."""
        writer = self.logs.writer(self.run_id, nid)
        return NodeLogger(writer, nid, self.masker,
                          self.reporter.records if self.reporter.wants_records else None)

    # -- steps (the executor's StepRecorder) -------------------------------------------
    def step(self, node_id: str, step_id: str, status: str, started_at: float | None,
             error: str = "") -> None:
        """Record a step transition: the step row and a ``step_started``/``step_finished`` event."""
        from ..storage.records import Step  # made only for runs with steps

        row = Step(self.run_id, node_id, step_id, status, started_at=started_at,
                   finished_at=None if status == "running" else time.time(), error=error)
        kind = events.STEP_STARTED if status == "running" else events.STEP_FINISHED
        payload = {"step": step_id, "status": status, **({"error": error} if error else {})}
        write = StateWrite(self.run_id, node_id, event=(kind, payload), step=row, ts=time.time())
        if self._batching or self.store_error:
            self._queue(write)
        else:
            self._direct(write)

    # -- coordination records ------------------------------------------------------------
    def memo_stored(self, entry: CacheEntry) -> None:
        """Record a memoized output."""
        self.state.cache_put(entry)

    def approval_requested(self, approval: Approval) -> None:
        """Record an approval gate's request (idempotent for one run and node)."""
        self.flush()
        if self.state.get_approval(approval.run_id, approval.node_id) is None:
            self.state.create_approval(approval)

    def approval_expired(self, nid: str, comment: str) -> None:
        """Resolve an approval whose time ran out (``timed_out`` by ``sparkwing``)."""
        if self.state.resolve_approval(self.run_id, nid, "timed_out", "sparkwing", comment,
                                       time.time()):
            self.event(events.APPROVAL_RESOLVED,
                       {"resolution": "timed_out", "approver": "sparkwing", "comment": comment},
                       node_id=nid)

    def pause_created(self, pause: Pause) -> None:
        """Record a debug pause on a node."""
        self.flush()
        self.state.create_pause(pause)

    def pause_expired(self, nid: str) -> None:
        """Release a debug pause whose time ran out."""
        self.state.release_pause(self.run_id, nid, "sparkwing", "timeout-released", time.time())

    # -- batching --------------------------------------------------------------------------
    def _queue(self, write: StateWrite) -> None:
        self._pending.append(write)
        if self.store_error:
            return  # kept for the run's last records
        if not self._flush_scheduled:
            try:
                loop = self._loop or asyncio.get_running_loop()
            except RuntimeError:  # not on the loop's thread: write now
                self.flush()
                return
            self._loop = loop
            self._flush_scheduled = True
            loop.call_later(COMMIT_WINDOW_S, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        if not self._flush_scheduled:  # flushed early
            return
        try:
            self.flush()
        except StoreError as exc:  # the store gave up: the run stops, its writes are kept
            self.store_failed(exc)
        except Exception as exc:  # a bug must reach the person, not kill the loop
            from ..proglog import get_logger

            get_logger("sparkwing.orchestrator").error("writing run records failed",
                                                       exc_info=exc)
            self.reporter.warning(f"writing run records failed: {exc}")

    def flush(self) -> None:
        """Commit every queued write now (one transaction); kept once the store has failed."""
        self._flush_scheduled = False
        if self.store_error:
            return
        self._send()

    def _send(self) -> None:
        """Write the batch the store gave up on, then the queued writes; keep what fails."""
        if self._unsent:
            self._write(self._unsent)  # the same list: a store may recognise it
            self._unsent = []
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            self._write(pending)
        except StoreError:
            self._unsent = pending
            raise

    def _write(self, writes: list[StateWrite]) -> None:
        write_batch = self._write_batch if self._batching else None
        if write_batch is not None:
            write_batch(writes)
            return
        while writes:  # one at a time, dropping each once it is written
            self._apply(writes[0])
            del writes[0]

    def _direct(self, write: StateWrite) -> None:
        """Write one record at once (a store that cannot batch); kept if the store fails."""
        try:
            self._apply(write)
        except StoreError as exc:
            if not self._owns_run:
                raise
            self._pending.append(write)
            self.store_failed(exc)

    def _apply(self, w: StateWrite) -> None:
        """Apply one write through the plain :class:`StateStore` calls."""
        if w.fields is not None:
            self.state.update_node(w.run_id, w.node_id, w.fields, w.event)
            return
        if w.step is not None:
            self.state.upsert_step(w.step)
        if w.event is not None:
            self.state.append_event(w.run_id, w.event[0], w.event[1], node_id=w.node_id, ts=w.ts)

    # -- observers ---------------------------------------------------------------------------
    def _observe(self, hook: Callable[[Run], None], run: Run) -> None:
        try:
            hook(run)
        except Exception as exc:  # an observer must not change the outcome
            self.reporter.warning(f"a plugin's {hook.__name__} hook failed: {exc}")

    def _observe_node(self, started: bool, nid: str) -> None:
        """Call the node observers' ``node_started`` (*started*) or ``node_finished`` hook."""
        if self.hooks is None or self.run is None:
            return
        row = self.rows.get(nid)
        if row is None:
            return
        hook = self.hooks.node_started if started else self.hooks.node_finished
        try:
            hook(self.run, row)
        except Exception as exc:
            self.reporter.warning(f"a plugin's {hook.__name__} hook failed: {exc}")

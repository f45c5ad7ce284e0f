"""One node's life in a run: wait for its dependencies, decide whether it runs, run it, record it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import events
from ..dsl.nodes import JobNode
from ..errors import SparkwingError, StoreError
from ..runtime.context import Context, RunContext
from ..runtime.nodelog import NodeLogger
from ..runtime.secrets import Masker, SecretProvider
from ..storage.records import OK_OUTCOMES
from .attempts import AttemptLoop
from .graph import NodeState, RunGraph
from .journal import RunJournal
from .options import RunOptions

if TYPE_CHECKING:
    from .expansion import Expander
    from .gates import Gates
    from .groups import ConcurrencyGroups
    from .memo import Memoizer

T = TypeVar("T")


class Lazy(Generic[T]):
    """A collaborator built (and its module imported) the first time the run needs it.

    Most runs use no memoize, group, gate or run-time expansion: their
    modules are then never loaded.
    """

    __slots__ = ("_build", "_value")

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None

    def get(self) -> T:
        """The collaborator (built now if it was not yet)."""
        if self._value is None:
            self._value = self._build()
        return self._value

    @property
    def built(self) -> T | None:
        """The collaborator if it was built, else ``None``."""
        return self._value


class NodeRunner:
    """Takes each node of a run from pending to its outcome.

    Built from the run's graph and journal, the collaborators that may hold
    or settle a node (memoize, concurrency groups, gates, run-time expansion,
    the attempt loop), the run-wide settings and what every job's Context
    gets (run facts, inputs, masker, secrets). *slots* bounds how many job
    bodies run at once. It is also the spawner behind ``ctx.spawn()``.
    """

    def __init__(self, graph: RunGraph, journal: RunJournal, *, memo: Lazy[Memoizer],
                 groups: Lazy[ConcurrencyGroups], gates: Lazy[Gates], expander: Lazy[Expander],
                 attempts: AttemptLoop, options: RunOptions, run_ctx: RunContext, inputs: Any,
                 masker: Masker, secrets: SecretProvider, call: Callable[..., Awaitable[Any]],
                 slots: int) -> None:
        self.graph = graph
        self.journal = journal
        self.memo = memo
        self.groups = groups
        self.gates = gates
        self.expander = expander
        self.attempts = attempts
        self.options = options
        self.run_ctx = run_ctx
        self.inputs = inputs
        self.masker = masker
        self.secrets = secrets
        self.call = call
        self.slots = slots
        self.sem: asyncio.Semaphore | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.outside_only: set[str] = set()
        if options.only:
            self.outside_only = set(graph.nodes) - graph.plan.selected(options.only)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the loop the run's tasks run on (``ctx.spawn()`` submits to it)."""
        self.loop = loop
        self.sem = asyncio.Semaphore(self.slots)

    def start(self, nid: str) -> None:
        """Schedule node *nid*'s task."""
        self.graph.tasks[nid] = asyncio.ensure_future(self.run_node(nid))

    # -- a node from pending to its outcome ----------------------------------------------
    async def run_node(self, nid: str) -> None:
        """The task of one node: wait, decide, run, record; always marks the node done."""
        graph, journal = self.graph, self.journal
        node = graph.nodes[nid]
        st = graph.states[nid]
        try:
            await graph.wait_for_deps(node)
            if graph.cancel_reason:
                journal.settle(st, "cancelled", "ctx-cancelled")
                return
            failed_expansion = next((d for d in node.deps if d in graph.expanded_errors), None)
            if failed_expansion:
                journal.settle(st, "cancelled",
                               f"expansion failed: {graph.expanded_errors[failed_expansion]}")
                return
            blocked = "" if node.kind == "recovery" else graph.blocked_by(node)
            if blocked:
                journal.settle(st, "cancelled", f"upstream-failed: {blocked}")
                return
            if nid in self.options.reuse:
                output = self.options.reuse[nid]
                graph.outputs[nid] = output
                journal.settle(st, "cached", f"reused from {self.options.retry_of}",
                               event=events.NODE_REUSED,
                               extra={"output": output, "has_output": output is not None})
                return
            if nid in self.outside_only:
                journal.settle(st, "skipped", f'outside --sw-only="{self.options.only}"')
                return
            if node.kind == "approval":
                await self.gates.get().approval(node)
                return
            if node.kind == "recovery":
                parent = graph.states[node.recovery_of or ""]
                if parent.outcome != "failed":
                    journal.settle(st, "skipped", f'"{node.recovery_of}" did not fail')
                    return
            await self.execute(node)
        except asyncio.CancelledError:
            if st.status != "done":
                if nid in graph.superseded:
                    journal.settle(st, "superseded", "evicted by a cancel_others concurrency group",
                                   event=events.NODE_SUPERSEDED)
                else:
                    journal.settle(st, "cancelled", graph.cancel_reason or "ctx-cancelled")
        except StoreError as exc:  # the state store gave up: the run stops (no traceback)
            journal.store_failed(exc)
            if st.status != "done":
                journal.settle(st, "cancelled", journal.store_error)
        except Exception as exc:  # a bug in the orchestrator must still settle the node
            from ..proglog import get_logger

            get_logger("sparkwing.orchestrator").error(
                "node crashed the orchestrator", run_id=self.run_ctx.run_id, node=nid,
                exc_info=exc,
            )
            if st.status != "done":
                journal.settle(st, "failed", f"{nid}: internal error: {exc!r}")
        finally:
            graph.done[nid].set()

    def context(self, node: JobNode, log: NodeLogger) -> Context:
        """The Context a job's body, hooks and predicates get."""
        return Context(
            self.run_ctx, node.id, self.inputs, log, masker=self.masker, secrets=self.secrets,
            outputs=self.graph.outputs, node_env=node.env_vars, store_note=self.journal.note,
            spawner=self,
        )

    async def execute(self, node: JobNode, *, slot: bool = True) -> None:
        """Run a job that is due: skip checks, memoize, groups, pauses, attempts, expansion."""
        graph, journal = self.graph, self.journal
        nid = node.id
        st = graph.states[nid]
        log = journal.node_log(nid)
        st.output_tail = log.last_lines
        ctx = self.context(node, log)
        graph.contexts[nid] = ctx
        memo_key = ""
        held: list[tuple[str, str]] = []
        try:
            if node.skip_preds and await self._should_skip(node, ctx):
                log.record("skipped: skip_if predicate was true", event=events.LOG_NODE_SKIPPED)
                journal.settle(st, "skipped", "skip_if")
                return
            if self.options.dry_run and not _dry_run_capable(node):
                log.record("skipped: no dry-run body", event=events.LOG_NODE_SKIPPED,
                           attrs={"reason": "no_dry_run_defined"})
                journal.settle(st, "skipped", "no_dry_run_defined")
                return
            if node.memo is not None:
                memo_key = await self.memo.get().key(node, ctx)
                if memo_key and await self.memo.get().replay_or_lead(node, ctx, memo_key):
                    memo_key = ""
                    return
            if node.concurrency_groups:
                verdict = await self.groups.get().acquire(node, held)
                if verdict is not None:
                    outcome, error, reason = verdict
                    if outcome == "failed":
                        journal.finished(st, node, log, "failed", f"{nid}: {error}", reason, None,
                                         None)
                    else:
                        journal.settle(st, outcome, error, event=events.NODE_SKIPPED_CONCURRENT)
                    return
            if nid in self.options.pause_before:
                await self.gates.get().pause(node, ctx, "pause-before")
            if slot:
                assert self.sem is not None
                async with self.sem:
                    if graph.cancel_reason:
                        journal.settle(st, "cancelled", "ctx-cancelled")
                        return
                    await self._run(node, ctx, st, memo_key)
            else:
                await self._run(node, ctx, st, memo_key)
            if st.outcome == "success" and node.dynamic is not None:
                for child in self.expander.get().expand(node):
                    self.start(child.id)
        finally:
            if node.dynamic is not None and nid in graph.expanded:
                graph.expanded[nid].set()
            if held:
                self.groups.get().release(held)
            if memo_key:
                self.memo.get().release(node, memo_key)
            graph.contexts.pop(nid, None)
            st.output_tail = None
            log.close()

    async def _run(self, node: JobNode, ctx: Context, st: NodeState, memo_key: str) -> None:
        nid = node.id
        self.journal.started(st)
        ctx.log.record(f"job {nid} started", event=events.LOG_NODE_START, flush=False)
        result = await self.attempts.run(node, ctx, st)
        if result.outcome == "failed" and self.options.pause_on_failure:
            await self.gates.get().pause(node, ctx, "pause-on-failure")
        elif result.outcome == "success" and nid in self.options.pause_after:
            await self.gates.get().pause(node, ctx, "pause-after")
        if result.outcome == "success":
            self.graph.outputs[nid] = result.output
            if memo_key:
                self.memo.get().store(node, memo_key, result.output)
        self.journal.finished(st, node, ctx.log, result.outcome, result.error, result.reason,
                              result.exit_code, result.output)

    async def _should_skip(self, node: JobNode, ctx: Context) -> bool:
        for pred in node.skip_preds:
            if await self.call(pred, ctx):
                return True
        return False

    # -- ctx.spawn() ------------------------------------------------------------------------
    async def spawn(self, parent: Context, child_id: str, body: Any) -> Any:
        """Run *body* as a new job ``<parent>/<child_id>`` now; return its output or raise."""
        node = self.expander.get().spawned(parent.node_id, child_id, body)
        nid = node.id
        task = asyncio.ensure_future(self._spawned(node))
        self.graph.tasks[nid] = task
        await task
        st = self.graph.states[nid]
        if st.outcome not in OK_OUTCOMES:
            raise SparkwingError(f"spawned job {nid} {st.outcome}: {st.error}")
        return self.graph.outputs.get(nid)

    async def _spawned(self, node: JobNode) -> None:
        try:
            await self.execute(node, slot=False)  # runs in its parent's worker slot
        except asyncio.CancelledError:
            if self.graph.states[node.id].status != "done":
                self.journal.settle(self.graph.states[node.id], "cancelled",
                                    self.graph.cancel_reason or "ctx-cancelled")
        finally:
            self.graph.done[node.id].set()


def _dry_run_capable(node: JobNode) -> bool:
    """Whether a job does anything under ``--sw-dry-run`` (jobs with steps decide per step)."""
    if node.kind != "job" or node.work is not None:
        return True
    return node.dry_run_fn is not None or node.safe_in_dry_run

"""The orchestrator: turns a finalized Plan into a recorded run.

:class:`Orchestrator` composes plain collaborators, each built from what it
needs:

* :class:`~.journal.RunJournal` writes every record of the run (run and
  node rows, events, steps, the log envelope) and makes every reporter and
  observer call;
* :class:`~.graph.RunGraph` holds the run's graph state (nodes, live
  states, outputs, completion events);
* :class:`~.memo.Memoizer`, :class:`~.groups.ConcurrencyGroups`,
  :class:`~.gates.Gates` and :class:`~.expansion.Expander` hold or settle
  nodes (memoize, concurrency groups, approvals and pauses, run-time fan-out
  and spawned children);
* :class:`~.attempts.AttemptLoop` runs a job's hooks and attempts, each on
  the executor chosen for the job (:class:`~sparkwing.execution.selection.ExecutorSet`);
* :class:`~.lifecycle.NodeRunner` takes each node from pending to its outcome.

Jobs are asyncio tasks; at most ``workers`` job bodies run at once.

When the state store fails a write after its own retries, the run stops:
running jobs are cancelled, no new one starts, and the run ends ``failed``
with the store's reason (see :mod:`.journal` for what is still recorded).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from ..dsl.inputs import input_specs
from ..dsl.plan import Plan
from ..errors import StoreError
from ..execution.contracts import ExecutorContext
from ..execution.local import call
from ..execution.selection import ExecutorSet
from ..runtime.context import RunContext
from ..runtime.lazypool import LazyThreadPool
from ..runtime.secrets import Masker, secret_source_for
from ..startgc import resume as resume_gc
from ..storage.records import Run
from .attempts import AttemptLoop
from .graph import NodeState, RunGraph
from .journal import RunJournal
from .leases import Leases
from .lifecycle import Lazy, NodeRunner
from .options import RunOptions
from .reporting import Reporter

if TYPE_CHECKING:
    from ..config.resolve import Stores
    from ..plugins.manager import PluginHost
    from .expansion import Expander
    from .gates import Gates
    from .groups import ConcurrencyGroups
    from .memo import Memoizer

__all__ = ["NodeState", "Orchestrator", "RunOptions"]

#: How often the run records its heartbeat and looks for a cancel request.
HEARTBEAT_S = 2.0
CANCEL_POLL_S = 0.5


class Orchestrator:
    """Runs one plan against one set of stores and reports progress.

    *stores* are the open stores of the run's profile (from
    :func:`~sparkwing.config.open_stores`; the ``executor:`` block of their
    ``resolved`` profile applies). *inputs* is the pipeline's inputs object. *hooks* is the plugin host whose observer
    hooks are called. *executors* replaces the run's executor choice (``node
    exec`` runs everything on ``local``).
    """

    def __init__(
        self,
        plan: Plan,
        stores: Stores,
        run_ctx: RunContext,
        inputs: Any,
        options: RunOptions,
        reporter: Reporter,
        *,
        hooks: PluginHost | None = None,
        executors: ExecutorSet | None = None,
    ) -> None:
        self.plan = plan
        self.state = stores.state
        self.logs = stores.logs
        self.cache = stores.cache
        self.run_ctx = run_ctx
        self.inputs = inputs
        self.options = options
        self.reporter = reporter
        self.hooks = hooks
        self.masker = Masker()
        for v in options.secret_values:
            self.masker.add(v)
        self.workers = options.workers or os.cpu_count() or 2
        self.pool = LazyThreadPool(max(self.workers, 4), thread_name_prefix="hook")
        self.call = partial(call, self.pool)
        self.host = socket.gethostname()
        self.run: Run | None = None
        self.executors = executors or _executors(stores, options, run_ctx, self.workers)
        #: Where ``ctx.secret`` reads: the profile's controller, or the local secrets file.
        self.secrets = secret_source_for(stores.resolved.profile)

        self.graph = RunGraph(plan)
        self.journal = RunJournal(self.state, self.logs, reporter, self.masker, hooks)
        self.journal.on_store_failure = self._store_failed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finishing = False
        self.leases = Leases(self.state)
        self.memo: Lazy[Memoizer] = Lazy(self._memoizer)
        self.groups: Lazy[ConcurrencyGroups] = Lazy(self._groups)
        self.gates: Lazy[Gates] = Lazy(self._gates)
        self.expander: Lazy[Expander] = Lazy(self._expander)
        self.attempts = AttemptLoop(
            self.journal, self.executors, self.call, run_ctx, dry_run=options.dry_run,
            start_at=options.start_at, stop_at=options.stop_at,
            secret_values=options.secret_values, secret_inputs=_secret_inputs(inputs),
        )
        self.runner = NodeRunner(
            self.graph, self.journal, memo=self.memo, groups=self.groups, gates=self.gates,
            expander=self.expander, attempts=self.attempts, options=options, run_ctx=run_ctx,
            inputs=inputs, masker=self.masker, secrets=self.secrets, call=self.call,
            slots=self.workers,
        )

    # -- collaborators built on first use --------------------------------------------------
    def _memoizer(self) -> Memoizer:
        from .memo import Memoizer

        return Memoizer(self.journal, self.state, self.leases, self.graph, self.call,
                        no_cache=self.options.no_cache)

    def _groups(self) -> ConcurrencyGroups:
        from .groups import ConcurrencyGroups

        return ConcurrencyGroups(self.journal, self.leases, self.graph, self.host)

    def _gates(self) -> Gates:
        from .gates import Gates

        return Gates(self.journal, self.state, self.graph, self.options.pause_timeout_s)

    def _expander(self) -> Expander:
        from .expansion import Expander

        return Expander(self.graph, self.journal)

    # -- what reporters and tests read ----------------------------------------------------
    @property
    def states(self) -> dict[str, NodeState]:
        """Live state of every node."""
        return self.graph.states

    @property
    def outputs(self) -> dict[str, Any]:
        """Outputs of the jobs that succeeded so far."""
        return self.graph.outputs

    @property
    def cancel_reason(self) -> str:
        """Why the run is being cancelled (``""`` while it is not)."""
        return self.graph.cancel_reason

    # -- the run -----------------------------------------------------------------------
    async def execute(self) -> Run:
        """Run the plan to completion (or cancellation) and return the recorded run.

        Raises :class:`~sparkwing.errors.PluginError` before anything is
        recorded when a job, ``--sw-executor`` or the profile names an
        executor no plugin provides.
        """
        run = self.begin()
        resume_gc()  # start-up is over (sparkwing.startgc)
        loop = self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):
                pass
        watcher = asyncio.ensure_future(self._heartbeat())
        try:
            refused = ""
            if self.plan.run_concurrency:
                try:
                    refused = await self.groups.get().acquire_for_run()
                except StoreError as exc:
                    self.journal.store_failed(exc)
                    refused = self.journal.store_error
            if refused:
                self.graph.cancel_reason = refused
                for st in self.graph.states.values():
                    self.journal.settle(st, "cancelled", refused)
                    self.graph.done[st.id].set()
            else:
                self.graph.expanded = {
                    n.id: asyncio.Event() for n in self.graph.nodes.values()
                    if n.dynamic is not None
                }
                for nid in list(self.graph.nodes):
                    self.runner.start(nid)
                while True:
                    pending = [t for t in self.graph.tasks.values() if not t.done()]
                    if not pending:
                        break
                    await asyncio.gather(*pending, return_exceptions=True)
        finally:
            watcher.cancel()
            if not self.journal.store_error:  # else the leases expire by themselves
                try:
                    self.leases.release_all()
                except StoreError as exc:
                    self.journal.store_failed(exc)
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass
            await self.executors.close()
        return self._finish_run(run)

    def begin(self) -> Run:
        """Check the executors, then record the run and its nodes (``execute`` starts with this).

        Must be called on the event loop the run will use. Raises
        :class:`~sparkwing.errors.PluginError` before anything is recorded
        when an executor is unknown, and the one-line error of an executor
        that cannot be built (a ``k8s`` executor with no cluster to reach).
        """
        self.executors.check(self.graph.nodes.values(), build=True)
        self.runner.bind(asyncio.get_running_loop())
        return self._start_run()

    def _start_run(self) -> Run:
        rc = self.run_ctx
        now = time.time()
        plan_dict = self.plan.to_dict()
        invocation = dict(self.options.invocation)
        invocation["engine"] = {**self.options.engine_settings(),
                                "executor": self.executors.default}
        run = Run(
            id=rc.run_id,
            pipeline=rc.pipeline,
            status="running",
            trigger_source=rc.trigger.source,
            trigger_user=rc.trigger.user,
            git_branch=rc.git.branch,
            git_sha=rc.git.sha,
            git_repo=rc.git.repo,
            args=self.options.redacted_args,
            secret_args=self.options.secret_args,
            plan=plan_dict,
            created_at=now,
            started_at=now,
            last_heartbeat_at=now,
            profile=rc.profile,
            host=self.host,
            pid=os.getpid(),
            invocation=invocation,
            retry_of=self.options.retry_of,
        )
        self.run = run
        self.journal.start(
            run, self.plan, list(self.graph.nodes.values()), self.graph.states,
            {"pipeline": run.pipeline, "args": run.args, "git": rc.git.to_dict(),
             "trigger": rc.trigger.to_dict(), "profile": rc.profile,
             "invocation": self.options.invocation},
        )
        return run

    def _finish_run(self, run: Run) -> Run:
        graph = self.graph
        failed = graph.failed_required()
        superseded = [nid for nid, st in graph.states.items() if st.outcome == "superseded"]
        if graph.cancel_reason:
            status, error = "cancelled", graph.cancel_reason
        elif superseded:
            status, error = "cancelled", "superseded: " + ", ".join(superseded)
        elif failed:
            from ..runerror import format_job_failures  # only a failed run needs it

            states = graph.states
            status, error = "failed", format_job_failures(
                [nid for nid in failed if states[nid].outcome != "cancelled"],
                [nid for nid in failed if states[nid].outcome == "cancelled"])
        else:
            status, error = "success", ""
        if self.journal.store_error:
            status, error = "failed", self.journal.store_error
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.secrets.close()
        self._finishing = True
        self.journal.finish(run, status, error, graph.states)
        return run

    # -- cancellation and liveness ------------------------------------------------------
    def _on_signal(self, sig: int) -> None:
        if self.graph.cancel_reason:
            # second interrupt: stop waiting for graceful shutdown
            for ctx in list(self.graph.contexts.values()):
                ctx.tracker.kill_all("interrupted", grace_s=0)
            os._exit(130)
        self.cancel(f"interrupted by {signal.Signals(sig).name}")

    def _store_failed(self, reason: str) -> None:
        """The journal's store failed (maybe on a job's thread): cancel the run on the loop."""
        loop = self._loop
        if loop is None or self._finishing or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._cancel_unless_finishing, reason)

    def _cancel_unless_finishing(self, reason: str) -> None:
        if not self._finishing:
            self.cancel(reason)

    def cancel(self, reason: str) -> None:
        """Cancel the run: running jobs are stopped and their process trees killed."""
        if self.graph.cancel_reason:
            return
        self.graph.cancel_reason = reason
        self.journal.warning(f"cancelling: {reason}")
        for task in self.graph.tasks.values():
            task.cancel()

    async def _heartbeat(self) -> None:
        assert self.run is not None
        run_id = self.run.id
        last_beat = time.monotonic()
        while True:
            await asyncio.sleep(CANCEL_POLL_S)
            now = time.monotonic()
            if self.journal.store_error:  # the run is stopping; nothing more to record here
                self.reporter.tick(self.graph.states)
                continue
            try:
                self._beat(run_id, now - last_beat >= HEARTBEAT_S)
            except StoreError as exc:
                self.journal.store_failed(exc)
            if now - last_beat >= HEARTBEAT_S:
                last_beat = now
            self.reporter.tick(self.graph.states)

    def _beat(self, run_id: str, heartbeat: bool) -> None:
        """One round of the watcher: heartbeat and leases when due, then the cancel request."""
        if heartbeat:
            self.journal.heartbeat()
            if self.leases.held:
                self.leases.renew()
                holder_of: dict[tuple[str, str], str] = {}
                for owner in (self.memo.built, self.groups.built):
                    if owner is not None:
                        holder_of.update(owner.holder_of)
                for key, holder in self.leases.lost():
                    nid = holder_of.get((key, holder))
                    task = self.graph.tasks.get(nid or "")
                    if nid and task is not None and not task.done():
                        self.graph.superseded.add(nid)
                        task.cancel()
        current = self.state.get_run(run_id)
        if current is not None and current.cancel_requested_at and not self.cancel_reason:
            self.cancel("cancel requested")


def _executors(stores: Stores, options: RunOptions, run_ctx: RunContext,
               workers: int) -> ExecutorSet:
    """The run's executor choice: the flag, the profile's ``executor:`` block, ``local``."""
    from ..paths import sparkwing_home
    from ..plugins.manager import get_host

    profile = stores.resolved.profile
    where = profile.where("executor") if profile.executor else ""
    context = ExecutorContext(home=sparkwing_home(), profile=run_ctx.profile, workers=workers,
                              controller=profile.controller, labels=tuple(options.requires))
    return ExecutorSet(get_host().registry, context, flag=options.executor,
                       profile=profile.executor, profile_where=where)


def _secret_inputs(inputs: Any) -> dict[str, Any]:
    """Values of the secret fields of a pipeline's inputs dataclass, by flag."""
    try:
        specs = input_specs(type(inputs))
    except Exception:
        return {}
    out: dict[str, Any] = {}
    for s in specs:
        if s.secret:
            value = getattr(inputs, s.name, None)
            if value not in (None, "", []):
                out[s.flag] = value
    return out

"""The local orchestrator: turns a finalized Plan into a recorded run.

Every transition is written to the state store as it happens (node rows and
the run's event stream) and every job's output to the log store. Jobs are
asyncio tasks; at most ``workers`` job bodies run at once. Sync bodies run in
a thread pool, ``async def`` bodies on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..dsl.nodes import FunctionBody, Job, JobNode, ShellBody
from ..dsl.plan import Plan
from ..runtime.command import CommandError
from ..runtime.context import Context, RunContext
from ..runtime.nodelog import NodeLogger
from ..runtime.secrets import Masker, SecretSource
from ..storage.contracts import ENVELOPE
from ..storage.logrecord import make_record
from ..storage.records import OK_OUTCOMES, CacheEntry, Node, Run
from .expansion import ExpansionMixin
from .gates import GateMixin
from .groups import ConcurrencyMixin
from .leases import Leases
from .memo import MemoMixin
from .reporting import Reporter
from .steps import run_work
from .timeouts import AttemptFailed, guarded

#: Longest wait between retries.
MAX_BACKOFF_S = 300.0
#: How often the run records its heartbeat and looks for a cancel request.
HEARTBEAT_S = 2.0
CANCEL_POLL_S = 0.5


@dataclass
class RunOptions:
    """Run-wide settings from the command line."""

    workers: int = 0
    retry_of: str = ""
    reuse: dict[str, Any] = field(default_factory=dict)
    no_cache: bool = False
    dry_run: bool = False
    only: str = ""
    start_at: str = ""
    stop_at: str = ""
    pause_before: list[str] = field(default_factory=list)
    pause_after: list[str] = field(default_factory=list)
    pause_on_failure: bool = False
    pause_timeout_s: float = 1800.0
    invocation: dict[str, Any] = field(default_factory=dict)
    secret_args: list[str] = field(default_factory=list)
    secret_values: list[str] = field(default_factory=list)
    redacted_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class NodeState:
    """Live state of one node during a run (what reporters see)."""

    id: str
    kind: str = "job"
    status: str = "pending"
    outcome: str = ""
    error: str = ""
    started: float | None = None
    finished: float | None = None
    attempt: int = 0
    attempts: int = 1
    detail: str = ""
    excerpt: str = ""
    groups: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """Seconds the node ran (so far)."""
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started


class Orchestrator(MemoMixin, ConcurrencyMixin, GateMixin, ExpansionMixin):
    """Runs one plan against one set of stores and reports progress."""

    def __init__(
        self,
        plan: Plan,
        stores: Any,
        run_ctx: RunContext,
        inputs: Any,
        options: RunOptions,
        reporter: Reporter,
        *,
        hooks: Any = None,
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
        self.nodes: dict[str, JobNode] = {n.id: n for n in plan.nodes()}
        self.states: dict[str, NodeState] = {
            n.id: NodeState(n.id, n.kind, attempts=n.retries + 1, groups=list(n.groups))
            for n in plan.nodes()
        }
        self.outputs: dict[str, Any] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.masker = Masker()
        for v in options.secret_values:
            self.masker.add(v)
        self.secrets = SecretSource()
        workers = options.workers or os.cpu_count() or 2
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=max(workers, 4), thread_name_prefix="job")
        self.cancel_reason = ""
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.contexts: dict[str, Context] = {}
        self.envelope: Any = None
        self.run: Run | None = None
        self.leases = Leases(self.state)
        self.host = socket.gethostname()
        self.superseded: set[str] = set()
        self.holder_of: dict[tuple[str, str], str] = {}
        self.dynamic_children: dict[str, list[str]] = {}
        self.expanded: dict[str, asyncio.Event] = {}
        self.expanded_errors: dict[str, str] = {}
        self.outside_only: set[str] = set()

    # -- the run -------------------------------------------------------------------
    async def execute(self) -> Run:
        """Run the plan to completion (or cancellation) and return the recorded run."""
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.sem = asyncio.Semaphore(self.workers)
        self.outside_only = self._outside_only()
        self.done = {nid: asyncio.Event() for nid in self.nodes}
        run = self._start_run()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):
                pass
        watcher = asyncio.ensure_future(self._heartbeat())
        try:
            if await self._acquire_run_groups(run):
                self.expanded = {
                    n.id: asyncio.Event() for n in self.nodes.values() if n.dynamic is not None
                }
                self.tasks = {nid: asyncio.ensure_future(self._node(nid)) for nid in list(self.nodes)}
                while True:
                    pending = [t for t in self.tasks.values() if not t.done()]
                    if not pending:
                        break
                    await asyncio.gather(*pending, return_exceptions=True)
        finally:
            watcher.cancel()
            self.leases.release_all()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass
        return self._finish_run(run)

    def _start_run(self) -> Run:
        rc = self.run_ctx
        now = time.time()
        plan_dict = self.plan.to_dict()
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
            host=socket.gethostname(),
            pid=os.getpid(),
            invocation=self.options.invocation,
            retry_of=self.options.retry_of,
        )
        self.state.create_run(run)
        self.run = run
        self.state.create_nodes(
            run.id,
            [Node(run.id, n.id, kind=n.kind, deps=list(n.deps), groups=list(n.groups))
             for n in self.nodes.values()],
        )
        self.envelope = self.logs.writer(run.id, ENVELOPE)
        self._envelope_record(
            "run_start", f"run {run.id} of {run.pipeline}",
            {"pipeline": run.pipeline, "args": run.args, "git": rc.git.to_dict(),
             "trigger": rc.trigger.to_dict(), "profile": rc.profile,
             "invocation": self.options.invocation},
        )
        self._envelope_record("run_plan", f"{len(self.nodes)} jobs", plan_dict)
        self.envelope.flush()
        self.state.append_event(run.id, "run_started", {"pipeline": run.pipeline})
        self.reporter.run_started(run, self.plan, self.states)
        if self.hooks is not None:
            self.hooks.run_started(run)
        return run

    def _envelope_record(self, event: str, msg: str, attrs: dict[str, Any], level: str = "info") -> None:
        text = make_record(self.masker.mask(msg), level=level, event=event, attrs=attrs) + "\n"
        self.envelope.write_raw(text)
        self.reporter.records(text)

    def _finish_run(self, run: Run) -> Run:
        failed = [
            nid for nid, st in self.states.items()
            if self.nodes[nid].kind != "recovery"
            and not self.nodes[nid].is_optional
            and st.outcome not in OK_OUTCOMES
        ]
        superseded = [nid for nid, st in self.states.items() if st.outcome == "superseded"]
        if self.cancel_reason:
            status, error = "cancelled", self.cancel_reason
        elif superseded:
            status, error = "cancelled", "superseded: " + ", ".join(superseded)
        elif failed:
            status, error = "failed", "jobs failed: " + ", ".join(failed)
        else:
            status, error = "success", ""
        now = time.time()
        run.status, run.error, run.finished_at = status, error, now
        self.state.update_run(run.id, {"status": status, "error": error, "finished_at": now,
                                       "last_heartbeat_at": now})
        counts: dict[str, int] = {}
        for st in self.states.values():
            counts[st.outcome or "none"] = counts.get(st.outcome or "none", 0) + 1
        self._envelope_record(
            "run_summary", f"{len(self.states)} jobs",
            {"outcomes": counts, "duration_ms": int((now - (run.started_at or now)) * 1000)},
        )
        hints = {"status": f"sparkwing runs status --run {run.id}",
                 "logs": f"sparkwing runs logs --run {run.id}"}
        if status != "success":
            hints["retry"] = f"sparkwing runs retry --run {run.id} --failed"
        self._envelope_record(
            "run_finish", f"run {status}" + (f": {error}" if error else ""),
            {"run_id": run.id, "status": status, "error": error, "hints": hints},
            level="info" if status == "success" else "error",
        )
        self.envelope.close()
        self.state.append_event(run.id, "run_finished", {"status": status, "error": error})
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.reporter.run_finished(run, self.states)
        if self.hooks is not None:
            try:
                self.hooks.run_finished(run)
            except Exception as exc:  # an observer must not change the outcome
                self.reporter.warning(f"a plugin's run_finished hook failed: {exc}")
        return run

    # -- cancellation and liveness ----------------------------------------------------
    def _on_signal(self, sig: int) -> None:
        if self.cancel_reason:
            # second interrupt: stop waiting for graceful shutdown
            for ctx in list(self.contexts.values()):
                ctx.tracker.kill_all("interrupted", grace_s=0)
            os._exit(130)
        self.cancel(f"interrupted by {signal.Signals(sig).name}")

    def cancel(self, reason: str) -> None:
        """Cancel the run: running jobs are stopped and their process trees killed."""
        if self.cancel_reason:
            return
        self.cancel_reason = reason
        self.reporter.warning(f"cancelling: {reason}")
        for task in self.tasks.values():
            task.cancel()

    async def _heartbeat(self) -> None:
        assert self.run is not None
        run_id = self.run.id
        last_beat = time.monotonic()
        while True:
            await asyncio.sleep(CANCEL_POLL_S)
            now = time.monotonic()
            if now - last_beat >= HEARTBEAT_S:
                last_beat = now
                self.state.update_run(run_id, {"last_heartbeat_at": time.time()})
                if self.leases.held:
                    self.leases.renew()
                    for key, holder in self.leases.lost():
                        nid = self.holder_of.get((key, holder))
                        if nid and nid in self.tasks and not self.tasks[nid].done():
                            self.superseded.add(nid)
                            self.tasks[nid].cancel()
            current = self.state.get_run(run_id)
            if current is not None and current.cancel_requested_at and not self.cancel_reason:
                self.cancel("cancel requested")
            self.reporter.tick(self.states)

    # -- one node ------------------------------------------------------------------------
    def _set(self, nid: str, fields: dict[str, Any], event: str | None = None,
             payload: dict[str, Any] | None = None) -> None:
        assert self.run is not None
        self.state.update_node(
            self.run.id, nid, fields, (event, payload or {}) if event else None
        )

    def _settle(self, nid: str, outcome: str, error: str = "", event: str = "",
                extra: dict[str, Any] | None = None,
                payload: dict[str, Any] | None = None) -> None:
        """Record a node that ends without running (skipped / cancelled)."""
        st = self.states[nid]
        error = self.masker.mask(error)
        st.status, st.outcome, st.error = "done", outcome, error
        now = time.time()
        st.finished = now
        fields = {"status": "done", "outcome": outcome, "error": error, "finished_at": now}
        fields.update(extra or {})
        self._set(nid, fields, event or f"node_{outcome.replace('-', '_')}",
                  {"outcome": outcome, "reason": error, **(payload or {})})
        self.reporter.node_changed(st)

    async def _node(self, nid: str) -> None:
        node = self.nodes[nid]
        try:
            for dep in node.deps:
                await self.done[dep].wait()
                if dep in self.expanded and nid not in self.dynamic_children.get(dep, ()):
                    await self.expanded[dep].wait()
                    for child in self.dynamic_children.get(dep, []):
                        await self.done[child].wait()
            if self.cancel_reason:
                self._settle(nid, "cancelled", "ctx-cancelled")
                return
            failed_expansion = next(
                (d for d in node.deps if d in self.expanded_errors), None)
            if failed_expansion:
                self._settle(nid, "cancelled",
                             f"expansion failed: {self.expanded_errors[failed_expansion]}")
                return
            blocked = "" if node.kind == "recovery" else self._blocked_by(node)
            if blocked:
                self._settle(nid, "cancelled", f"upstream-failed: {blocked}")
                return
            if nid in self.options.reuse:
                self.outputs[nid] = self.options.reuse[nid]
                output = self.options.reuse[nid]
                self._settle(nid, "cached", f"reused from {self.options.retry_of}",
                             event="node_reused",
                             extra={"output": output, "has_output": output is not None})
                return
            if nid in self.outside_only:
                self._settle(nid, "skipped", f'outside --sw-only="{self.options.only}"')
                return
            if node.kind == "approval":
                await self._approval(node)
                return
            if node.kind == "recovery":
                parent = self.states[node.recovery_of or ""]
                if parent.outcome != "failed":
                    self._settle(nid, "skipped", f'"{node.recovery_of}" did not fail')
                    return
            await self._execute(node)
        except asyncio.CancelledError:
            st = self.states[nid]
            if st.status != "done":
                if nid in self.superseded:
                    self._settle(nid, "superseded", "evicted by a cancel_others concurrency group",
                                 event="node_superseded")
                else:
                    self._settle(nid, "cancelled", self.cancel_reason or "ctx-cancelled")
        except Exception as exc:  # a bug in the orchestrator must still settle the node
            from ..proglog import get_logger

            get_logger("sparkwing.orchestrator").error(
                "node crashed the orchestrator", run_id=self.run_ctx.run_id, node=nid,
                exc_info=exc,
            )
            st = self.states[nid]
            if st.status != "done":
                self._settle(nid, "failed", f"{nid}: internal error: {exc!r}")
        finally:
            self.done[nid].set()

    def _outside_only(self) -> set[str]:
        """Jobs ``--sw-only GLOB`` leaves out."""
        if not self.options.only:
            return set()
        return set(self.nodes) - self.plan.selected(self.options.only)

    def _blocked_by(self, node: JobNode) -> str:
        for dep in node.deps:
            st = self.states[dep]
            if st.outcome not in OK_OUTCOMES and not self.nodes[dep].continues_on_error:
                return dep
            siblings = self.dynamic_children.get(dep, [])
            for child in ([] if node.id in siblings else siblings):
                cst = self.states[child]
                if cst.outcome not in OK_OUTCOMES and not self.nodes[child].continues_on_error:
                    return child
        return ""

    def _note(self, nid: str, kind: str, text: str) -> None:
        assert self.run is not None
        if kind == "annotation":
            current = self.state.get_node(self.run.id, nid)
            notes = [*(current.annotations if current else []), text]
            self._set(nid, {"annotations": notes})
        else:
            self._set(nid, {"summary": text})

    async def _execute(self, node: JobNode, *, slot: bool = True) -> None:
        assert self.run is not None
        nid = node.id
        st = self.states[nid]
        writer = self.logs.writer(self.run.id, nid)
        log = NodeLogger(writer, nid, self.masker,
                         self.reporter.records if self.reporter.wants_records else None)
        ctx = Context(
            self.run_ctx, nid, self.inputs, log, masker=self.masker, secrets=self.secrets,
            outputs=self.outputs, node_env=node.env_vars, store_note=self._note,
            spawner=self,
        )
        self.contexts[nid] = ctx
        memo_key = ""
        groups: list[tuple[str, str]] = []
        try:
            if node.skip_preds and await self._should_skip(node, ctx):
                log.record("skipped: skip_if predicate was true", event="node_skipped")
                self._settle(nid, "skipped", "skip_if")
                return
            if self.options.dry_run and not _dry_run_capable(node):
                log.record("skipped: no dry-run body", event="node_skipped",
                           attrs={"reason": "no_dry_run_defined"})
                self._settle(nid, "skipped", "no_dry_run_defined")
                return
            if node.memo is not None:
                memo_key = await self._memo_key(node, ctx)
                if memo_key and await self._memo_replay(node, ctx, memo_key):
                    memo_key = ""
                    return
            if node.concurrency_groups:
                verdict = await self._acquire_groups(node, groups)
                if verdict is not None:
                    outcome, error, reason = verdict
                    if outcome == "failed":
                        self._finish_node(node, ctx, "failed", f"{nid}: {error}", reason, None, None)
                    else:
                        self._settle(nid, outcome, error, event="node_skipped_concurrent")
                    return
            if nid in self.options.pause_before:
                await self._pause(node, ctx, "pause-before")
            if slot:
                async with self.sem:
                    if self.cancel_reason:
                        self._settle(nid, "cancelled", "ctx-cancelled")
                        return
                    await self._run_attempts(node, ctx, st, memo_key)
            else:
                await self._run_attempts(node, ctx, st, memo_key)
            if st.outcome == "success" and node.dynamic is not None:
                self._expand(node)
        finally:
            if node.dynamic is not None and nid in self.expanded:
                self.expanded[nid].set()
            for key, holder in groups:
                self.leases.release(key, holder)
            if memo_key:
                self.leases.release("memo:" + memo_key, f"{self.run.id}/{nid}")
            self.contexts.pop(nid, None)
            log.close()

    async def _run_attempts(self, node: JobNode, ctx: Context, st: NodeState, memo_key: str) -> None:
        nid = node.id
        now = time.time()
        st.status, st.started = "running", now
        self._set(nid, {"status": "running", "started_at": now, "status_detail": ""},
                  "node_started", {})
        self.reporter.node_changed(st)
        ctx.log.record(f"job {nid} started", event="node_start", flush=False)
        outcome, error, reason, exit_code, output = await self._attempts(node, ctx, st)
        if outcome == "failed" and self.options.pause_on_failure:
            await self._pause(node, ctx, "pause-on-failure")
        elif outcome == "success" and nid in self.options.pause_after:
            await self._pause(node, ctx, "pause-after")
        if outcome == "success" and memo_key:
            assert self.run is not None
            now = time.time()
            ttl = node.memo.ttl_s if node.memo is not None else 7 * 86400.0
            self.state.cache_put(CacheEntry(
                memo_key, self.run.id, nid, output, self.run.pipeline, now, now + ttl,
            ))
        self._finish_node(node, ctx, outcome, error, reason, exit_code, output)

    async def _should_skip(self, node: JobNode, ctx: Context) -> bool:
        for pred in node.skip_preds:
            if await self._call(pred, ctx):
                return True
        return False

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if asyncio.iscoroutinefunction(fn):
            return await fn(*args)
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.pool, fn, *args)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    async def _attempts(
        self, node: JobNode, ctx: Context, st: NodeState
    ) -> tuple[str, str, str, int | None, Any]:
        """Run before hooks, the attempts with retries, verify and after hooks."""
        nid = node.id
        log = ctx.log
        error, reason, exit_code, output = "", "", None, None
        try:
            for hook in node.before_hooks:
                await self._call(hook, ctx)
        except Exception as exc:
            error = _error_text(nid, exc)
            log.record(f"before_run hook failed: {exc}", level="error")
            await self._after_hooks(node, ctx, exc)
            return "failed", error, "before_run", None, None
        last_exc: BaseException | None = None
        total = node.retries + 1
        for attempt in range(1, total + 1):
            st.attempt = attempt
            ctx.attempt = attempt
            if attempt > 1:
                delay = min(node.backoff_s * 2 ** (attempt - 2), MAX_BACKOFF_S)
                msg = f"retry attempt {attempt - 1}/{node.retries}"
                if delay:
                    msg += f" after {delay:g}s"
                log.record(msg, event="retry", attrs={"attempt": attempt - 1, "total": node.retries})
                self._set(nid, {"attempts": attempt}, "attempt_retry",
                          {"attempt": attempt, "error": error})
                self.reporter.node_changed(st)
                if delay:
                    await asyncio.sleep(delay)
            try:
                output = await guarded(
                    self._body(node, ctx), ctx, node.timeout_s, node.no_progress_s, self.pool
                )
                for check in node.verifiers:
                    try:
                        await self._call(check, ctx)
                    except Exception as exc:
                        raise AttemptFailed("verify", f"verify failed: {exc}") from exc
                _check_json(nid, output)
                last_exc = None
                error, reason, exit_code = "", "", None
                break
            except asyncio.CancelledError:
                raise
            except AttemptFailed as exc:
                last_exc, error, reason = exc, f"{nid}: {exc}", exc.reason
                log.record(str(exc), level="error")
            except CommandError as exc:
                last_exc, error, reason, exit_code = exc, _error_text(nid, exc), "", exc.exit_code
                log.record(str(exc), level="error", attrs={"exit_code": exc.exit_code})
            except Exception as exc:
                last_exc, error, reason = exc, _error_text(nid, exc), ""
                log.record(f"{type(exc).__name__}: {exc}", level="error")
        await self._after_hooks(node, ctx, last_exc)
        if last_exc is None:
            return "success", "", "", None, output
        return "failed", error, reason, exit_code, None

    async def _after_hooks(self, node: JobNode, ctx: Context, exc: BaseException | None) -> None:
        for hook in node.after_hooks:
            try:
                await self._call(hook, ctx, exc)
            except Exception as hook_exc:
                ctx.log.record(f"after_run hook failed: {hook_exc}", level="warn")

    async def _body(self, node: JobNode, ctx: Context) -> Any:
        body = node.body
        if self.options.dry_run and node.dry_run_fn is not None:
            return await self._call(node.dry_run_fn, ctx)
        if isinstance(body, ShellBody):
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(
                self.pool, lambda: ctx.sh(body.command, env=body.env or None, cwd=body.cwd)
            )
            return None
        if isinstance(body, FunctionBody):
            if body.is_async:
                return await body.fn(ctx)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.pool, body.fn, ctx)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        if isinstance(body, Job):
            assert node.work is not None and self.run is not None
            return await run_work(node.work, ctx, self)
        raise AttemptFailed("", f"job {node.id} has no body")

    def _finish_node(
        self, node: JobNode, ctx: Context, outcome: str, error: str, reason: str,
        exit_code: int | None, output: Any,
    ) -> None:
        nid = node.id
        st = self.states[nid]
        now = time.time()
        error = self.masker.mask(error)
        st.status, st.outcome, st.error, st.finished = "done", outcome, error, now
        duration_ms = int((now - (st.started or now)) * 1000)
        fields: dict[str, Any] = {
            "status": "done", "outcome": outcome, "error": error, "finished_at": now,
            "failure_reason": reason, "exit_code": exit_code, "attempts": st.attempt,
        }
        if outcome == "success":
            self.outputs[nid] = output
            if output is not None:
                fields["output"] = output
                fields["has_output"] = True
            ctx.log.record(f"job {nid} succeeded", event="node_end",
                           attrs={"outcome": outcome, "duration_ms": duration_ms}, flush=False)
            self._set(nid, fields, "node_succeeded", {"duration_ms": duration_ms})
        else:
            excerpt, cut = ctx.log.excerpt()
            st.excerpt = excerpt
            level = "warn" if node.is_optional else "error"
            ctx.log.record(error, level=level, event="node_end",
                           attrs={"outcome": outcome, "duration_ms": duration_ms, "error": error})
            self._set(nid, fields, "node_failed",
                      {"error": error, "failure_reason": reason, "exit_code": exit_code,
                       "duration_ms": duration_ms, "optional": node.is_optional})
            assert self.run is not None
            self.state.append_event(
                self.run.id, "node_failure_excerpt",
                {"log_excerpt": excerpt, "log_excerpt_truncated": cut,
                 "logs": f"sparkwing runs logs --run {self.run.id} --node {nid}"},
                node_id=nid,
            )
        self.reporter.node_changed(st)


def _dry_run_capable(node: JobNode) -> bool:
    """Whether a job does anything under ``--sw-dry-run`` (jobs with steps decide per step)."""
    if node.kind != "job" or node.work is not None:
        return True
    return node.dry_run_fn is not None or node.safe_in_dry_run


def _error_text(nid: str, exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if (not isinstance(exc, CommandError) and type(exc).__name__ != "SparkwingError"
            and not text.startswith(type(exc).__name__)):
        text = f"{type(exc).__name__}: {text}"
    return text if text.startswith(f"{nid}: ") else f"{nid}: {text}"


def _check_json(nid: str, value: Any) -> None:
    if value is None:
        return
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise AttemptFailed(
            "", f"output of job {nid} is not JSON-serialisable ({exc}); return str, int, float, "
            "bool, None, lists or dicts of those"
        ) from None

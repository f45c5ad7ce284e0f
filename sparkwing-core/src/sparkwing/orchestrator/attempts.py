"""A job's attempts: before hooks, each attempt on its executor with retries, after hooks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .. import events
from ..dsl.nodes import JobNode
from ..execution.contracts import Attempt, AttemptError, AttemptResult
from ..execution.local import error_text
from ..execution.selection import ExecutorSet
from ..runtime.context import Context, RunContext
from .graph import NodeState
from .journal import RunJournal

#: Longest wait between retries.
MAX_BACKOFF_S = 300.0


class Outcome:
    """How a job's attempts ended, as its node row records it."""

    __slots__ = ("error", "exit_code", "outcome", "output", "reason")

    def __init__(self, outcome: str, error: str = "", reason: str = "",
                 exit_code: int | None = None, output: Any = None) -> None:
        self.outcome = outcome
        self.error = error
        self.reason = reason
        self.exit_code = exit_code
        self.output = output


class AttemptLoop:
    """Runs a job's hooks and attempts; where each attempt runs is the executor's business.

    Built from the journal (retries and ``attempt_finished`` events are
    recorded there), the run's executors, *call* (runs hooks), the run's
    facts, and the run-wide settings an attempt carries (dry run, step
    window, secrets).
    """

    def __init__(self, journal: RunJournal, executors: ExecutorSet,
                 call: Callable[..., Awaitable[Any]], run_ctx: RunContext, *,
                 dry_run: bool = False, start_at: str = "", stop_at: str = "",
                 secret_values: list[str] | None = None,
                 secret_inputs: Mapping[str, Any] | None = None) -> None:
        self.journal = journal
        self.executors = executors
        self.call = call
        self.run_ctx = run_ctx
        self.dry_run = dry_run
        self.start_at = start_at
        self.stop_at = stop_at
        self.secret_values = list(secret_values or [])
        self.secret_inputs = dict(secret_inputs or {})

    async def run(self, node: JobNode, ctx: Context, st: NodeState) -> Outcome:
        """Run before hooks, the attempts (retrying with backoff), then after hooks."""
        nid = node.id
        log = ctx.log
        try:
            for hook in node.before_hooks:
                await self.call(hook, ctx)
        except Exception as exc:
            log.record(f"before_run hook failed: {exc}", level="error")
            await self._after_hooks(node, ctx, exc)
            return Outcome("failed", error_text(nid, exc), "before_run")
        name = self.executors.name_for(node)
        executor = self.executors.get(name)
        in_process = bool(getattr(executor, "in_process", False))
        result = AttemptResult("failed")
        total = node.retries + 1
        for attempt in range(1, total + 1):
            st.attempt = attempt
            ctx.attempt = attempt
            if attempt > 1:
                delay = min(node.backoff_s * 2 ** (attempt - 2), MAX_BACKOFF_S)
                msg = f"retry attempt {attempt - 1}/{node.retries}"
                if delay:
                    msg += f" after {delay:g}s"
                log.record(msg, event=events.LOG_RETRY,
                           attrs={"attempt": attempt - 1, "total": node.retries})
                self.journal.retrying(st, attempt, result.error)
                if delay:
                    await asyncio.sleep(delay)
            if not in_process:
                # The attempt reads upstream outputs from the state store: make them durable.
                self.journal.flush()
            try:
                result = await executor.run_attempt(self._spec(name, node, ctx, attempt))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the executor broke its contract: record, do not crash
                result = self._broken(name, node, ctx, exc)
            if result.output is not None and ctx.masker.active:
                # every executor masks what it knows; the run's secrets are hidden here too,
                # before the output is recorded, memoized or handed to dependents
                result.output = ctx.masker.mask_value(result.output)
            if not result.recorded:
                self.journal.attempt_finished(nid, attempt, result, name)
            if result.outcome in ("success", "cancelled"):
                # a cancelled attempt is never retried (a remote one may end cancelled,
                # from the run's cancel request, before this run's own watcher sees it)
                break
        if result.outcome == "success":
            await self._after_hooks(node, ctx, None)
            return Outcome("success", output=result.output)
        await self._after_hooks(node, ctx, result.exception or AttemptError(result))
        if result.outcome == "cancelled":
            raise asyncio.CancelledError
        return Outcome("failed", result.error or f"{nid}: attempt failed", result.failure_reason,
                       result.exit_code)

    def _spec(self, name: str, node: JobNode, ctx: Context, attempt: int) -> Attempt:
        rc = self.run_ctx
        return Attempt(
            run_id=rc.run_id, node_id=node.id, attempt=attempt, pipeline=rc.pipeline,
            workdir=rc.workdir, profile=rc.profile, timeout_s=node.timeout_s,
            no_progress_s=node.no_progress_s, dry_run=self.dry_run, env=node.env_vars,
            secret_values=self.secret_values, config=self.executors.settings_config(name),
            settings=node.executor_settings, secret_inputs=self.secret_inputs,
            start_at=self.start_at, stop_at=self.stop_at, node=node, context=ctx,
            recorder=self.journal,
        )

    @staticmethod
    def _broken(name: str, node: JobNode, ctx: Context, exc: Exception) -> AttemptResult:
        text = ctx.masker.mask(f"{node.id}: executor {name} failed: {type(exc).__name__}: {exc}")
        ctx.log.record(text, level="error")
        return AttemptResult("failed", failure_reason="executor_error", error=text,
                             exception=exc)

    async def _after_hooks(self, node: JobNode, ctx: Context, exc: BaseException | None) -> None:
        for hook in node.after_hooks:
            try:
                await self.call(hook, ctx, exc)
            except Exception as hook_exc:
                ctx.log.record(f"after_run hook failed: {hook_exc}", level="warn")

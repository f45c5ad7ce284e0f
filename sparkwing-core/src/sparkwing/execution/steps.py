"""Running a job's inner DAG of steps for one attempt (fail-fast by default, finally steps always run)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor as ThreadPool
from typing import Any

from .. import events
from ..dsl.work import StepNode, Work
from ..runtime.context import Context
from .contracts import StepRecorder
from .local import call
from .timeouts import kill_processes

#: Step statuses that let dependents run.
_OK = ("passed", "skipped")


class StepRunner:
    """Runs the steps of one attempt of a job with steps.

    Built from what it needs: where step transitions are recorded, the
    thread pool sync steps run in, and the run's dry-run mode and step
    window (``--sw-start-at`` / ``--sw-stop-at``).
    """

    def __init__(self, recorder: StepRecorder, pool: ThreadPool, *, dry_run: bool = False,
                 start_at: str = "", stop_at: str = "") -> None:
        self.recorder = recorder
        self.pool = pool
        self.dry_run = dry_run
        self.start_at = start_at
        self.stop_at = stop_at

    async def run(self, work: Work, ctx: Context) -> Any:
        """Run *work*'s steps for one attempt; return the result step's output.

        Raises the first decisive step failure (a failed step that is neither
        optional nor continue_on_error) after every started step has settled.
        """
        return await _WorkRun(self, work, ctx).run()


class _WorkRun:
    """The live state of one attempt's steps."""

    def __init__(self, runner: StepRunner, work: Work, ctx: Context) -> None:
        self.runner = runner
        self.work = work
        self.ctx = ctx
        self.status: dict[str, str] = {}
        self.done = {sid: asyncio.Event() for sid in work.steps}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.step_ctx: dict[str, Context] = {}
        self.failure: list[BaseException] = []
        self.stop: list[str] = []
        self.victims: set[str] = set()
        self.window = _window(work, runner.start_at, runner.stop_at)

    async def run(self) -> Any:
        self.tasks = {sid: asyncio.ensure_future(self.one(s)) for sid, s in self.work.steps.items()}
        if not self.tasks:
            return None
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        if self.failure:
            raise self.failure[0]
        if self.work.result is not None:
            return self.ctx.step_output(self.work.result.id)
        return None

    def record(self, step: StepNode, st: str, started: float | None, error: str = "") -> None:
        self.status[step.id] = st
        self.runner.recorder.step(self.ctx.node_id, step.id, st, started,
                                  self.ctx.masker.mask(error))

    def log(self, msg: str, event: str, step: StepNode, attrs: dict[str, Any] | None = None,
            level: str = "info") -> None:
        self.ctx.log.record(msg, level=level, event=event, step=step.id, attrs=attrs)

    async def one(self, step: StepNode) -> None:
        started: float | None = None
        work, status = self.work, self.status
        try:
            for d in step.deps:
                await self.done[d].wait()
            if not step.is_finally:
                blocked = [
                    d for d in step.deps
                    if status.get(d) not in _OK and not work.steps[d].continues_on_error
                ]
                if blocked or self.stop:
                    why = f"upstream-failed: {blocked[0]}" if blocked else "fail-fast"
                    self.record(step, "cancelled", time.time(), why)
                    self.log(f"step {step.id} cancelled ({why})", events.LOG_STEP_END, step,
                             {"outcome": "cancelled", "error": why})
                    return
            if step.id in self.window:
                self.skip(step, self.window[step.id])
                return
            sctx = self.ctx.for_step(step.id)
            self.step_ctx[step.id] = sctx
            fn = step.fn
            if self.runner.dry_run:
                if step.dry_run_fn is not None:
                    fn = step.dry_run_fn
                elif not step.safe_in_dry_run:
                    self.skip(step, "no_dry_run_defined")
                    return
            for pred in step.skip_preds:
                if await call(self.runner.pool, pred, sctx):
                    self.skip(step, "skip_if")
                    return
            started = time.time()
            self.record(step, "running", started)
            self.log(f"step {step.id} started", events.LOG_STEP_START, step)
            value = await call(self.runner.pool, fn, sctx)
            self.ctx.set_step_output(step.id, value)
            self.record(step, "passed", started)
            self.log(f"step {step.id} passed", events.LOG_STEP_END, step,
                     {"outcome": "success", "duration_ms": int((time.time() - started) * 1000)})
        except asyncio.CancelledError:
            if status.get(step.id) in (None, "running"):
                self.record(step, "cancelled", started or time.time(), "cancelled")
                self.log(f"step {step.id} cancelled", events.LOG_STEP_END, step,
                         {"outcome": "cancelled"})
            if not self.stop or self.stop[0] != "fail-fast":
                raise
        except Exception as exc:
            if step.id in self.victims:  # killed by fail-fast: its error is the kill
                self.record(step, "cancelled", started, "fail-fast")
                self.log(f"step {step.id} cancelled (fail-fast)", events.LOG_STEP_END, step,
                         {"outcome": "cancelled"})
                return
            self.record(step, "failed", started, str(exc))
            self.log(f"step {step.id} failed: {exc}", events.LOG_STEP_END, step,
                     {"outcome": "failed", "error": str(exc)}, level="error")
            if not step.is_optional:
                self.failure.append(exc)
                if not step.continues_on_error and work.fail_fast and not self.stop:
                    self.stop.append("fail-fast")
                    await self.cancel_siblings(step)
        finally:
            self.done[step.id].set()

    def skip(self, step: StepNode, reason: str) -> None:
        self.record(step, "skipped", time.time())
        self.log(f"step {step.id} skipped ({reason})", events.LOG_STEP_SKIPPED, step,
                 {"outcome": "skipped", "reason": reason})

    async def cancel_siblings(self, trigger: StepNode) -> None:
        running = [
            sid for sid, t in self.tasks.items()
            if sid != trigger.id and not t.done() and self.status.get(sid) == "running"
            and not self.work.steps[sid].is_finally
        ]
        self.victims.update(running)
        for sid in running:
            self.tasks[sid].cancel()
        for sid in running:
            if sid in self.step_ctx:
                await kill_processes(self.step_ctx[sid], "cancellation")
        self.ctx.log.record(
            f"step {trigger.id} failed; cancelled {len(running)} running sibling step(s)",
            event=events.LOG_WORK_FAIL_FAST,
            attrs={"trigger_step": trigger.id, "cancelled_steps": running},
        )


def _window(work: Work, start_at: str, stop_at: str) -> dict[str, str]:
    """Steps outside ``--sw-start-at``/``--sw-stop-at`` and why (only in the Work holding them)."""
    out: dict[str, str] = {}
    if start_at and start_at in work.steps:
        stack = list(work.steps[start_at].deps)
        while stack:
            sid = stack.pop()
            if sid not in out:
                out[sid] = f"upstream of --start-at={start_at}"
                stack.extend(work.steps[sid].deps)
    if stop_at and stop_at in work.steps:
        users: dict[str, list[str]] = {}
        for s in work.steps.values():
            for d in s.deps:
                users.setdefault(d, []).append(s.id)
        stack = list(users.get(stop_at, []))
        while stack:
            sid = stack.pop()
            if sid not in out:
                out[sid] = f"downstream of --stop-at={stop_at}"
                stack.extend(users.get(sid, []))
    return out

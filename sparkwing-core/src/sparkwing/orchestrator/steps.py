"""Running a job's inner DAG of steps (fail-fast by default, finally steps always run)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..dsl.work import StepNode, Work
from ..runtime.context import Context
from ..storage.records import Step
from .timeouts import kill_processes

if TYPE_CHECKING:
    from .engine import Orchestrator

#: Step statuses that let dependents run.
_OK = ("passed", "skipped")


async def run_work(work: Work, ctx: Context, orch: Orchestrator) -> Any:
    """Run *work*'s steps for one attempt; return the result step's output.

    Raises the first decisive step failure (a failed step that is neither
    optional nor continue_on_error) after every started step has settled.
    """
    assert orch.run is not None
    run_id, nid = orch.run.id, ctx.node_id
    status: dict[str, str] = {}
    done = {sid: asyncio.Event() for sid in work.steps}
    tasks: dict[str, asyncio.Task[None]] = {}
    step_ctx: dict[str, Context] = {}
    failure: list[BaseException] = []
    stop: list[str] = []
    victims: set[str] = set()
    window = _window(work, orch.options.start_at, orch.options.stop_at)

    def record(step: StepNode, st: str, started: float | None, error: str = "") -> None:
        status[step.id] = st
        error = orch.masker.mask(error)
        orch.state.upsert_step(
            Step(run_id, nid, step.id, st, started_at=started,
                 finished_at=None if st == "running" else time.time(), error=error)
        )
        orch.state.append_event(
            run_id, "step_started" if st == "running" else "step_finished",
            {"step": step.id, "status": st, **({"error": error} if error else {})}, node_id=nid,
        )

    async def one(step: StepNode) -> None:
        started: float | None = None
        try:
            for d in step.deps:
                await done[d].wait()
            if not step.is_finally:
                blocked = [
                    d for d in step.deps
                    if status.get(d) not in _OK and not work.steps[d].continues_on_error
                ]
                if blocked or stop:
                    why = f"upstream-failed: {blocked[0]}" if blocked else "fail-fast"
                    now = time.time()
                    record(step, "cancelled", now, why)
                    ctx.log.record(f"step {step.id} cancelled ({why})", event="step_end",
                                   step=step.id, attrs={"outcome": "cancelled", "error": why})
                    return
            if step.id in window:
                _skip(step, window[step.id])
                return
            sctx = ctx.for_step(step.id)
            step_ctx[step.id] = sctx
            fn = step.fn
            if orch.options.dry_run:
                if step.dry_run_fn is not None:
                    fn = step.dry_run_fn
                elif not step.safe_in_dry_run:
                    _skip(step, "no_dry_run_defined")
                    return
            for pred in step.skip_preds:
                if await orch._call(pred, sctx):
                    _skip(step, "skip_if")
                    return
            started = time.time()
            record(step, "running", started)
            ctx.log.record(f"step {step.id} started", event="step_start", step=step.id)
            value = await orch._call(fn, sctx)
            ctx.set_step_output(step.id, value)
            record(step, "passed", started)
            ctx.log.record(f"step {step.id} passed", event="step_end", step=step.id,
                           attrs={"outcome": "success",
                                  "duration_ms": int((time.time() - started) * 1000)})
        except asyncio.CancelledError:
            if status.get(step.id) in (None, "running"):
                record(step, "cancelled", started or time.time(), "cancelled")
                ctx.log.record(f"step {step.id} cancelled", event="step_end", step=step.id,
                               attrs={"outcome": "cancelled"})
            if not stop or stop[0] != "fail-fast":
                raise
        except Exception as exc:
            if step.id in victims:  # killed by fail-fast: its error is the kill
                record(step, "cancelled", started, "fail-fast")
                ctx.log.record(f"step {step.id} cancelled (fail-fast)", event="step_end",
                               step=step.id, attrs={"outcome": "cancelled"})
                return
            record(step, "failed", started, str(exc))
            ctx.log.record(f"step {step.id} failed: {exc}", level="error", event="step_end",
                           step=step.id, attrs={"outcome": "failed", "error": str(exc)})
            if not step.is_optional:
                failure.append(exc)
                if not step.continues_on_error and work.fail_fast and not stop:
                    stop.append("fail-fast")
                    await _cancel_siblings(step)
        finally:
            done[step.id].set()

    def _skip(step: StepNode, reason: str) -> None:
        now = time.time()
        record(step, "skipped", now)
        ctx.log.record(f"step {step.id} skipped ({reason})", event="step_skipped", step=step.id,
                       attrs={"outcome": "skipped", "reason": reason})

    async def _cancel_siblings(trigger: StepNode) -> None:
        running = [
            sid for sid, t in tasks.items()
            if sid != trigger.id and not t.done() and status.get(sid) == "running"
            and not work.steps[sid].is_finally
        ]
        victims.update(running)
        for sid in running:
            tasks[sid].cancel()
        for sid in running:
            if sid in step_ctx:
                await kill_processes(step_ctx[sid], "cancellation")
        ctx.log.record(
            f"step {trigger.id} failed; cancelled {len(running)} running sibling step(s)",
            event="work_fail_fast",
            attrs={"trigger_step": trigger.id, "cancelled_steps": running},
        )

    tasks = {sid: asyncio.ensure_future(one(s)) for sid, s in work.steps.items()}
    if not tasks:
        return None
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    if failure:
        raise failure[0]
    if work.result is not None:
        return ctx.step_output(work.result.id)
    return None


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

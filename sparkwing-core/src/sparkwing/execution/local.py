"""The ``local`` executor: attempts run in the run's own process (the default).

One attempt is the body, its verifiers and the JSON check of its output.
Sync bodies run in a thread pool (those that cannot block, see
:mod:`sparkwing.execution.instant`, run inline), ``async def`` bodies on the running loop,
commands in their own process groups (a timeout or a cancel kills their
trees). ``sparkwing node exec`` runs its attempt with this code too, inside
its own process; :func:`call` is how the orchestrator calls hooks and
predicates.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from concurrent.futures import Executor as ThreadPool
from typing import Any

from ..dsl.nodes import FunctionBody, Job, JobNode, ShellBody
from ..runtime.context import Context
from ..runtime.lazypool import LazyThreadPool
from ..runtime.processes import CommandError
from .contracts import Attempt, AttemptResult
from .instant import runs_instantly
from .timeouts import AttemptFailed, guarded


class LocalExecutor:
    """Runs each attempt in this process: sync bodies in a thread pool, ``async def`` on the loop.

    Commands a body starts run in their own process groups, so a timeout or a
    cancel kills their whole trees.
    """

    name = "local"
    #: Attempts share the run's process (upstream outputs are read from memory).
    in_process = True

    def __init__(self, workers: int = 0) -> None:
        size = max(workers or os.cpu_count() or 2, 4)
        self.pool = LazyThreadPool(size, thread_name_prefix="job")

    async def run_attempt(self, attempt: Attempt) -> AttemptResult:
        """Run the attempt's body, verifiers and output check here (see :func:`run_in_process`)."""
        return await run_in_process(attempt, self.pool)

    async def close(self) -> None:
        """Stop the thread pool without waiting for bodies that outlived their attempt."""
        self.pool.shutdown(wait=False, cancel_futures=True)


async def call(pool: ThreadPool, fn: Callable[..., Any], *args: Any) -> Any:
    """Await ``fn(*args)``: a coroutine function on the loop, anything else in *pool*.

    A sync function that returns an awaitable (a lambda wrapping an ``async
    def``) has that awaited too.
    """
    if asyncio.iscoroutinefunction(fn):
        return await fn(*args)
    return await _call_sync(pool, fn, *args)


async def _call_sync(pool: ThreadPool, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` inline when it cannot block, else in *pool*; an awaitable it returns is
    awaited."""
    if runs_instantly(fn):  # nothing to wait for: no thread hand-off
        return fn(*args)
    result = await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
    if asyncio.iscoroutine(result):
        result = await result
    return result


async def run_in_process(attempt: Attempt, pool: ThreadPool) -> AttemptResult:
    """Run *attempt* (which must carry its live ``node`` and ``context``) and report how it ended.

    Sync bodies run in *pool*, ``async def`` bodies on the running loop and
    commands in their own process groups; a timeout or a cancel kills their
    trees. A failure is written to the job's log and returned, never raised;
    ``asyncio.CancelledError`` propagates after the processes are killed.
    """
    node, ctx = attempt.node, attempt.context
    if node is None or ctx is None:
        raise ValueError("an in-process attempt needs its node and context")
    nid = node.id
    ctx.attempt = attempt.attempt
    if attempt.env:
        ctx.add_env(attempt.env)
    for value in attempt.secret_values:
        ctx.masker.add(value)
    log = ctx.log
    try:
        output = await guarded(
            _body(attempt, node, ctx, pool), ctx, attempt.timeout_s, attempt.no_progress_s
        )
        for check in node.verifiers:
            try:
                await call(pool, check, ctx)
            except Exception as exc:
                raise AttemptFailed("verify", f"verify failed: {exc}") from exc
        check_json(nid, output)
        return AttemptResult("success", output=ctx.masker.mask_value(output))
    except asyncio.CancelledError:
        raise
    except AttemptFailed as exc:
        log.record(str(exc), level="error")
        return AttemptResult("failed", failure_reason=exc.reason,
                             error=ctx.masker.mask(f"{nid}: {exc}"), exception=exc)
    except CommandError as exc:
        log.record(str(exc), level="error", attrs={"exit_code": exc.exit_code})
        return AttemptResult("failed", exit_code=exc.exit_code,
                             error=ctx.masker.mask(error_text(nid, exc)), exception=exc)
    except Exception as exc:
        log.record(f"{type(exc).__name__}: {exc}", level="error")
        return AttemptResult("failed", error=ctx.masker.mask(error_text(nid, exc)), exception=exc)


async def _body(attempt: Attempt, node: JobNode, ctx: Context, pool: ThreadPool) -> Any:
    body = node.body
    if attempt.dry_run and node.dry_run_fn is not None:
        return await call(pool, node.dry_run_fn, ctx)
    if isinstance(body, ShellBody):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            pool, lambda: ctx.sh(body.command, env=body.env or None, cwd=body.cwd)
        )
        return None
    if isinstance(body, FunctionBody):
        if body.is_async:
            return await body.fn(ctx)
        return await _call_sync(pool, body.fn, ctx)
    if isinstance(body, Job):
        if node.work is None or attempt.recorder is None:
            raise AttemptFailed("", f"job {node.id}: its steps were not built (finalize the plan)")
        from .steps import StepRunner

        steps = StepRunner(attempt.recorder, pool, dry_run=attempt.dry_run,
                           start_at=attempt.start_at, stop_at=attempt.stop_at)
        return await steps.run(node.work, ctx)
    raise AttemptFailed("", f"job {node.id} has no body")


def error_text(nid: str, exc: BaseException) -> str:
    """The one-line error of a failed attempt, prefixed with the job id."""
    text = str(exc) or type(exc).__name__
    if (not isinstance(exc, CommandError) and type(exc).__name__ != "SparkwingError"
            and not text.startswith(type(exc).__name__)):
        text = f"{type(exc).__name__}: {text}"
    return text if text.startswith(f"{nid}: ") else f"{nid}: {text}"


def check_json(nid: str, value: Any) -> None:
    """Raise :class:`AttemptFailed` when a job's output cannot be stored as JSON."""
    if value is None:
        return
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise AttemptFailed(
            "", f"output of job {nid} is not JSON-serialisable ({exc}); return str, int, float, "
            "bool, None, lists or dicts of those"
        ) from None

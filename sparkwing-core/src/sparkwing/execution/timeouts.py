"""Per-attempt time limits: wall-clock timeout and no-progress timeout, killing process trees."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from ..durations import format_duration
from ..runtime.context import Context
from ..runtime.processes import ProcessTracker


class AttemptFailed(Exception):
    """An attempt failed for a categorised reason (``timeout``, ``no_progress_timeout``, ``verify``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def kill_processes(ctx: Context, reason: str) -> None:
    """Kill every process tree the attempt started (in a helper thread: it may wait)."""
    await asyncio.to_thread(ctx.tracker.kill_all, reason)


async def guarded(
    body: Awaitable[Any],
    ctx: Context,
    timeout_s: float | None,
    no_progress_s: float | None,
) -> Any:
    """Await one attempt's *body* under its time limits.

    On a limit, the attempt's processes are killed and :class:`AttemptFailed`
    is raised with reason ``timeout`` or ``no_progress_timeout``. When the
    surrounding task is cancelled, processes are killed too.
    """
    ctx.tracker = ProcessTracker()
    ctx.log.last_activity = time.monotonic()
    ctx.log.last_lines.clear()
    if not timeout_s and not no_progress_s:
        try:
            return await body
        except asyncio.CancelledError:
            await asyncio.shield(kill_processes(ctx, "cancellation"))
            raise
    task = asyncio.ensure_future(body)
    start = time.monotonic()
    reason, message = "", ""
    try:
        while True:
            now = time.monotonic()
            waits = []
            if timeout_s:
                waits.append(start + timeout_s - now)
            if no_progress_s:
                waits.append(ctx.log.last_activity + no_progress_s - now)
            done, _ = await asyncio.wait({task}, timeout=max(0.01, min(waits)))
            if done:
                return task.result()
            now = time.monotonic()
            if timeout_s and now - start >= timeout_s:
                reason, message = "timeout", f"timeout exceeded ({format_duration(timeout_s)})"
                break
            if no_progress_s and now - ctx.log.last_activity >= no_progress_s:
                reason = "no_progress_timeout"
                message = f"no progress for {format_duration(no_progress_s)}"
                break
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.shield(kill_processes(ctx, "cancellation"))
        raise
    task.cancel()
    await kill_processes(ctx, reason)
    raise AttemptFailed(reason, message)

"""The dashboard's schedule loop: ``on.schedule`` of the project it was started in.

Every ``schedule_every_s`` seconds the loop looks at the current UTC minute;
the first look in a minute

1. puts trigger rows whose lease expired (their worker died) back in the
   queue and starts a ``sparkwing triggers run --id ID`` for each, and
2. when some schedule of the project fires in that minute, starts one
   detached ``sparkwing triggers tick --now MINUTE --pipeline NAME`` per due
   pipeline in the project's directory. Each goes through
   :func:`sparkwing.triggers.dispatch.dispatch` under the schedule key
   (project, pipeline, expression, minute), so a tick from the command
   line in the same minute, or a second dashboard, starts nothing more.

The runs happen in those processes, never in the dashboard's, and outlive
it. A project whose ``sparkwing.yaml`` is invalid is reported once per
distinct error and retried every minute.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sparkwing.waiting import wait_event

from .context import ServerContext


class _Log:
    """The scheduler's program log (structlog, bound on first use)."""

    def __init__(self) -> None:
        self._last_error = ""

    def _logger(self) -> Any:
        from sparkwing.proglog import get_logger

        return get_logger("sparkwing.localws.schedule")

    def error_once(self, message: str) -> None:
        if message != self._last_error:
            self._last_error = message
            self._logger().warning(f"schedules not evaluated: {message}")

    def clear(self) -> None:
        self._last_error = ""

    def started(self, minute: str, pipelines: list[str]) -> None:
        self._logger().info(f"{minute}: schedule due for {', '.join(pipelines)}",
                            minute=minute, pipelines=pipelines)

    def exception(self, msg: str) -> None:
        self._logger().exception(msg)


def due_pipelines(root: Path, minute: datetime) -> list[str]:
    """Names of the pipelines of the project at *root* with a schedule firing at *minute*."""
    from sparkwing.config import load_project
    from sparkwing.triggers.schedule import due_requests

    project = load_project(root)
    names: list[str] = []
    for request in due_requests(project, minute):
        if request.pipeline not in names:
            names.append(request.pipeline)
    return names


def start_ticks(root: Path, minute: datetime, pipelines: list[str]) -> None:
    """Start one detached ``sparkwing triggers tick`` per pipeline for *minute*."""
    from .launcher import sparkwing_argv, start_detached

    stamp = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in pipelines:
        argv = sparkwing_argv("triggers", "tick", "--now", stamp, "--pipeline", name,
                              "-C", str(root), "-o", "json")
        start_detached(argv, str(root)).release()


async def _requeue(ctx: ServerContext, now: float) -> None:
    """Requeue expired trigger leases and start a worker for each requeued row."""
    from sparkwing.triggers.contracts import RunRequest

    ids = await ctx.state_call(ctx.state.requeue_expired_triggers, now)
    for trigger_id in ids:
        row = await ctx.state_call(ctx.state.get_trigger, trigger_id)
        if row is not None:
            request = RunRequest.from_dict(row.request)
            await ctx.logs_call(ctx.start_worker, request, trigger_id)


async def schedule_loop(ctx: ServerContext, clock: Any = None) -> None:
    """Tick the schedules of ``ctx.project_root`` once per minute until the server closes.

    *clock* returns the current time as an aware ``datetime`` (tests inject one).
    """
    from sparkwing.errors import SparkwingError
    from sparkwing.triggers.schedule import minute_of

    from .launcher import cli_available

    root = ctx.project_root
    if root is None or not cli_available():
        return
    now_fn = clock or (lambda: datetime.now(UTC))
    log = _Log()
    last: datetime | None = None
    while not ctx.closing.is_set():
        minute = minute_of(now_fn())
        if minute != last:
            last = minute
            try:
                await _requeue(ctx, now_fn().timestamp())
                due = await ctx.logs_call(due_pipelines, root, minute)
                log.clear()
                if due:
                    log.started(minute.strftime("%Y-%m-%dT%H:%MZ"), due)
                    await ctx.logs_call(start_ticks, root, minute, due)
            except SparkwingError as exc:
                log.error_once(str(exc))
            except Exception:
                log.exception("evaluating schedules failed")
        await wait_event(ctx.closing, ctx.options.schedule_every_s)

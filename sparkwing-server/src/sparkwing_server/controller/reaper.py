"""The controller's reaper: a background task that ends claims whose holders went quiet.

Every ``reaper_interval_s`` (:class:`~.leases.LeaseSettings`) one tick:

1. fails node attempts whose lease ran out: ``finished``/``failed`` with
   reason ``agent_lost`` (never requeued: the orchestrator's retry policy
   decides on another attempt, seeing the reason);
2. fails ready node attempts nobody claimed within ``queue_timeout_s``:
   reason ``queue_timeout`` (off when 0);
3. puts trigger rows whose lease ran out back to ``pending``, so another
   runner claims them (their claim number moves on, fencing the old holder);
4. orphans ``running`` runs whose heartbeat is older than ``stale_run_s``
   and fails ``pending`` runs whose trigger is done without them
   (:mod:`.sweeps`);
5. refreshes the queue gauges of ``/metrics``.

A reaped attempt whose run is in the state store also gets an
``attempt_reaped`` event in the run's stream (``{attempt, reason, holder,
error}``), so the run's views and its orchestrator see why. Each sweep
re-checks its condition in the same statement that changes the row, so a
heartbeat that lands first keeps its claim. A failing tick is logged and
the next one tries again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from . import sweeps
from .context import CONTEXT_KEY
from .leases import ACTIVE_WINDOW_S

if TYPE_CHECKING:
    from sparkwing.storage.nodequeue import QueuedAttempt

    from .context import ControllerContext


@dataclass
class TickReport:
    """What one reaper tick did."""

    lost: list[QueuedAttempt] = field(default_factory=list)
    timed_out: list[QueuedAttempt] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    undispatched: list[str] = field(default_factory=list)


def _record(ctx: ControllerContext, rows: list[QueuedAttempt]) -> None:
    from sparkwing.errors import NotFoundError
    from sparkwing.events import ATTEMPT_REAPED

    for row in rows:
        payload = {"attempt": row.attempt, "reason": row.failure_reason,
                   "holder": row.claimed_by, "error": row.error}
        try:
            ctx.state.append_event(row.run_id, ATTEMPT_REAPED, payload, node_id=row.node_id)
        except NotFoundError:
            pass  # the queue may hold work of a run the state store does not know (yet)


async def tick(ctx: ControllerContext, now: float | None = None) -> TickReport:
    """Run the sweeps once (see the module docstring); return what they did."""
    stamp = time.time() if now is None else now
    report = TickReport()
    nodes = ctx.nodes
    if nodes is not None:
        report.lost = await ctx.queue_call(nodes.reap_lost, stamp)
        report.timed_out = await ctx.queue_call(nodes.reap_queue_timeouts, stamp,
                                                ctx.leases.queue_timeout_s)
        if report.lost or report.timed_out:
            await ctx.state_call(_record, ctx, report.lost + report.timed_out)
    report.requeued = await ctx.state_call(ctx.state.requeue_expired_triggers, stamp)
    report.orphaned = await ctx.state_call(sweeps.sweep_stale_running, ctx.state, stamp,
                                           ctx.leases.stale_run_s)
    report.undispatched = await ctx.state_call(sweeps.sweep_stale_pending, ctx.state, stamp,
                                               ctx.leases.lease_s)
    ctx.metrics.reap("agent_lost", len(report.lost))
    ctx.metrics.reap("queue_timeout", len(report.timed_out))
    ctx.metrics.reap("trigger_requeued", len(report.requeued))
    ctx.metrics.reap("run_orphaned", len(report.orphaned))
    ctx.metrics.reap("run_undispatched", len(report.undispatched))
    if nodes is not None:
        stats = await ctx.queue_call(nodes.stats, stamp, active_window_s=ACTIVE_WINDOW_S)
        ctx.metrics.set_gauge("sparkwing_pending_nodes",
                              "Node attempts ready and waiting for a runner.",
                              {"": float(stats["ready"])})
        ctx.metrics.set_gauge("sparkwing_claimed_nodes", "Node attempts held by a runner.",
                              {"": float(stats["claimed"])})
        ctx.metrics.set_gauge("sparkwing_active_runners",
                              f"Distinct holders of node claims heartbeating within "
                              f"{ACTIVE_WINDOW_S:g} s.", {"": float(stats["holders"])})
    _log(report)
    return report


def _log(report: TickReport) -> None:
    if not (report.lost or report.timed_out or report.requeued or report.orphaned
            or report.undispatched):
        return
    from sparkwing.proglog import get_logger

    log = get_logger("sparkwing.controller.reaper")
    for row in report.lost + report.timed_out:
        log.warning(f"node {row.run_id}/{row.node_id} attempt {row.attempt}: "
                    f"{row.failure_reason}: {row.error}")
    for trigger_id in report.requeued:
        log.warning(f"trigger {trigger_id}: lease expired, back to pending")
    for run_id in report.orphaned:
        log.warning(f"run {run_id}: no heartbeat, orphaned (failed)")
    for run_id in report.undispatched:
        log.warning(f"run {run_id}: {sweeps.UNDISPATCHED_ERROR} (failed)")


async def run(ctx: ControllerContext) -> None:
    """Tick every ``reaper_interval_s`` until cancelled (a failing tick is logged, not fatal)."""
    from sparkwing.proglog import get_logger

    while True:
        try:
            await tick(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            get_logger("sparkwing.controller.reaper").error(
                f"reaper tick failed: {type(exc).__name__}: {' '.join(str(exc).split())}")
        ctx.swept.set()
        await asyncio.sleep(ctx.leases.reaper_interval_s)


def install(app: web.Application) -> None:
    """Run :func:`run` while *app* serves: started after the app's other start-up hooks (the
    worker threads exist then), cancelled before its other clean-up hooks."""
    tasks: list[asyncio.Task[None]] = []

    async def start(app: web.Application) -> None:
        tasks.append(asyncio.get_running_loop().create_task(
            run(app[CONTEXT_KEY]), name="sparkwing-controller-reaper"))

    async def stop(_app: web.Application) -> None:
        while tasks:
            task = tasks.pop()
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)

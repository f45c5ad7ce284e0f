"""The reaper's run sweeps (cluster.md §4.3): runs whose orchestrator went away.

* **Stale running run**: a run ``running`` whose ``last_heartbeat_at`` is
  older than ``stale_run_s`` (:class:`~.leases.LeaseSettings`, default
  3 min; a run without any heartbeat is left alone). An orchestrator
  stamps its run every couple of seconds through its state store (a
  ``controller:`` profile's too), so only a run whose process died or lost
  the controller for that long is swept: its running nodes fail and its
  pending nodes are cancelled, both with reason ``orphaned``, then the run
  fails.
* **Stale pending run**: a run ``pending`` created more than
  ``STALE_PENDING_LEASES`` leases ago whose trigger row is ``done``: the
  consumer finished the trigger without starting the run, so the run
  fails.

Both read and write through the :class:`~sparkwing.storage.contracts.StateStore`
contract only (any state backend). Each re-reads the run just before
writing it, so a heartbeat that landed since the list keeps the run alive;
a heartbeat landing between that read and the write is the remaining
window (the next heartbeat finds the run ``failed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkwing import events
from sparkwing.storage.records import RunFilter

if TYPE_CHECKING:
    from sparkwing.storage.contracts import StateStore
    from sparkwing.storage.records import Run

#: A pending run is stale after this many trigger leases (5 x 180 s = 15 min by default).
STALE_PENDING_LEASES = 5
#: Most live runs one sweep looks at.
MAX_LIVE_RUNS = 5000
#: Most ``done`` trigger rows a stale-pending sweep reads to find a run's trigger.
MAX_DONE_TRIGGERS = 5000
#: ``failure_reason`` of the nodes of an orphaned run.
ORPHANED = "orphaned"
#: Node statuses that count as running (their node fails; ``pending`` ones are cancelled).
RUNNING_NODE_STATUSES = frozenset({"running", "approval_pending", "paused"})
#: The error of a pending run whose trigger is done.
UNDISPATCHED_ERROR = "trigger consumer finished without dispatching"


def orphaned_error(silent_s: float) -> str:
    """The error of a run swept for a stale heartbeat."""
    return (f"orphaned: no heartbeat from the run's orchestrator for {silent_s:.0f} s "
            "(its process or runner was lost)")


def _heartbeat_stale(run: Run | None, stale_before: float) -> bool:
    return (run is not None and run.status == "running" and run.last_heartbeat_at is not None
            and run.last_heartbeat_at < stale_before)


def orphan_run(state: StateStore, run: Run, now: float) -> None:
    """Fail *run*'s running nodes, cancel its pending ones (reason ``orphaned``) and its running
    steps, fail the run."""
    from sparkwing.orchestrator.reconcile import cancel_running_steps

    silent = now - (run.last_heartbeat_at or now)
    error = orphaned_error(silent)
    for node in state.list_nodes(run.id):
        if node.status == "done":
            continue
        if node.status in RUNNING_NODE_STATUSES:
            outcome, kind = "failed", events.NODE_FAILED
        else:
            outcome, kind = "cancelled", events.NODE_CANCELLED
        state.update_node(
            run.id, node.node_id,
            {"status": "done", "outcome": outcome, "failure_reason": ORPHANED,
             "error": error, "finished_at": now},
            (kind, {"outcome": outcome, "error": error, "failure_reason": ORPHANED}),
        )
    cancel_running_steps(state, run.id, error, now)
    state.update_run(run.id, {"status": "failed", "error": error, "finished_at": now})
    state.append_event(run.id, events.RUN_FINISHED,
                       {"status": "failed", "error": error, "reconciled": ORPHANED})


def sweep_stale_running(state: StateStore, now: float, stale_run_s: float) -> list[str]:
    """Orphan every ``running`` run whose heartbeat is older than *stale_run_s*; return ids."""
    stale_before = now - stale_run_s
    out: list[str] = []
    for listed in state.list_runs(RunFilter(statuses=["running"], limit=MAX_LIVE_RUNS)):
        if not _heartbeat_stale(listed, stale_before):
            continue
        run = state.get_run(listed.id)  # a heartbeat since the list keeps it alive
        if run is None or not _heartbeat_stale(run, stale_before):
            continue
        orphan_run(state, run, now)
        out.append(run.id)
    return out


def sweep_stale_pending(state: StateStore, now: float, lease_s: float) -> list[str]:
    """Fail ``pending`` runs older than ``STALE_PENDING_LEASES`` leases whose trigger is done."""
    from sparkwing.orchestrator.reconcile import settle_lost_run

    before = now - STALE_PENDING_LEASES * lease_s
    old = [r for r in state.list_runs(RunFilter(statuses=["pending"], limit=MAX_LIVE_RUNS))
           if (r.started_at or r.created_at) < before]
    if not old:
        return []
    done = {t.run_id for t in state.list_triggers(status="done", limit=MAX_DONE_TRIGGERS)
            if t.run_id}
    out: list[str] = []
    for listed in old:
        if listed.id not in done:
            continue
        run = state.get_run(listed.id)
        if run is None or run.status != "pending":
            continue
        if settle_lost_run(state, run, UNDISPATCHED_ERROR, "trigger_done_without_dispatch",
                           now=now):
            out.append(run.id)
    return out

"""Orphan reconciliation: runs left ``running`` by a process that is gone.

A ``sparkwing run`` process records its host, pid and a heartbeat on the
run row. When it dies without finishing (``kill -9``, a crash, a closed
laptop lid that never reopened) the row would stay ``running`` forever.
:func:`reconcile` settles such runs; every ``sparkwing runs ...`` read calls
it, and the dashboard can call it before serving runs.

Two rules, applied in this order:

1. A ``running`` run recorded on *this* host whose pid is not a live
   process (or is a different process that reused the pid) is marked
   ``failed`` at once, and its unfinished nodes and steps ``cancelled``.
2. Any live run (``pending`` or ``running``, on any host) whose last
   heartbeat is older than :data:`STALE_AFTER_S` seconds
   (``SPARKWING_STALE_AFTER`` overrides) is reaped through
   :meth:`~sparkwing.storage.contracts.StateStore.reap_stale_runs`.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import events
from ..storage.records import Run, RunFilter

if TYPE_CHECKING:
    from ..storage.contracts import StateStore

#: Seconds without a heartbeat after which a live run counts as lost.
STALE_AFTER_S = 60.0
#: Environment variable overriding :data:`STALE_AFTER_S` (seconds).
STALE_AFTER_ENV = "SPARKWING_STALE_AFTER"
#: Most live runs looked at per call (live runs are few; this bounds a pathological store).
MAX_LIVE_RUNS = 5000
#: A process that started this many seconds after the run was created is not its owner.
_PID_REUSE_SLACK_S = 5.0


@dataclass(slots=True)
class Reconciled:
    """A run that :func:`reconcile` settled, and why."""

    run_id: str
    reason: str  # "process_died" | "stale_heartbeat"
    error: str


def stale_after() -> float:
    """Seconds after which a silent live run is reaped (``SPARKWING_STALE_AFTER`` or 60)."""
    raw = os.environ.get(STALE_AFTER_ENV, "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value > 0:
            return value
    return STALE_AFTER_S


def this_host() -> str:
    """The host name runs record as theirs (``socket.gethostname()``)."""
    return socket.gethostname()


def pid_alive(pid: int, started_after: float | None = None) -> bool:
    """Tell whether *pid* is a live process that could be the one that recorded a run.

    Zombies count as dead. When *started_after* (epoch seconds, the run's
    creation time) is given and the process's start time can be read
    (Linux ``/proc``), a process that started well after it is a different
    process that reused the pid, and also counts as dead.
    """
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    facts = _proc_facts(pid)
    if facts is None:
        return True
    state, start = facts
    if state in ("Z", "X"):
        return False
    return not (
        started_after is not None and start is not None
        and start > started_after + _PID_REUSE_SLACK_S
    )


def _proc_facts(pid: int) -> tuple[str, float | None] | None:
    """``(state letter, start time as epoch seconds)`` from ``/proc``, or ``None`` elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    rest = text[text.rfind(")") + 2:].split()
    if len(rest) < 20:
        return None
    state = rest[0]
    try:
        ticks = int(rest[19])  # field 22: start time in clock ticks after boot
        return state, _boot_time() + ticks / os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return state, None


_BOOT: list[float] = []


def _boot_time() -> float:
    if not _BOOT:
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if line.startswith("btime "):
                    _BOOT.append(float(line.split()[1]))
                    break
            else:
                raise OSError("no btime in /proc/stat")
    return _BOOT[0]


def died_message(pid: int) -> str:
    """The error recorded on a run whose process died."""
    return f"the sparkwing process running this run died (pid {pid})"


def mark_process_died(state: StateStore, run: Run, now: float | None = None) -> bool:
    """Fail *run* because its process died; cancel its unfinished nodes and steps.

    Re-reads the run first and does nothing (returns ``False``) when it is
    no longer ``running``.
    """
    current = state.get_run(run.id)
    if current is None or current.status != "running":
        return False
    return settle_lost_run(state, current, died_message(current.pid), "process_died", now=now)


def cancel_running_steps(state: StateStore, run_id: str, error: str, now: float) -> None:
    """Mark the run's steps still ``running`` cancelled (their process is gone), with *error*."""
    for step in state.list_steps(run_id):
        if step.status == "running":
            step.status, step.finished_at = "cancelled", now
            step.error = step.error or error
            state.upsert_step(step)


def settle_lost_run(state: StateStore, run: Run, error: str, reason: str, *,
                    now: float | None = None) -> bool:
    """Fail *run* (live) with *error*; cancel its unfinished nodes and steps.

    *reason* is recorded on the ``run_finished`` event (``reconciled``).
    Does nothing (returns ``False``) when the run is finished already.
    """
    now = time.time() if now is None else now
    if run.terminal:
        return False
    node_error = "cancelled: " + error
    for node in state.list_nodes(run.id):
        if node.status == "done":
            continue
        state.update_node(
            run.id, node.node_id,
            {"status": "done", "outcome": "cancelled", "error": node_error, "finished_at": now},
            (events.NODE_CANCELLED, {"outcome": "cancelled", "reason": node_error}),
        )
    cancel_running_steps(state, run.id, node_error, now)
    state.update_run(run.id, {"status": "failed", "error": error, "finished_at": now})
    state.append_event(run.id, events.RUN_FINISHED,
                       {"status": "failed", "error": error, "reconciled": reason})
    return True


def _settle_orphans(
    state: StateStore,
    *,
    now: float | None = None,
    host: str | None = None,
    stale_after_s: float | None = None,
) -> list[Reconciled]:
    """Settle orphaned runs in *state* (see the module docstring); return what changed.

    Safe to call often and from several processes: a run another caller
    already settled is skipped.
    """
    now = time.time() if now is None else now
    host = this_host() if host is None else host
    out: list[Reconciled] = []
    live = state.list_runs(RunFilter(statuses=["running", "pending"], limit=MAX_LIVE_RUNS))
    for run in live:
        if run.status != "running" or run.host != host or run.pid <= 0:
            continue
        if pid_alive(run.pid, started_after=run.created_at or run.started_at):
            continue
        if mark_process_died(state, run, now):
            out.append(Reconciled(run.id, "process_died", died_message(run.pid)))
    settled = {r.run_id for r in out}
    stale_before = now - (stale_after() if stale_after_s is None else stale_after_s)
    # Reaping takes the store's write lock; skip it unless some live run looks silent.
    if not any(
        (r.last_heartbeat_at or r.started_at or r.created_at or 0.0) < stale_before
        for r in live if r.id not in settled
    ):
        return out
    for run_id in state.reap_stale_runs(stale_before, now):
        reaped = state.get_run(run_id)
        error = reaped.error if reaped is not None else "run process lost"
        state.append_event(run_id, events.RUN_FINISHED,
                           {"status": "failed", "error": error, "reconciled": "stale_heartbeat"})
        out.append(Reconciled(run_id, "stale_heartbeat", error))
    return out


def reconcile(
    state: StateStore,
    *,
    now: float | None = None,
    host: str | None = None,
    stale_after_s: float | None = None,
) -> list[Reconciled]:
    """Settle orphaned runs in *state* (dead process on this host, or stale heartbeat).

    Returns what changed and logs each change (program log, ``info``). Safe to
    call often and from several processes.
    """
    out = _settle_orphans(state, now=now, host=host, stale_after_s=stale_after_s)
    if out:
        from ..proglog import get_logger

        log = get_logger("sparkwing.reconcile")
        for c in out:
            log.info("orphaned run settled", run_id=c.run_id, reason=c.reason, error=c.error)
    return out

"""Asking a run to stop: the one piece of code behind every cancel.

``sparkwing runs cancel``, the dashboard's Cancel button (also the
controller's web UI) and the controller's ``POST /api/v1/runs/{id}/cancel``
all call :func:`request_cancel`:

* a finished run is left alone (:data:`FINISHED`);
* a run nobody owns (``pending`` with no process) is cancelled outright,
  its unfinished nodes too (:data:`CANCELLED`);
* otherwise the run's ``cancel_requested_at`` is stamped and a
  ``cancel_requested`` event names who asked (and why). The process running
  the run sees the stamp within about half a second (its watcher reads the
  run), and a runner holding the run's trigger or a node attempt of it
  learns it from its next heartbeat (:data:`REQUESTED`). A second request
  changes nothing (:data:`ALREADY_REQUESTED`).

On a controller's store (a ``controller:`` profile) the controller does all
of this (``POST /api/v1/runs/{id}/cancel``) and records the caller's token
as who asked.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from .. import events

if TYPE_CHECKING:
    from ..storage.contracts import StateStore
    from ..storage.records import Run

#: What :func:`request_cancel` did.
FINISHED: Final = "finished"
CANCELLED: Final = "cancelled"
REQUESTED: Final = "requested"
ALREADY_REQUESTED: Final = "already_requested"
#: The error of a run cancelled before any process started it.
NOT_STARTED: Final = "cancelled before it started"


def cancel_payload(by: str, reason: str = "") -> dict[str, str]:
    """The ``cancel_requested`` event's payload: ``{by, reason?}``."""
    return {"by": by, **({"reason": reason} if reason else {})}


def cancel_unowned(state: StateStore, run: Run, now: float, *, by: str = "",
                   reason: str = "") -> None:
    """Cancel a run no process owns (``pending``, no pid): it and its nodes become cancelled."""
    error = NOT_STARTED + (f": {reason}" if reason else "")
    for node in state.list_nodes(run.id):
        if node.status != "done":
            state.update_node(
                run.id, node.node_id,
                {"status": "done", "outcome": "cancelled", "error": error, "finished_at": now},
                (events.NODE_CANCELLED, {"outcome": "cancelled", "reason": error}),
            )
    state.update_run(run.id, {"status": "cancelled", "error": error, "finished_at": now,
                              "cancel_requested_at": now})
    state.append_event(run.id, events.CANCEL_REQUESTED, cancel_payload(by, reason))
    state.append_event(run.id, events.RUN_FINISHED, {"status": "cancelled", "error": error})


def request_cancel(state: StateStore, run: Run, *, by: str, reason: str = "",
                   now: float | None = None) -> str:
    """Ask *run* to stop (see the module docstring); return what was done."""
    if run.terminal:
        return FINISHED
    remote = getattr(state, "cancel_run", None)
    if remote is not None:  # a controller's store: the controller does it and names the caller
        from ..errors import ConflictError

        try:
            remote(run.id, by=by, reason=reason)
        except ConflictError:
            return FINISHED
        return REQUESTED
    when = time.time() if now is None else now
    if run.status == "pending" and run.pid <= 0:
        cancel_unowned(state, run, when, by=by, reason=reason)
        return CANCELLED
    if run.cancel_requested_at:
        return ALREADY_REQUESTED
    state.update_run(run.id, {"cancel_requested_at": when})
    state.append_event(run.id, events.CANCEL_REQUESTED, cancel_payload(by, reason))
    return REQUESTED

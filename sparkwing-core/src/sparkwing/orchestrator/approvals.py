"""Resolving approval gates from outside the run: the CLI verbs and the dashboard share this.

The run's process waits on its gate by reading the approval record; whoever
resolves it (``sparkwing runs approvals approve|deny``, the dashboard's
``POST /api/v1/runs/{id}/approvals/{node}``) records the decision in the
state store and appends an ``approval_resolved`` event, and the run moves on.
A controller's store (one with ``decide_approval``) does both in the
controller, which records the caller's token as the approver.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import events
from ..errors import ConflictError, NotFoundError, SparkwingError, UsageError

if TYPE_CHECKING:
    from ..storage.contracts import StateStore
    from ..storage.records import Approval

#: Decisions a person can record (``timed_out`` is only ever set by the run itself).
RESOLUTIONS = ("approved", "denied")


class ApprovalResolvedError(SparkwingError):
    """The approval was already resolved (by someone else, or by its timeout)."""


def resolve(state: StateStore, run_id: str, node_id: str, resolution: str, approver: str,
            comment: str = "", now: float | None = None) -> Approval:
    """Record *resolution* of the gate *node_id* of run *run_id* and return the resolved approval.

    Appends the ``approval_resolved`` event ``{resolution, approver, comment}``
    on the gate's node. Raises :class:`UsageError` for a resolution other than
    ``approved``/``denied``, :class:`NotFoundError` when the run has no such
    gate, and :class:`ApprovalResolvedError` when it was already resolved
    (also when another resolver won a race).
    """
    if resolution not in RESOLUTIONS:
        raise UsageError(f'resolution must be "approved" or "denied", got {resolution!r}')
    decide = getattr(state, "decide_approval", None)
    if callable(decide):  # a controller: it resolves and records the event, as the caller
        try:
            decided: Approval = decide(run_id, node_id, resolution, approver, comment)
        except ConflictError as exc:
            raise ApprovalResolvedError(str(exc)) from None
        return decided
    current = state.get_approval(run_id, node_id)
    if current is None:
        pending = [a.node_id for a in state.list_approvals(run_id, pending_only=True)]
        hint = f" (pending: {', '.join(pending)})" if pending else " (it has no pending approvals)"
        raise NotFoundError(f'run {run_id} has no approval gate "{node_id}"{hint}')
    if current.resolution:
        raise ApprovalResolvedError(already_resolved(run_id, node_id, current))
    at = time.time() if now is None else now
    if not state.resolve_approval(run_id, node_id, resolution, approver, comment, at):
        raise ApprovalResolvedError(
            already_resolved(run_id, node_id, state.get_approval(run_id, node_id)))
    state.append_event(run_id, events.APPROVAL_RESOLVED,
                       {"resolution": resolution, "approver": approver, "comment": comment},
                       node_id=node_id)
    resolved = state.get_approval(run_id, node_id)
    if resolved is None:  # deleted in between (the run was pruned): report what was recorded
        current.resolution, current.approver, current.comment = resolution, approver, comment
        current.resolved_at = at
        return current
    return resolved


def already_resolved(run_id: str, node_id: str, current: Approval | None) -> str:
    """The one-line message for a gate that cannot be resolved again."""
    if current is None:
        return f'approval "{node_id}" of run {run_id} is gone'
    who = f" by {current.approver}" if current.approver else ""
    return f'approval "{node_id}" of run {run_id} was already resolved: {current.resolution}{who}'

"""Approval gates and debug pauses: jobs that wait for a person."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from .. import events
from ..dsl.nodes import JobNode
from ..runtime.context import Context
from ..storage.records import Approval, Pause
from .graph import RunGraph
from .journal import RunJournal

if TYPE_CHECKING:
    from ..storage.contracts import StateStore

#: How often a waiting gate or pause looks for its resolution.
POLL_S = 0.25


class Gates:
    """Approval gates and debug pauses, resolved from outside the run through the state store.

    Built from the journal (requests and outcomes are recorded there), the
    state store it reads resolutions from, the run's graph and how long a
    debug pause holds before it releases itself.
    """

    def __init__(self, journal: RunJournal, state: StateStore, graph: RunGraph,
                 pause_timeout_s: float) -> None:
        self.journal = journal
        self.state = state
        self.graph = graph
        self.pause_timeout_s = pause_timeout_s

    async def approval(self, node: JobNode) -> None:
        """Wait for a person (or the timeout) to resolve the gate *node*, then settle it."""
        assert node.approval is not None
        run_id = self.journal.run_id
        nid, cfg = node.id, node.approval
        st = self.graph.states[nid]
        now = time.time()
        self.journal.approval_requested(Approval(run_id, nid, now, cfg.message, cfg.timeout_s,
                                                 cfg.on_expiry))
        st.status, st.started = "approval_pending", now
        self.journal.update(nid, {"status": "approval_pending", "started_at": now,
                                  "status_detail": cfg.message}, events.APPROVAL_REQUESTED,
                            {"message": cfg.message, "timeout_s": cfg.timeout_s,
                             "on_expiry": cfg.on_expiry})
        self.journal.changed(st)
        self.journal.warning(
            f'approval "{nid}" is waiting: sparkwing runs approvals approve --run {run_id} '
            f"--node {nid}"
        )
        self.journal.flush()
        deadline = now + cfg.timeout_s if cfg.timeout_s else None
        while True:
            ap = self.state.get_approval(run_id, nid)
            if ap is not None and ap.resolution:
                break
            if deadline is not None and time.time() >= deadline:
                self.journal.approval_expired(nid, f"expired after {cfg.timeout_s:g}s")
                continue
            await asyncio.sleep(POLL_S)
        res, who, comment = ap.resolution, ap.approver, ap.comment
        payload = {"resolution": res, "approver": who, "comment": comment}
        if res == "approved" or (res == "timed_out" and cfg.on_expiry == "approve"):
            summary = ("auto-approved (timed out)" if res == "timed_out"
                       else f"approved by {who}" + (f" · {comment}" if comment else ""))
            self._finish(nid, "success", "", summary, payload)
        elif res == "denied":
            self._finish(nid, "failed",
                         f"{nid}: denied by {who}" + (f": {comment}" if comment else ""), "",
                         payload)
        else:
            self._finish(nid, "failed", f"{nid}: approval timed out (policy={cfg.on_expiry})", "",
                         payload, reason="approval_timeout")

    def _finish(self, nid: str, outcome: str, error: str, summary: str,
                payload: dict[str, Any], reason: str = "") -> None:
        st = self.graph.states[nid]
        self.journal.settle(
            st, outcome, error,
            extra={"summary": summary, "failure_reason": reason, "status_detail": ""},
            payload=payload, raw_payload=True,
        )

    async def pause(self, node: JobNode, ctx: Context, reason: str) -> None:
        """Hold *node* until someone releases it (or the pause times out)."""
        run_id = self.journal.run_id
        nid = node.id
        now = time.time()
        st = self.graph.states[nid]
        prev = st.status
        st.status = "paused"
        self.journal.update(nid, {"status": "paused", "status_detail": reason},
                            events.NODE_PAUSED, {"reason": reason})
        # The node reads "paused" before the pause row exists (pause_created flushes
        # the queued update first), so whoever sees the pause sees a paused node.
        self.journal.pause_created(Pause(run_id, nid, reason, now, now + self.pause_timeout_s))
        self.journal.warning(f"job {nid} paused ({reason}): sparkwing debug release "
                             f"--run {run_id} --node {nid}")
        ctx.log.record(f"paused ({reason})", event=events.LOG_NODE_PAUSED)
        self.journal.flush()
        while True:
            p = self.state.get_pause(run_id, nid)
            if p is None or p.released_at:
                break
            if time.time() >= p.expires_at:
                self.journal.pause_expired(nid)
                break
            await asyncio.sleep(POLL_S)
        st.status = prev
        self.journal.update(nid, {"status": prev, "status_detail": ""}, events.NODE_RESUMED,
                            {"reason": reason})
        ctx.log.record("resumed", event=events.LOG_NODE_RESUMED)

"""Approval gates and debug pauses: jobs that wait for a person.

Mixed into :class:`~sparkwing.orchestrator.engine.Orchestrator`; uses its state and stores.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..dsl.nodes import JobNode
from ..runtime.context import Context
from ..storage.records import Approval, Pause
from .core import EngineCore


class GateMixin(EngineCore):
    """Approval gates and debug pauses: jobs that wait for a person."""

    async def _approval(self, node: JobNode) -> None:
        assert self.run is not None and node.approval is not None
        nid, cfg = node.id, node.approval
        st = self.states[nid]
        now = time.time()
        if self.state.get_approval(self.run.id, nid) is None:
            self.state.create_approval(Approval(self.run.id, nid, now, cfg.message, cfg.timeout_s,
                                                cfg.on_expiry))
        st.status, st.started = "approval_pending", now
        self._set(nid, {"status": "approval_pending", "started_at": now,
                        "status_detail": cfg.message}, "approval_requested",
                  {"message": cfg.message, "timeout_s": cfg.timeout_s, "on_expiry": cfg.on_expiry})
        self.reporter.node_changed(st)
        self.reporter.warning(
            f'approval "{nid}" is waiting: sparkwing runs approvals approve --run {self.run.id} '
            f"--node {nid}"
        )
        deadline = now + cfg.timeout_s if cfg.timeout_s else None
        while True:
            ap = self.state.get_approval(self.run.id, nid)
            if ap is not None and ap.resolution:
                break
            if deadline is not None and time.time() >= deadline:
                comment = f"expired after {cfg.timeout_s:g}s"
                if self.state.resolve_approval(self.run.id, nid, "timed_out", "sparkwing",
                                               comment, time.time()):
                    self.state.append_event(
                        self.run.id, "approval_resolved",
                        {"resolution": "timed_out", "approver": "sparkwing", "comment": comment},
                        node_id=nid,
                    )
                continue
            await asyncio.sleep(0.25)
        res, who, comment = ap.resolution, ap.approver, ap.comment
        payload = {"resolution": res, "approver": who, "comment": comment}
        if res == "approved" or (res == "timed_out" and cfg.on_expiry == "approve"):
            summary = ("auto-approved (timed out)" if res == "timed_out"
                       else f"approved by {who}" + (f" · {comment}" if comment else ""))
            self._finish_gate(nid, "success", "", summary, payload)
        elif res == "denied":
            self._finish_gate(nid, "failed", f"{nid}: denied by {who}" + (f": {comment}" if comment else ""),
                              "", payload)
        else:
            self._finish_gate(nid, "failed",
                              f"{nid}: approval timed out (policy={cfg.on_expiry})", "", payload,
                              reason="approval_timeout")

    def _finish_gate(self, nid: str, outcome: str, error: str, summary: str,
                     payload: dict[str, Any], reason: str = "") -> None:
        st = self.states[nid]
        now = time.time()
        st.status, st.outcome, st.error, st.finished = "done", outcome, error, now
        self._set(nid, {"status": "done", "outcome": outcome, "error": error, "finished_at": now,
                        "summary": summary, "failure_reason": reason, "status_detail": ""},
                  "node_succeeded" if outcome == "success" else "node_failed", payload)
        self.reporter.node_changed(st)

    # -- debug pauses -------------------------------------------------------------------------
    async def _pause(self, node: JobNode, ctx: Context, reason: str) -> None:
        assert self.run is not None
        nid = node.id
        now = time.time()
        self.state.create_pause(Pause(self.run.id, nid, reason, now, now + self.options.pause_timeout_s))
        prev = self.states[nid].status
        self.states[nid].status = "paused"
        self._set(nid, {"status": "paused", "status_detail": reason}, "node_paused",
                  {"reason": reason})
        self.reporter.warning(f"job {nid} paused ({reason}): sparkwing debug release "
                              f"--run {self.run.id} --node {nid}")
        ctx.log.record(f"paused ({reason})", event="node_paused")
        while True:
            p = self.state.get_pause(self.run.id, nid)
            if p is None or p.released_at:
                break
            if time.time() >= p.expires_at:
                self.state.release_pause(self.run.id, nid, "sparkwing", "timeout-released",
                                         time.time())
                break
            await asyncio.sleep(0.25)
        self.states[nid].status = prev
        self._set(nid, {"status": prev if prev != "pending" else "pending", "status_detail": ""},
                  "node_resumed", {"reason": reason})
        ctx.log.record("resumed", event="node_resumed")

"""Concurrency groups: taking units of a group's capacity for a job or a whole run.

Mixed into :class:`~sparkwing.orchestrator.engine.Orchestrator`; uses its state and stores.
"""

from __future__ import annotations

import time
from typing import Any

from ..dsl.nodes import JobNode
from ..storage.records import Run
from .core import EngineCore


class ConcurrencyMixin(EngineCore):
    """Concurrency groups: taking units of a group's capacity for a job or a whole run."""

    async def _acquire_groups(
        self, node: JobNode, held: list[tuple[str, str]]
    ) -> tuple[str, str, str] | None:
        """Take every group's units; a refusal returns ``(outcome, error, failure_reason)``."""
        assert self.run is not None
        nid = node.id
        holder = f"{self.run.id}/{nid}"
        for group, cost in node.concurrency_groups:
            key = group.key(self.run.id, self.host)
            self.holder_of[(key, holder)] = nid
            res = self.leases.try_acquire(key, holder, group.capacity, cost, self.run.id, nid)
            if res.granted:
                held.append((key, holder))
                continue
            if group.on_limit in ("fail", "skip"):
                self.leases.release(key, holder)
                msg = f'concurrency group "{group.name}" is full ({res.active}/{group.capacity})'
                if group.on_limit == "fail":
                    return "failed", msg, "concurrency_full"
                return "skipped-concurrent", msg, ""
            if group.on_limit == "cancel_others":
                self._evict(key, holder, group.capacity, cost)
            self.state.append_event(self.run.id, "concurrency_wait",
                                    {"group": group.name, "ahead": res.ahead,
                                     "holders": res.holders}, node_id=nid)

            def waiting(r: Any, name: str = group.name) -> None:
                detail = f'queued in "{name}": {r.ahead} ahead, held by {", ".join(r.holders)}'
                if self.states[nid].detail != detail:
                    self.states[nid].detail = detail
                    self._set(nid, {"status_detail": detail})

            ok = await self.leases.acquire(
                key, holder, group.capacity, cost, timeout_s=group.queue_timeout_s,
                on_wait=waiting, run_id=self.run.id, node_id=nid,
            )
            if not ok:
                return ("failed", f'timed out after {group.queue_timeout_s:g}s waiting for '
                        f'concurrency group "{group.name}"', "queue_timeout")
            self.state.append_event(self.run.id, "concurrency_promoted", {"group": group.name},
                                    node_id=nid)
            held.append((key, holder))
        return None

    def _evict(self, key: str, holder: str, capacity: int, cost: int) -> None:
        holders, _ = self.state.concurrency_state(key, time.time())
        active = sum(h.cost for h in holders)
        for h in sorted(holders, key=lambda x: x.claimed_at or 0):
            if active + cost <= capacity:
                break
            if h.holder_id == holder:
                continue
            self.state.concurrency_release(key, h.holder_id)
            active -= h.cost
            assert self.run is not None
            self.state.append_event(self.run.id, "concurrency_cancelled",
                                    {"key": key, "evicted": h.holder_id}, node_id=holder.split("/", 1)[-1])

    async def _acquire_run_groups(self, run: Run) -> bool:
        for group, cost in self.plan.run_concurrency:
            key = group.key(run.id, self.host)
            self.holder_of[(key, run.id)] = ""
            limit = group.queue_timeout_s if group.on_limit == "queue" else 0.001
            ok = await self.leases.acquire(key, run.id, group.capacity, cost, timeout_s=limit,
                                           run_id=run.id)
            if not ok:
                self.cancel_reason = f'concurrency group "{group.name}" is full'
                for nid in self.nodes:
                    self._settle(nid, "cancelled", self.cancel_reason)
                    self.done[nid].set()
                return False
        return True

"""Concurrency groups: taking units of a group's capacity for a job or a whole run."""

from __future__ import annotations

from .. import events
from ..dsl.nodes import JobNode
from ..storage.records import AcquireResult
from .graph import RunGraph
from .journal import RunJournal
from .leases import Leases


class ConcurrencyGroups:
    """Takes and gives back concurrency-group capacity for jobs and for the whole run.

    Built from the journal (waits, promotions and evictions are recorded
    there), the run's leases, its graph and the host name (box-scoped groups
    key on it).
    """

    def __init__(self, journal: RunJournal, leases: Leases, graph: RunGraph, host: str) -> None:
        self.journal = journal
        self.leases = leases
        self.graph = graph
        self.host = host
        #: (lease key, holder) -> node id ("" for the run itself).
        self.holder_of: dict[tuple[str, str], str] = {}

    async def acquire(
        self, node: JobNode, held: list[tuple[str, str]]
    ) -> tuple[str, str, str] | None:
        """Take every group's units (appended to *held*); a refusal returns ``(outcome, error, reason)``."""
        run_id = self.journal.run_id
        nid = node.id
        holder = f"{run_id}/{nid}"
        for group, cost in node.concurrency_groups:
            key = group.key(run_id, self.host)
            self.holder_of[(key, holder)] = nid
            res = self.leases.try_acquire(key, holder, group.capacity, cost, run_id, nid)
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
                for evicted in self.leases.evict(key, holder, group.capacity, cost):
                    self.journal.event(events.CONCURRENCY_CANCELLED,
                                       {"key": key, "evicted": evicted}, node_id=nid)
            self.journal.event(events.CONCURRENCY_WAIT,
                               {"group": group.name, "ahead": res.ahead, "holders": res.holders},
                               node_id=nid)

            def waiting(r: AcquireResult, name: str = group.name) -> None:
                detail = f'queued in "{name}": {r.ahead} ahead, held by {", ".join(r.holders)}'
                if self.graph.states[nid].detail != detail:
                    self.graph.states[nid].detail = detail
                    self.journal.update(nid, {"status_detail": detail})

            ok = await self.leases.acquire(
                key, holder, group.capacity, cost, timeout_s=group.queue_timeout_s,
                on_wait=waiting, run_id=run_id, node_id=nid,
            )
            if not ok:
                return ("failed", f'timed out after {group.queue_timeout_s:g}s waiting for '
                        f'concurrency group "{group.name}"', "queue_timeout")
            self.journal.event(events.CONCURRENCY_PROMOTED, {"group": group.name}, node_id=nid)
            held.append((key, holder))
        return None

    def release(self, held: list[tuple[str, str]]) -> None:
        """Give back what :meth:`acquire` took."""
        for key, holder in held:
            self.leases.release(key, holder)

    async def acquire_for_run(self) -> str:
        """Take the plan's run-wide groups; return ``""`` or why the run cannot start."""
        run_id = self.journal.run_id
        for group, cost in self.graph.plan.run_concurrency:
            key = group.key(run_id, self.host)
            self.holder_of[(key, run_id)] = ""
            limit = group.queue_timeout_s if group.on_limit == "queue" else 0.001
            ok = await self.leases.acquire(key, run_id, group.capacity, cost, timeout_s=limit,
                                           run_id=run_id)
            if not ok:
                return f'concurrency group "{group.name}" is full'
        return ""

"""Memoize: replaying stored outputs, and one leader per key in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import events
from ..dsl.nodes import JobNode
from ..runtime.context import Context
from ..storage.records import AcquireResult, CacheEntry
from .graph import RunGraph
from .journal import RunJournal
from .leases import POLL_S as LEASE_POLL_S
from .leases import Leases, jitter

if TYPE_CHECKING:
    from ..storage.contracts import StateStore

#: How long a memoized output lives when the job names no TTL.
DEFAULT_TTL_S = 7 * 86400.0


class Memoizer:
    """Computes memoize keys, replays stored outputs, and elects one leader per key in flight.

    Built from the journal (where replays and stored outputs are recorded),
    the state store it reads the memo index from, the run's leases, its graph
    and whether ``--sw-no-cache`` is set; *call* runs a key function.
    """

    def __init__(self, journal: RunJournal, state: StateStore, leases: Leases, graph: RunGraph,
                 call: Callable[..., Awaitable[Any]], *, no_cache: bool = False) -> None:
        self.journal = journal
        self.state = state
        self.leases = leases
        self.graph = graph
        self.call = call
        self.no_cache = no_cache
        #: (lease key, holder) -> node id, for telling which job lost a lease.
        self.holder_of: dict[tuple[str, str], str] = {}

    async def key(self, node: JobNode, ctx: Context) -> str:
        """The node's memoize key, or ``""`` when it runs uncached."""
        from ..cachekeys import NO_CACHE

        assert node.memo is not None
        try:
            key = await self.call(node.memo.key_fn, ctx)
        except Exception as exc:
            ctx.log.record(f"memoize key function failed ({exc}); running uncached", level="warn")
            return ""
        if not key:
            ctx.log.record("memoize key function returned an empty key; memoization skipped",
                           level="warn")
            return ""
        if key == NO_CACHE:
            return ""
        return str(key)

    def holder(self, node: JobNode) -> str:
        """The lease holder id of *node* in this run."""
        return f"{self.journal.run_id}/{node.id}"

    async def replay_or_lead(self, node: JobNode, ctx: Context, key: str) -> bool:
        """Replay a stored result (``True``), or become the key's leader (waiting behind one in flight)."""
        run_id = self.journal.run_id
        nid = node.id
        if not self.no_cache and self._replay(node, ctx, key, events.CACHE_HIT):
            return True
        holder = self.holder(node)
        lease_key = "memo:" + key
        noted: list[bool] = []

        def waiting(res: AcquireResult) -> None:
            if not noted:
                noted.append(True)
                behind = ", ".join(h for h in res.holders if h != holder) or "another run"
                detail = f"coalescing behind {behind}"
                self.graph.states[nid].detail = detail
                self.journal.update(nid, {"status_detail": detail})
                ctx.log.record(f"waiting for {behind} computing the same key",
                               event=events.LOG_COALESCING, attrs={"key": key})

        self.holder_of[(lease_key, holder)] = nid
        while True:
            res = self.leases.try_acquire(lease_key, holder, 1, 1, run_id, nid)
            if res.granted:
                break
            waiting(res)
            # The leader's result is readable by every follower at once: no need to queue for it.
            if not self.no_cache and self._replay(node, ctx, key, events.COALESCED):
                self.leases.release(lease_key, holder)
                return True
            await asyncio.sleep(LEASE_POLL_S * (0.5 + jitter()))
        if noted and not self.no_cache and self._replay(node, ctx, key, events.COALESCED):
            self.leases.release(lease_key, holder)
            return True
        return False

    def store(self, node: JobNode, key: str, output: Any) -> None:
        """Record a successful output under *key*."""
        run = self.journal.run
        assert run is not None
        now = time.time()
        ttl = node.memo.ttl_s if node.memo is not None else DEFAULT_TTL_S
        self.journal.memo_stored(CacheEntry(key, run.id, node.id, output, run.pipeline, now,
                                            now + ttl))

    def release(self, node: JobNode, key: str) -> None:
        """Give up leadership of *key* (the output is stored, or the job failed)."""
        self.leases.release("memo:" + key, self.holder(node))

    def _replay(self, node: JobNode, ctx: Context, key: str, event: str) -> bool:
        entry = self.state.cache_get(key, time.time())
        if entry is None:
            return False
        nid = node.id
        self.graph.outputs[nid] = entry.output
        ctx.log.record(f"job {nid} replayed from cache ({entry.run_id}/{entry.node_id})",
                       event=events.LOG_NODE_START, attrs={events.CACHE_HIT: True, "key": key})
        ctx.log.record(f"job {nid} cached", event=events.LOG_NODE_END,
                       attrs={"outcome": "cached", "duration_ms": 0})
        self.journal.settle(self.graph.states[nid], "cached", "", event=event, extra={
            "output": entry.output, "has_output": entry.output is not None,
            "status_detail": f"cached from {entry.run_id}/{entry.node_id}",
        }, payload={"key": key, "origin_run": entry.run_id, "origin_node": entry.node_id})
        return True

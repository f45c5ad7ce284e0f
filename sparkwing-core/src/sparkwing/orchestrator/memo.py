"""Memoize: replaying stored outputs, and one leader per key in flight.

Mixed into :class:`~sparkwing.orchestrator.engine.Orchestrator`; uses its state and stores.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from ..dsl.nodes import JobNode
from ..runtime.context import Context
from .core import EngineCore
from .leases import POLL_S as LEASE_POLL_S


class MemoMixin(EngineCore):
    """Memoize: replaying stored outputs, and one leader per key in flight."""

    async def _memo_key(self, node: JobNode, ctx: Context) -> str:
        from ..cachekeys import NO_CACHE

        assert node.memo is not None
        try:
            key = await self._call(node.memo.key_fn, ctx)
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

    async def _memo_replay(self, node: JobNode, ctx: Context, key: str) -> bool:
        """Replay a stored result, or become the key's leader (waiting behind one in flight)."""
        assert self.run is not None
        nid = node.id
        if not self.options.no_cache and self._replay(node, ctx, key, "cache_hit"):
            return True
        holder = f"{self.run.id}/{nid}"
        lease_key = "memo:" + key
        noted: list[bool] = []

        def waiting(res: Any) -> None:
            if not noted:
                noted.append(True)
                behind = ", ".join(h for h in res.holders if h != holder) or "another run"
                detail = f"coalescing behind {behind}"
                self.states[nid].detail = detail
                self._set(nid, {"status_detail": detail})
                ctx.log.record(f"waiting for {behind} computing the same key", event="coalescing",
                               attrs={"key": key})

        self.holder_of[(lease_key, holder)] = nid
        while True:
            res = self.leases.try_acquire(lease_key, holder, 1, 1, self.run.id, nid)
            if res.granted:
                break
            waiting(res)
            # The leader's result is readable by every follower at once: no need to queue for it.
            if not self.options.no_cache and self._replay(node, ctx, key, "coalesced"):
                self.leases.release(lease_key, holder)
                return True
            await asyncio.sleep(LEASE_POLL_S * (0.5 + random.random()))
        if noted and not self.options.no_cache and self._replay(node, ctx, key, "coalesced"):
            self.leases.release(lease_key, holder)
            return True
        return False

    def _replay(self, node: JobNode, ctx: Context, key: str, event: str) -> bool:
        entry = self.state.cache_get(key, time.time())
        if entry is None:
            return False
        assert self.run is not None
        nid = node.id
        self.outputs[nid] = entry.output
        ctx.log.record(f"job {nid} replayed from cache ({entry.run_id}/{entry.node_id})",
                       event="node_start", attrs={"cache_hit": True, "key": key})
        ctx.log.record(f"job {nid} cached", event="node_end",
                       attrs={"outcome": "cached", "duration_ms": 0})
        self._settle(nid, "cached", "", event=event, extra={
            "output": entry.output, "has_output": entry.output is not None,
            "status_detail": f"cached from {entry.run_id}/{entry.node_id}",
        }, payload={"key": key, "origin_run": entry.run_id, "origin_node": entry.node_id})
        return True

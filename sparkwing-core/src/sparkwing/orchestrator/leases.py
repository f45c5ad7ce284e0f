"""Concurrency leases a run holds in the state store: acquire with waiting, renew, release."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..storage.contracts import StateStore
    from ..storage.records import AcquireResult

#: How long a lease lives without renewal (a crashed holder frees its units after this).
LEASE_S = float(os.environ.get("SPARKWING_LEASE_S", "30"))
#: How often a waiter asks again.
POLL_S = 0.1


class Leases:
    """The leases of one run; renewed by the run's heartbeat so crashed holders expire."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self.held: dict[tuple[str, str], int] = {}  # (key, holder) -> cost

    def try_acquire(self, key: str, holder: str, capacity: int, cost: int,
                    run_id: str = "", node_id: str = "") -> AcquireResult:
        """One atomic attempt; a refused caller stays queued as a waiter until released."""
        res = self.state.concurrency_acquire(
            key, holder, capacity=capacity, cost=cost, lease_s=LEASE_S, now=time.time(),
            run_id=run_id, node_id=node_id,
        )
        self.held[(key, holder)] = cost
        return res

    async def acquire(
        self,
        key: str,
        holder: str,
        capacity: int,
        cost: int = 1,
        *,
        timeout_s: float = 0.0,
        on_wait: Callable[[AcquireResult], None] | None = None,
        run_id: str = "",
        node_id: str = "",
    ) -> bool:
        """Wait (oldest first) until granted; ``False`` after *timeout_s* (0 = forever)."""
        start = time.monotonic()
        while True:
            res = self.try_acquire(key, holder, capacity, cost, run_id, node_id)
            if res.granted:
                return True
            if on_wait is not None:
                on_wait(res)
            if timeout_s and time.monotonic() - start >= timeout_s:
                self.release(key, holder)
                return False
            await asyncio.sleep(POLL_S * (0.5 + jitter()))

    def release(self, key: str, holder: str) -> None:
        """Give units back (or leave the queue)."""
        self.held.pop((key, holder), None)
        self.state.concurrency_release(key, holder)

    def renew(self) -> None:
        """Extend every lease this run holds or waits on."""
        expires = time.time() + LEASE_S
        for holder in {h for _, h in self.held}:
            self.state.concurrency_renew(holder, expires)

    def lost(self) -> list[tuple[str, str]]:
        """Held leases that are no longer in the store (evicted by ``cancel_others``)."""
        out = []
        now = time.time()
        for key, holder in list(self.held):
            holders, waiters = self.state.concurrency_state(key, now)
            ids = {x.holder_id for x in holders} | {x.holder_id for x in waiters}
            if holder not in ids:
                out.append((key, holder))
        return out

    def evict(self, key: str, holder: str, capacity: int, cost: int) -> list[str]:
        """Drop the oldest other holders of *key* until *cost* fits; return who was evicted."""
        holders, _ = self.state.concurrency_state(key, time.time())
        active = sum(h.cost for h in holders)
        evicted: list[str] = []
        for h in sorted(holders, key=lambda x: x.claimed_at or 0):
            if active + cost <= capacity:
                break
            if h.holder_id == holder:
                continue
            self.state.concurrency_release(key, h.holder_id)
            active -= h.cost
            evicted.append(h.holder_id)
        return evicted

    def release_all(self) -> None:
        """Release everything (end of run)."""
        for key, holder in list(self.held):
            self.release(key, holder)


def jitter() -> float:
    """A random fraction in [0, 1) that spreads waiters' polls (``random`` loads on first use)."""
    import random

    return random.random()


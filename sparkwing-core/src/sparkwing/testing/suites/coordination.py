"""Cross-process workers that check a shared state store coordinates its users.

Each function runs in a child process started by
:func:`sparkwing.testing.suites.state.run_in_processes` (so they live in
an importable module) and takes a picklable store factory. A backend
meant to be shared by several machines (PostgreSQL, a controller) runs
them from its own tests:

* :func:`hold_key`: take a concurrency key again and again and report the
  spans held (no two spans may overlap beyond the key's capacity);
* :func:`queue_then_report`: join a key's queue as its N-th waiter and
  report when it was granted (grants follow arrival order);
* :func:`take_and_exit`: take a key with a short lease and exit without
  releasing it (a dead holder);
* :func:`resolve_approval_once` / :func:`release_pause_once`: race to
  resolve one approval or release one pause (exactly one call wins; the
  processes start together on ``run_in_processes``'s barrier).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...storage.contracts import StateStore

StoreFactory = Callable[[], StateStore]


def hold_key(factory: StoreFactory, holder: str, key: str, capacity: int, hold_s: float,
             rounds: int) -> list[tuple[float, float]]:
    """Acquire *key* (polling) *rounds* times, hold it *hold_s*, release; return the spans."""
    spans: list[tuple[float, float]] = []
    store = factory()
    try:
        for r in range(rounds):
            me = f"{holder}-{r}"
            while not store.concurrency_acquire(key, me, capacity=capacity, cost=1, lease_s=60,
                                                now=time.time()).granted:
                time.sleep(0.01)
            start = time.time()
            time.sleep(hold_s)
            end = time.time()
            store.concurrency_release(key, me)
            spans.append((start, end))
    finally:
        store.close()
    return spans


def queue_then_report(factory: StoreFactory, key: str, holder: str, position: int) -> float:
    """Join *key*'s queue once *position* others wait on it, poll until granted; return when.

    Children given positions 0, 1, 2, ... therefore arrive in that order
    however slowly their processes start.
    """
    store = factory()
    try:
        while len(store.concurrency_state(key, time.time())[1]) < position:
            time.sleep(0.01)
        while not store.concurrency_acquire(key, holder, capacity=1, cost=1, lease_s=60,
                                            now=time.time()).granted:
            time.sleep(0.01)
        granted = time.time()
        time.sleep(0.05)
        store.concurrency_release(key, holder)
        return granted
    finally:
        store.close()


def take_and_exit(factory: StoreFactory, key: str, lease_s: float) -> float:
    """Take *key* with a *lease_s* lease and return its expiry, never releasing it."""
    store = factory()
    now = time.time()
    res = store.concurrency_acquire(key, "departed", capacity=1, cost=1, lease_s=lease_s,
                                    now=now)
    if not res.granted:
        raise AssertionError(f"{key} was not free: {res}")
    return now + lease_s  # the store is left open: the process exit drops it


def resolve_approval_once(factory: StoreFactory, run_id: str, node_id: str, who: str) -> bool:
    """Resolve the approval as *who*; return whether this call won."""
    store = factory()
    try:
        return store.resolve_approval(run_id, node_id, "approved", who, f"by {who}", time.time())
    finally:
        store.close()


def release_pause_once(factory: StoreFactory, run_id: str, node_id: str, who: str) -> bool:
    """Release the pause as *who*; return whether this call won."""
    store = factory()
    try:
        return store.release_pause(run_id, node_id, who, "manual", time.time())
    finally:
        store.close()

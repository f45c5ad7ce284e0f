"""Reading many objects at once on a store's thread pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

#: ``pool()`` returns the executor to read on, or ``None`` to read on the calling thread.
PoolGetter = Callable[[], Executor | None]


def parallel_map(pool: PoolGetter, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(i) for i in items]``, on the pool's threads when there are several.

    Runs on this thread when there is no pool (a local store, where
    threads cost more than they save) or when the pool cannot take work
    (the interpreter is shutting down: the outbox's last drain runs then).
    """
    if len(items) <= 1:
        return [fn(i) for i in items]
    executor = pool()
    if executor is None:
        return [fn(i) for i in items]
    try:
        return list(executor.map(fn, items))
    except RuntimeError:
        return [fn(i) for i in items]

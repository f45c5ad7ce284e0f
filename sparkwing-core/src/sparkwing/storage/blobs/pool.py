"""Reading many objects at once on a store's thread pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any


def parallel_map(pool: Callable[[], Executor], fn: Callable[[Any], Any],
                 items: Sequence[Any]) -> list[Any]:
    """``[fn(i) for i in items]``, on the pool's threads when there are several.

    Falls back to this thread when the pool cannot take work (the
    interpreter is shutting down: the outbox's last drain runs then).
    """
    if len(items) <= 1:
        return [fn(i) for i in items]
    try:
        return list(pool().map(fn, items))
    except RuntimeError:
        return [fn(i) for i in items]

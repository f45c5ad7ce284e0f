"""A thread pool that imports and builds :class:`ThreadPoolExecutor` when first given work.

A run keeps two pools (sync job bodies; hooks and verifiers), yet a run whose
bodies all run inline (``lambda ctx: None``, see
:mod:`sparkwing.execution.instant`) never submits to either. Building them
eagerly imported ``concurrent.futures.thread`` and ``queue``, about 1 ms of
every ``sparkwing run`` here; :class:`LazyThreadPool` does that on its first
:meth:`submit`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor


class LazyThreadPool(Executor):
    """:class:`~concurrent.futures.ThreadPoolExecutor` (*max_workers*, *thread_name_prefix*),
    made on the first :meth:`submit`."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "") -> None:
        self.max_workers = max_workers
        self.thread_name_prefix = thread_name_prefix
        self._pool: ThreadPoolExecutor | None = None
        self._shut = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` in a pool thread (the pool is made if needed)."""
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._shut:
                    raise RuntimeError("cannot schedule new futures after shutdown")
                pool = self._pool
                if pool is None:
                    from concurrent.futures import ThreadPoolExecutor

                    pool = self._pool = ThreadPoolExecutor(
                        self.max_workers, thread_name_prefix=self.thread_name_prefix)
        return pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the pool down (nothing to do when it was never made)."""
        with self._lock:
            self._shut = True
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    @property
    def started(self) -> bool:
        """Whether work was ever submitted (the real pool exists)."""
        return self._pool is not None

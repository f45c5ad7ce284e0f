"""The ``local`` executor: attempts run in the run's own process (the default)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from .contracts import Attempt, AttemptResult
from .inprocess import run_in_process


class LocalExecutor:
    """Runs each attempt in this process: sync bodies in a thread pool, ``async def`` on the loop.

    Commands a body starts run in their own process groups, so a timeout or a
    cancel kills their whole trees.
    """

    name = "local"
    #: Attempts share the run's process (upstream outputs are read from memory).
    in_process = True

    def __init__(self, workers: int = 0) -> None:
        size = max(workers or os.cpu_count() or 2, 4)
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="job")

    async def run_attempt(self, attempt: Attempt) -> AttemptResult:
        """Run the attempt's body, verifiers and output check here (see :func:`run_in_process`)."""
        return await run_in_process(attempt, self.pool)

    async def close(self) -> None:
        """Stop the thread pool without waiting for bodies that outlived their attempt."""
        self.pool.shutdown(wait=False, cancel_futures=True)


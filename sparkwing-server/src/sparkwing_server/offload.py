"""Blocking store calls run off the event loop, on a server's own thread pools."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


async def run_in_pool(pool: ThreadPoolExecutor | None, call: Callable[[], T]) -> T:
    """Run *call* on *pool* and await its result; inline when there is no pool (tests)."""
    if pool is None:
        return call()
    return await asyncio.get_running_loop().run_in_executor(pool, call)

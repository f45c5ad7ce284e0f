"""Calling user code from the event loop: ``async def`` on the loop, the rest in a thread pool."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor as ThreadPool
from typing import Any


async def call(pool: ThreadPool, fn: Callable[..., Any], *args: Any) -> Any:
    """Await ``fn(*args)``: a coroutine function on the loop, anything else in *pool*.

    A sync function that returns an awaitable (a lambda wrapping an ``async
    def``) has that awaited too.
    """
    if asyncio.iscoroutinefunction(fn):
        return await fn(*args)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(pool, fn, *args)
    if asyncio.iscoroutine(result):
        result = await result
    return result

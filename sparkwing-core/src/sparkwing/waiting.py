"""Bounded waits that never swallow a cancellation.

On Python 3.11, ``asyncio.wait_for`` returns normally when the task waiting
is cancelled in the same loop step as the awaited thing finishes, so the
cancellation is lost and a loop around it runs on for ever. The waits here
use ``asyncio.timeout`` instead, which tells its own expiry from an outside
cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait at most *timeout_s* for *event*; ``True`` if it is set."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def within(awaitable: Awaitable[T], timeout_s: float) -> T:
    """Await *awaitable* for at most *timeout_s*; raise ``TimeoutError`` past it."""
    async with asyncio.timeout(timeout_s):
        return await awaitable

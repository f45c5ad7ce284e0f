"""Bounded waits keep a cancellation that lands as the awaited thing finishes."""

from __future__ import annotations

import asyncio

import pytest
from sparkwing.waiting import wait_event, within


def test_wait_event_reports_set_and_timeout() -> None:
    async def go() -> tuple[bool, bool]:
        event = asyncio.Event()
        missed = await wait_event(event, 0.01)
        asyncio.get_running_loop().call_later(0.01, event.set)
        return missed, await wait_event(event, 5)

    assert asyncio.run(go()) == (False, True)


def test_a_cancel_in_the_same_step_as_the_event_is_not_lost() -> None:
    """asyncio.wait_for on 3.11 returns normally here; a loop around it would never stop."""
    async def go() -> str:
        event = asyncio.Event()
        rounds = 0

        async def loop() -> None:
            nonlocal rounds
            while True:
                rounds += 1
                await wait_event(event, 30)
                event.clear()

        task = asyncio.ensure_future(loop())
        await asyncio.sleep(0)
        event.set()
        task.cancel()
        try:
            await asyncio.wait([task], timeout=5)
        finally:
            task.cancel()
        return "cancelled" if task.done() and task.cancelled() else f"still running ({rounds})"

    assert asyncio.run(go()) == "cancelled"


def test_within_times_out_and_passes_results() -> None:
    async def go() -> int:
        with pytest.raises(TimeoutError):
            await within(asyncio.sleep(5), 0.01)
        return await within(asyncio.sleep(0, result=7), 5)

    assert asyncio.run(go()) == 7

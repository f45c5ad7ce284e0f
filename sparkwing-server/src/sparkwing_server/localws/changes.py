"""Waking live streams when the state store says something changed.

A state store may offer ``change_feed()`` returning an object with
``start(callback)``, ``close()`` and a ``live`` flag (the PostgreSQL store
does, through LISTEN/NOTIFY). While the feed is live, the runs-list and run
events streams wait for a change (or :attr:`ServerOptions.notify_poll_s
<sparkwing_server.localws.context.ServerOptions.notify_poll_s>` as a safety
net) instead of polling on their short intervals; when the store has no
feed, or the feed's connection is down, they poll as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sparkwing.waiting import wait_event


class Changes:
    """A wake-up signal fed by the state store's change feed (if any)."""

    def __init__(self) -> None:
        self._feed: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()
        #: Notifications received so far: a stream notes it before reading the store and
        #: passes it to :meth:`wait`, so a change during the read is not missed.
        self.generation = 0

    @property
    def live(self) -> bool:
        """True while the store's feed is delivering notifications."""
        return bool(self._feed is not None and getattr(self._feed, "live", False))

    def start(self, state: Any) -> None:
        """Start the store's feed when it has one (call on the event loop)."""
        make = getattr(state, "change_feed", None)
        if make is None or self._feed is not None:
            return
        feed = make()
        if feed is None:
            return
        self._loop = asyncio.get_running_loop()
        self._feed = feed
        feed.start(self._from_thread)

    def stop(self) -> None:
        """Close the feed."""
        feed, self._feed = self._feed, None
        if feed is not None:
            feed.close()

    def _from_thread(self, _payload: str) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float, seen: int) -> bool:
        """Wait for a change after generation *seen*, at most *timeout* s; ``True`` if one came."""
        if self.generation != seen:
            return True
        return await wait_event(self._event, timeout)

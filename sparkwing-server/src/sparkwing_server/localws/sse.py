"""Server-Sent Events framing over an aiohttp streaming response."""

from __future__ import annotations

import re
import time

from aiohttp import web

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SSEStream:
    """One open ``text/event-stream`` response.

    Every write records the time so :meth:`keepalive_due` can tell when a
    ``: keepalive`` comment is needed to keep proxies and browsers from
    timing the connection out.
    """

    def __init__(self, response: web.StreamResponse, keepalive_s: float) -> None:
        self.response = response
        self.keepalive_s = keepalive_s
        self.last_write = time.monotonic()

    @classmethod
    async def open(cls, request: web.Request, keepalive_s: float) -> SSEStream:
        """Send the response headers and an ``: open`` comment."""
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache, no-transform",
                "X-Accel-Buffering": "no",
            },
        )
        await response.prepare(request)
        stream = cls(response, keepalive_s)
        await stream.comment("open")
        return stream

    async def _write(self, text: str) -> None:
        await self.response.write(text.encode("utf-8"))
        self.last_write = time.monotonic()

    async def comment(self, text: str) -> None:
        """Send a comment line (ignored by clients)."""
        await self._write(f": {text}\n\n")

    async def send(self, data: str, *, event: str = "", id: str = "") -> None:
        """Send one event; *data* may span several lines."""
        await self._write(frame(data, event=event, id=id))

    async def send_raw(self, text: str) -> None:
        """Send already-framed text (several frames batched in one write)."""
        await self._write(text)

    def keepalive_due(self) -> bool:
        """Tell whether nothing was sent for the keepalive interval."""
        return time.monotonic() - self.last_write >= self.keepalive_s

    async def keepalive(self) -> None:
        """Send ``: keepalive`` if it is due."""
        if self.keepalive_due():
            await self.comment("keepalive")


def frame(data: str, *, event: str = "", id: str = "") -> str:
    """Return one SSE frame: optional ``id:`` and ``event:`` lines, ``data:`` lines, blank line."""
    parts = []
    if id:
        parts.append(f"id: {id}\n")
    if event:
        parts.append(f"event: {event}\n")
    for line in _LINE_BREAK.split(data):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts)

"""Following a log stream live, for any :class:`~sparkwing.storage.contracts.LogStore`.

Both functions poll :meth:`LogStore.read` from an offset, so every backend
gets following without implementing it. They end once ``stop()`` is true
*and* the stream has been drained: ``stop()`` is checked before each read,
so every record written before ``stop()`` became true is yielded.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator

from .contracts import LogChunk, LogStore

#: Records fetched per read while catching up on a long stream.
BATCH = 5000


def _never() -> bool:
    return False


def follow_chunks(
    store: LogStore,
    run_id: str,
    node_id: str,
    offset: int = 0,
    *,
    poll: float = 0.2,
    stop: Callable[[], bool] | None = None,
) -> Iterator[LogChunk]:
    """Like :func:`follow`, but yield non-empty :class:`LogChunk` batches.

    Each chunk's ``next_offset`` is where to resume following later (for
    example after a dropped HTTP connection).
    """
    should_stop = stop or _never
    while True:
        stopping = should_stop()
        chunk = store.read(run_id, node_id, offset, BATCH)
        offset = chunk.next_offset
        if chunk.lines:
            yield chunk
            if len(chunk.lines) >= BATCH:
                continue
        if stopping:
            return
        time.sleep(poll)


def follow(
    store: LogStore,
    run_id: str,
    node_id: str,
    offset: int = 0,
    *,
    poll: float = 0.2,
    stop: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """Yield records of a stream from *offset* on, as they are written.

    Sleeps *poll* seconds whenever it has caught up. Ends when ``stop()``
    returns true and everything written up to then has been yielded;
    without *stop* it follows until the caller stops iterating.
    """
    for chunk in follow_chunks(store, run_id, node_id, offset, poll=poll, stop=stop):
        yield from chunk.lines


async def afollow_chunks(
    store: LogStore,
    run_id: str,
    node_id: str,
    offset: int = 0,
    *,
    poll: float = 0.2,
    stop: Callable[[], bool] | None = None,
) -> AsyncIterator[LogChunk]:
    """Asynchronous :func:`follow_chunks` for asyncio servers.

    Reads run in a worker thread (``asyncio.to_thread``), so a slow backend
    never blocks the event loop; waits use ``asyncio.sleep``.
    """
    import asyncio  # only asyncio callers pay for importing it

    should_stop = stop or _never
    while True:
        stopping = should_stop()
        chunk = await asyncio.to_thread(store.read, run_id, node_id, offset, BATCH)
        offset = chunk.next_offset
        if chunk.lines:
            yield chunk
            if len(chunk.lines) >= BATCH:
                continue
        if stopping:
            return
        await asyncio.sleep(poll)


async def afollow(
    store: LogStore,
    run_id: str,
    node_id: str,
    offset: int = 0,
    *,
    poll: float = 0.2,
    stop: Callable[[], bool] | None = None,
) -> AsyncIterator[str]:
    """Asynchronous :func:`follow` for asyncio servers (see :func:`afollow_chunks`)."""
    async for chunk in afollow_chunks(store, run_id, node_id, offset, poll=poll, stop=stop):
        for line in chunk.lines:
            yield line

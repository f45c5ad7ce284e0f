"""Live streams (Server-Sent Events): run events, node log lines, the runs list.

* ``GET /api/v1/runs/{id}/events/stream``: every event of the run as
  ``id: <seq>`` / ``event: <kind>`` / ``data: <json>`` frames; resumes after
  ``Last-Event-ID`` (or ``?after=SEQ``); ends with ``event: stream_end``
  once the run is terminal and every event was sent.
* ``GET /api/v1/runs/{id}/logs/{node}/stream``: one ``data: <record>``
  frame per log record as it is written; each batch's last frame carries
  ``id: <offset>`` so a reconnecting client resumes where it stopped
  (``Last-Event-ID`` or ``?offset=``); ``?tail=N`` starts with the last N
  records. Ends with ``event: stream_end`` once the job finished and its log
  was drained (``?follow=forever`` keeps it open).
* ``GET /api/v1/runs/stream?<list filters>``: ``event: runs_page`` with the
  first page of the runs list whenever it changes.

Frame names other than the run's event kinds are :mod:`sparkwing.events`'
``STREAM_*`` constants.

Every stream sends ``: keepalive`` comments when idle.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from aiohttp import web
from sparkwing import events
from sparkwing.storage.contracts import ENVELOPE, LogStore
from sparkwing.storage.records import Event
from sparkwing.views import event_view

from .context import ServerContext, context_of
from .errors import fail
from .jsontext import dumps
from .logs_api import node_from_path
from .queryparams import int_param
from .runs_api import get_run_or_404, list_runs_page, project_param, run_filter
from .sse import SSEStream, frame

routes = web.RouteTableDef()

#: How often a log stream re-reads the job's status (seconds).
_NODE_STATUS_EVERY_S = 0.5
#: After a job is seen finished, keep reading this long before ending (late flushes).
_LOG_DRAIN_GRACE_S = 0.3
#: Event kind a run's process appends last; seeing it after the run is terminal ends the stream.
_FINAL_EVENT_KIND = events.RUN_FINISHED
#: Otherwise, after the run is seen terminal, keep polling this long for late events.
_EVENTS_DRAIN_GRACE_S = 1.0
#: Records read per log-store call while streaming.
_LOG_PAGE = 1000


def _resume_point(request: web.Request, query_name: str) -> int | None:
    header = request.headers.get("Last-Event-ID", "").strip()
    if header:
        try:
            return max(0, int(header))
        except ValueError:
            fail(400, f"Last-Event-ID must be an integer, got {header!r}")
    return int_param(request.query, query_name)


async def _pause(ctx: ServerContext, seconds: float) -> bool:
    """Sleep *seconds*; return ``False`` when the server is shutting down."""
    if ctx.closing.is_set():
        return False
    await asyncio.sleep(seconds)
    return not ctx.closing.is_set()


async def _await_change(ctx: ServerContext, poll_s: float, seen: int) -> bool:
    """Wait for a change notification newer than *seen*, or poll after *poll_s* without a feed.

    With a live change feed (PostgreSQL LISTEN/NOTIFY) the wait lasts until
    a notification or ``notify_poll_s``; otherwise it is a plain poll pause.
    Returns ``False`` when the server is shutting down.
    """
    if not ctx.changes.live:
        return await _pause(ctx, poll_s)
    if ctx.closing.is_set():
        return False
    await ctx.changes.wait(max(poll_s, ctx.options.notify_poll_s), seen)
    return not ctx.closing.is_set()


@routes.get("/api/v1/runs/stream")
async def runs_stream(request: web.Request) -> web.StreamResponse:
    """Stream the first page of the runs list (same filters as the list) whenever it changes."""
    ctx = context_of(request)
    flt = run_filter(request.query, ctx)
    project = project_param(request.query)
    stream = await SSEStream.open(request, ctx.options.keepalive_s)
    last = ""
    try:
        while True:
            seen = ctx.changes.generation
            page = await list_runs_page(ctx, flt, project)
            text = dumps(page)
            if text != last:
                await stream.send(text, event=events.STREAM_RUNS_PAGE)
                last = text
            else:
                await stream.keepalive()
            if not await _await_change(ctx, ctx.options.runs_poll_s, seen):
                break
    except ConnectionResetError:
        pass
    return stream.response


@routes.get("/api/v1/runs/{run_id}/events/stream")
async def events_stream(request: web.Request) -> web.StreamResponse:
    """Stream the run's events after ``Last-Event-ID``; end once it is terminal and drained."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    await get_run_or_404(ctx, run_id)
    after = _resume_point(request, "after") or 0
    page = ctx.options.events_page
    state = ctx.state

    def load(after_seq: int) -> tuple[bool, list[Event]]:
        run = state.get_run(run_id)  # status first: events listed after it are complete
        terminal = run is None or run.terminal
        return terminal, state.list_events(run_id, after_seq, page)

    stream = await SSEStream.open(request, ctx.options.keepalive_s)
    terminal_at: float | None = None
    last_kind = ""
    try:
        while True:
            seen = ctx.changes.generation
            terminal, batch = await ctx.state_call(load, after)
            if batch:
                await stream.send_raw("".join(
                    frame(dumps(event_view(e)), event=e.kind, id=str(e.seq)) for e in batch
                ))
                after = batch[-1].seq
                last_kind = batch[-1].kind
                if len(batch) >= page:
                    continue
            elif terminal_at is not None and (
                last_kind == _FINAL_EVENT_KIND
                or time.monotonic() - terminal_at >= _EVENTS_DRAIN_GRACE_S
            ):
                await stream.send("{}", event=events.STREAM_END)
                break
            if terminal and terminal_at is None:
                terminal_at = time.monotonic()
            await stream.keepalive()
            # once the run is over, poll briefly for the last events (the drain grace)
            if terminal_at is not None:
                if not await _pause(ctx, ctx.options.events_poll_s):
                    break
            elif not await _await_change(ctx, ctx.options.events_poll_s, seen):
                break
    except ConnectionResetError:
        pass
    return stream.response


async def _node_finished(ctx: ServerContext, run_id: str, node_id: str) -> bool:
    def check() -> bool:
        run = ctx.state.get_run(run_id)
        if run is None or run.terminal:
            return True
        if node_id == ENVELOPE:
            return False
        node = ctx.state.get_node(run_id, node_id)
        return node is not None and node.status == "done"

    return await ctx.state_call(check)


@routes.get("/api/v1/runs/{run_id}/logs/{node_id:.+}/stream")
async def log_stream(request: web.Request) -> web.StreamResponse:
    """Stream a node's log records as they are written (see the module docstring)."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    node_id = node_from_path(request.match_info["node_id"])
    await get_run_or_404(ctx, run_id)
    resume = _resume_point(request, "offset")
    tail = int_param(request.query, "tail")
    forever = request.query.get("follow") == "forever"
    logs = ctx.logs

    stream = await SSEStream.open(request, ctx.options.keepalive_s)
    try:
        offset = resume or 0
        if resume is None and tail is not None:
            lines, offset = await ctx.logs_call(_read_tail, logs, run_id, node_id, tail)
            if lines:
                await stream.send_raw(_log_frames(lines, offset))
        finished_at: float | None = None
        next_status_check = 0.0
        while True:
            now = time.monotonic()
            if finished_at is None and not forever and now >= next_status_check:
                next_status_check = now + _NODE_STATUS_EVERY_S
                if await _node_finished(ctx, run_id, node_id):
                    finished_at = time.monotonic()
            chunk = await ctx.logs_call(logs.read, run_id, node_id, offset, _LOG_PAGE)
            if chunk.lines:
                offset = chunk.next_offset
                await stream.send_raw(_log_frames(chunk.lines, offset))
                if len(chunk.lines) >= _LOG_PAGE:
                    continue
            elif finished_at is not None and time.monotonic() - finished_at >= _LOG_DRAIN_GRACE_S:
                await stream.send("{}", event=events.STREAM_END)
                break
            await stream.keepalive()
            if not await _pause(ctx, ctx.options.logs_poll_s):
                break
    except ConnectionResetError:
        pass
    return stream.response


def _read_tail(logs: LogStore, run_id: str, node_id: str, n: int) -> tuple[list[str], int]:
    """The last *n* records and the offset after them, reading in pages (bounded memory)."""
    kept: deque[str] = deque(maxlen=max(n, 0))
    offset = 0
    while True:
        chunk = logs.read(run_id, node_id, offset, _LOG_PAGE * 5)
        if n:
            kept.extend(chunk.lines)
        offset = chunk.next_offset
        if len(chunk.lines) < _LOG_PAGE * 5:
            return list(kept), offset


def _log_frames(lines: list[str], next_offset: int) -> str:
    last = len(lines) - 1
    return "".join(
        frame(line, id=str(next_offset) if i == last else "") for i, line in enumerate(lines)
    )


@routes.get("/api/v1/logs/{run_id}/{node_id:.+}/stream")
async def log_stream_alias(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/logs/{run}/{node}/stream``: alias of the runs-scoped log stream."""
    return await log_stream(request)

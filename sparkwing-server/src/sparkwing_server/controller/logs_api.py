"""The controller's logs service: append, read, tail and follow (SSE) over its profile's LogStore.

Streams are addressed by run and ``node`` (a query parameter, or a body
field for appends; ``node=`` empty is the run's envelope stream), so node
ids holding ``/`` need no path escaping. Offsets are the log store's own
(opaque to callers): a read returns ``next_offset`` to continue from.

* ``POST /api/v1/logs/{run_id}/lines`` ``{node*, text*}``: append
  ``text``, zero or more complete ``\\n``-terminated JSON-lines records
  (:mod:`sparkwing.storage.logrecord`). 204. A later step adds fencing: a
  ``claim`` field (holder and claim sequence) checked against the node's
  current claim, refused with 409 when stale.
* ``GET /api/v1/logs/{run_id}/lines?node=&offset=&limit=&grep=&regex=&level=``:
  ``{lines, next_offset}``. With filters (``grep`` a substring of the
  message, ``regex`` a Python regular expression searched in it, ``level`` a
  csv of levels) only matching records count towards ``limit``, and
  ``next_offset`` continues after the last record examined.
* ``GET /api/v1/logs/{run_id}/tail?node=&n=``: ``{lines}``, the last *n* records.
* ``GET /api/v1/logs/{run_id}``: ``{run_id, streams}``; ``DELETE``: every stream, 204.
* ``GET /api/v1/logs/{run_id}/stream?node=&offset=`` (filters as for reads):
  ``text/event-stream``. Opens with ``: open``; each record is one
  ``data:`` event; the last event of every batch carries ``id:`` = the
  offset after it, so a client reconnecting with ``Last-Event-ID`` (or
  ``?offset=``) resumes there (records of a batch cut short come again).
  ``: keepalive`` every 15 s. Ends with ``event: end`` and
  ``{"reason": "finished"|"unknown_run", "status"}`` once the node is
  ``done`` (or, for the envelope, the run is terminal) and nothing more
  arrived for :data:`FINISH_GRACE_S` (a writer may still send its last
  deferred batch after the node was marked done); a run unknown to the state store for a minute also ends it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from .context import context_of
from .errors import check_fields, fail, json_response, read_json

T = TypeVar("T")

#: Records per read page unless ``limit`` says otherwise, and the most one read returns.
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
#: Most records one filtered read examines before answering (it says where to go on).
MAX_SCANNED = 200_000
#: Most records ``tail`` returns.
MAX_TAIL = 10_000
#: SSE: seconds between polls of the store, between keepalive comments, and how long a
#: run unknown to the state store is waited for.
POLL_S = 0.2
KEEPALIVE_S = 15.0
UNKNOWN_RUN_WAIT_S = 60.0
#: SSE: seconds a finished stream is still polled for records written just before the end.
FINISH_GRACE_S = 1.0
#: Records per read while a stream catches up.
STREAM_BATCH = 2000
#: Longest ``regex`` accepted.
MAX_REGEX = 500


async def _logs_call(fn: Callable[..., T], *args: Any) -> T:
    """Run one log-store call on a worker thread; its errors in the one shape."""
    from sparkwing.errors import NotFoundError, SparkwingError

    try:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args))
    except NotFoundError as exc:
        fail(404, " ".join(str(exc).split()), "not_found")
    except (SparkwingError, ValueError) as exc:
        fail(400, " ".join(str(exc).split()) or type(exc).__name__, "rejected")


def _node(request: web.Request) -> str:
    node = request.query.get("node")
    if node is None:
        fail(400, "query parameter 'node' is required (node= with no value: the run's envelope)",
             field="node")
    return node


def _int(request: web.Request, name: str, default: int, maximum: int) -> int:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        fail(400, f"query parameter {name!r} must be a non-negative integer", field=name)
    value = int(raw)
    if value > maximum:
        fail(400, f"query parameter {name!r} must be at most {maximum}", field=name)
    return value


def record_filter(request: web.Request) -> Callable[[str], bool] | None:
    """The predicate of the ``grep``/``regex``/``level`` query parameters, or ``None``."""
    from sparkwing.storage.logrecord import LEVELS, parse_record

    grep = request.query.get("grep", "")
    pattern = request.query.get("regex", "")
    levels = {v.strip() for v in request.query.get("level", "").split(",") if v.strip()}
    bad = levels - LEVELS
    if bad:
        fail(400, f"level {', '.join(sorted(bad))} is not one of {', '.join(sorted(LEVELS))}",
             field="level")
    if len(pattern) > MAX_REGEX:
        fail(400, f"regex is longer than {MAX_REGEX} characters", field="regex")
    try:
        compiled = re.compile(pattern) if pattern else None
    except re.error as exc:
        fail(400, f"regex does not compile: {exc}", field="regex")
    if not (grep or compiled or levels):
        return None

    def keep(line: str) -> bool:
        rec = parse_record(line)
        msg = str(rec.get("msg") or "")
        if levels and rec.get("level") not in levels:
            return False
        if grep and grep not in msg:
            return False
        return not (compiled is not None and compiled.search(msg) is None)

    return keep


def filtered_read(store: Any, run_id: str, node: str, offset: int, limit: int,
                  keep: Callable[[str], bool] | None) -> tuple[list[str], int]:
    """Read up to *limit* records (those *keep* accepts) from *offset*; ``(lines, next_offset)``.

    Pages are never longer than the records still wanted, so ``next_offset``
    never skips a matching record that was not returned.
    """
    if keep is None:
        chunk = store.read(run_id, node, offset, limit)
        return chunk.lines, chunk.next_offset
    out: list[str] = []
    scanned = 0
    while len(out) < limit and scanned < MAX_SCANNED:
        chunk = store.read(run_id, node, offset, limit - len(out))
        if not chunk.lines:
            break
        scanned += len(chunk.lines)
        out.extend(line for line in chunk.lines if keep(line))
        offset = chunk.next_offset
    return out, offset


# -- routes ------------------------------------------------------------------------------------

async def append_lines(request: web.Request) -> web.Response:
    """``POST /logs/{run_id}/lines``: ``{node*, text*}`` appended to the stream -> 204."""
    body = await read_json(request)
    check_fields(body, ("node", "text"))
    node, text = body.get("node"), body.get("text")
    if not isinstance(node, str):
        fail(400, "field 'node' is required (\"\" for the run's envelope)", field="node")
    if not isinstance(text, str):
        fail(400, "field 'text' is required: newline-terminated JSON-lines records",
             field="text")
    if text and not text.endswith("\n"):
        fail(400, "field 'text' must end with a newline (complete records only)", field="text")
    logs = context_of(request).logs
    run_id = request.match_info["run_id"]

    def write() -> None:
        writer = logs.writer(run_id, node)
        try:
            writer.write_raw(text)
        finally:
            writer.close()

    await _logs_call(write)
    return web.Response(status=204)


async def read_lines(request: web.Request) -> web.Response:
    """``GET /logs/{run_id}/lines?node=&offset=&limit=&grep=&regex=&level=``: ``{lines, next_offset}``."""
    node = _node(request)
    offset = _int(request, "offset", 0, 2**62)
    limit = _int(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    keep = record_filter(request)
    lines, next_offset = await _logs_call(filtered_read, context_of(request).logs,
                                          request.match_info["run_id"], node, offset, limit, keep)
    return json_response({"lines": lines, "next_offset": next_offset})


async def tail_lines(request: web.Request) -> web.Response:
    """``GET /logs/{run_id}/tail?node=&n=``: ``{lines}``, the stream's last *n* records."""
    node = _node(request)
    n = _int(request, "n", 100, MAX_TAIL)
    lines = await _logs_call(context_of(request).logs.tail, request.match_info["run_id"], node, n)
    return json_response({"lines": lines})


async def list_streams(request: web.Request) -> web.Response:
    """``GET /logs/{run_id}``: ``{run_id, streams}`` (``""`` is the envelope)."""
    run_id = request.match_info["run_id"]
    streams = await _logs_call(context_of(request).logs.streams, run_id)
    return json_response({"run_id": run_id, "streams": streams})


async def delete_logs(request: web.Request) -> web.Response:
    """``DELETE /logs/{run_id}``: every stream of the run -> 204 (also when there were none)."""
    await _logs_call(context_of(request).logs.delete_run, request.match_info["run_id"])
    return web.Response(status=204)


def _resume_offset(request: web.Request) -> int:
    last = request.headers.get("Last-Event-ID", "").strip()
    if last:
        if not last.isdigit():
            fail(400, "Last-Event-ID must be an offset this stream sent", field="Last-Event-ID")
        return int(last)
    return _int(request, "offset", 0, 2**62)


async def _finished(request: web.Request, run_id: str, node: str) -> tuple[bool, str] | None:
    """``(finished, status)`` of the stream's node (or run, for the envelope); ``None``: no run."""
    ctx = context_of(request)

    def look() -> tuple[bool, str] | None:
        run = ctx.state.get_run(run_id)
        if run is None:
            return None
        if run.terminal or not node:
            return run.terminal, run.status
        found = ctx.state.get_node(run_id, node)
        if found is None:
            return False, "unknown"
        return found.status == "done", found.outcome or found.status

    return await ctx.state_call(look)


async def stream_lines(request: web.Request) -> web.StreamResponse:
    """``GET /logs/{run_id}/stream?node=&offset=``: the stream as server-sent events (see module)."""
    run_id = request.match_info["run_id"]
    node = _node(request)
    offset = _resume_offset(request)
    keep = record_filter(request)
    logs = context_of(request).logs
    first, offset = await _logs_call(filtered_read, logs, run_id, node, offset, STREAM_BATCH,
                                     keep)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    try:
        await response.write(b": open\n\n")
        await _pump(request, response, logs, run_id, node, offset, keep, first)
    except ConnectionResetError:  # the client went away
        return response
    return response


def _events(lines: list[str], offset: int) -> bytes:
    # a CR would end an SSE line early; records are JSON, so it can only come from stray text
    safe = [line.replace("\r", "\\r") for line in lines]
    parts = [f"data: {line}\n\n" for line in safe[:-1]]
    parts.append(f"id: {offset}\ndata: {safe[-1]}\n\n")
    return "".join(parts).encode("utf-8")


async def _pump(request: web.Request, response: web.StreamResponse, logs: Any, run_id: str,
                node: str, offset: int, keep: Callable[[str], bool] | None,
                first: list[str]) -> None:
    if first:
        await response.write(_events(first, offset))
    last_write = time.monotonic()
    unknown_since: float | None = None
    finished_since: float | None = None
    while True:
        state = await _finished(request, run_id, node)
        lines, offset = await _logs_call(filtered_read, logs, run_id, node, offset, STREAM_BATCH,
                                         keep)
        if lines:
            await response.write(_events(lines, offset))
            last_write = time.monotonic()
            if len(lines) >= STREAM_BATCH:
                continue
        now = time.monotonic()
        if state is None:
            unknown_since = unknown_since if unknown_since is not None else now
            if now - unknown_since >= UNKNOWN_RUN_WAIT_S:
                await _end(response, "unknown_run", "")
                return
        elif state[0]:
            # finished was seen before this read; records a writer still held back when the
            # node was marked done (deferred flushes) get FINISH_GRACE_S more to arrive
            finished_since = finished_since if finished_since is not None else now
            if not lines and now - finished_since >= FINISH_GRACE_S:
                await _end(response, "finished", state[1])
                return
        if now - last_write >= KEEPALIVE_S:
            await response.write(b": keepalive\n\n")
            last_write = now
        await asyncio.sleep(POLL_S)


async def _end(response: web.StreamResponse, reason: str, status: str) -> None:
    data = json.dumps({"reason": reason, "status": status})
    await response.write(f"event: end\ndata: {data}\n\n".encode())
    await response.write_eof()

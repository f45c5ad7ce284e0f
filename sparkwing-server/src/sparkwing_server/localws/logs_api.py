"""Log endpoints: one node's log (filters, formats), a run's whole log, log search."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sparkwing.storage.contracts import ENVELOPE

from .context import ServerContext, context_of
from .errors import fail, json_response
from .logtext import content_type, negotiate_format, render_line, search_text
from .queryparams import int_param, line_range
from .runs_api import get_run_or_404

routes = web.RouteTableDef()

#: Path segment that addresses the run envelope (node id ``""``).
ENVELOPE_SEGMENT = "_envelope"
#: Search result bounds.
DEFAULT_SEARCH_LIMIT = 500
MAX_SEARCH_LIMIT = 5000


def node_from_path(segment: str) -> str:
    """Map a URL node segment to a node id (``_envelope`` is the run envelope)."""
    return ENVELOPE if segment == ENVELOPE_SEGMENT else segment


def select_lines(lines: list[str], query: Mapping[str, str]) -> list[str]:
    """Apply the log filters in order: ``lines=A:B``, ``grep=RE``, ``head=N``, ``tail=N``."""
    raw_range = query.get("lines")
    if raw_range:
        start, end = line_range(raw_range)
        lines = lines[(start or 1) - 1:end]
    pattern = query.get("grep")
    if pattern:
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            fail(400, f"grep: invalid regular expression: {exc}")
        lines = [line for line in lines if regex.search(search_text(line))]
    head = int_param(query, "head")
    if head is not None:
        lines = lines[:head]
    tail = int_param(query, "tail")
    if tail is not None:
        lines = lines[-tail:] if tail else []
    return lines


async def read_stream(ctx: ServerContext, run_id: str, node_id: str) -> tuple[list[str], int]:
    """Return every complete record of a stream and the offset after the last one."""
    chunk = await ctx.logs_call(ctx.logs.read, run_id, node_id, 0, None)
    return list(chunk.lines), chunk.next_offset


def _body(lines: list[str], fmt: str) -> str:
    return "".join(render_line(line, fmt) + "\n" for line in lines)


async def node_log(request: web.Request, run_id: str, node_id: str) -> web.StreamResponse:
    """Answer a node-log request for an already-validated run."""
    ctx = context_of(request)
    fmt = negotiate_format(request.query.get("format"), request.headers.get("Accept"))
    query = request.query
    filtered = any(query.get(k) for k in ("lines", "grep", "head"))
    tail = int_param(query, "tail")
    if tail is not None and not filtered:
        lines = await ctx.logs_call(ctx.logs.tail, run_id, node_id, tail) if tail else []
        next_offset = None
    else:
        lines, next_offset = await read_stream(ctx, run_id, node_id)
        if filtered or tail is not None:
            lines = select_lines(lines, query)
            next_offset = None
    headers = {"X-Log-Lines": str(len(lines))}
    if next_offset is not None:
        headers["X-Log-Offset"] = str(next_offset)
    return web.Response(
        text=_body(lines, fmt), content_type=content_type(fmt), charset="utf-8", headers=headers,
    )


@routes.get("/api/v1/runs/{run_id}/logs")
async def run_logs(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/logs``: every node's log under ``=== node (outcome) ===`` headers."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    await get_run_or_404(ctx, run_id)
    fmt = negotiate_format(request.query.get("format"), request.headers.get("Accept"))
    nodes = await ctx.state_call(ctx.state.list_nodes, run_id)
    streams = set(await ctx.logs_call(ctx.logs.streams, run_id))
    order = [(n.node_id, n.outcome or n.status) for n in nodes if n.node_id in streams]
    known = {node_id for node_id, _ in order}
    order += [(s, "") for s in sorted(streams) if s and s not in known]
    if request.query.get("envelope") in ("1", "true") and ENVELOPE in streams:
        order.insert(0, (ENVELOPE, ""))
    parts: list[str] = []
    for node_id, outcome in order:
        lines, _ = await read_stream(ctx, run_id, node_id)
        if fmt != "raw":
            label = node_id or "run"
            parts.append(f"=== {label} ({outcome}) ===\n" if outcome else f"=== {label} ===\n")
        parts.append(_body(lines, fmt))
    return web.Response(text="".join(parts), content_type=content_type(fmt), charset="utf-8")


@routes.get("/api/v1/runs/{run_id}/logs/search")
async def search_logs(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/logs/search?q=TEXT&limit=N``: case-insensitive search."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    await get_run_or_404(ctx, run_id)
    needle = (request.query.get("q") or "").lower()
    if not needle:
        fail(400, "q is required")
    limit = int_param(request.query, "limit", DEFAULT_SEARCH_LIMIT, minimum=1,
                      maximum=MAX_SEARCH_LIMIT) or DEFAULT_SEARCH_LIMIT
    nodes = await ctx.state_call(ctx.state.list_nodes, run_id)
    streams = await ctx.logs_call(ctx.logs.streams, run_id)
    ordered = [n.node_id for n in nodes if n.node_id in streams]
    ordered += [s for s in streams if s not in ordered]
    matches: list[dict[str, Any]] = []
    truncated = False
    for node_id in ordered:
        lines, _ = await read_stream(ctx, run_id, node_id)
        for number, line in enumerate(lines, start=1):
            text = search_text(line)
            if needle in text.lower():
                if len(matches) >= limit:
                    truncated = True
                    break
                matches.append({"node_id": node_id, "line": number, "content": text})
        if truncated:
            break
    return json_response({"query": needle, "matches": matches, "truncated": truncated})


@routes.get("/api/v1/runs/{run_id}/logs/{node_id:.+}")
async def get_node_log(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/runs/{id}/logs/{node}``: one stream (``tail head lines grep format``)."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    await get_run_or_404(ctx, run_id)
    return await node_log(request, run_id, node_from_path(request.match_info["node_id"]))


@routes.get("/api/v1/logs/{run_id}/{node_id:.+}")
async def get_node_log_alias(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/logs/{run}/{node}``: same as ``/api/v1/runs/{run}/logs/{node}``."""
    return await get_node_log(request)

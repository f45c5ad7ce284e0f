"""The read of one node attempt's queue row, for the ``queue`` executor waiting on it.

``GET /api/v1/runs/{run_id}/nodes/{node_id}/queue?attempt=N`` answers
``{"attempt": row}`` (the row as the node queue holds it) or
``{"attempt": null}`` when that attempt was never queued; without
``attempt``, the node's latest queued attempt. One indexed read, so an
orchestrator can poll the attempts it waits for cheaply whatever the size
of the run (``GET /nodes/queue`` pages through whole runs).
"""

from __future__ import annotations

from aiohttp import web

from .context import context_of
from .errors import fail, json_response


async def get_queued_attempt(request: web.Request) -> web.Response:
    """``{attempt: row | null}`` for ``?attempt=N`` (default: the node's latest attempt)."""
    ctx = context_of(request)
    if ctx.nodes is None:
        fail(503, "this controller has no node queue", "unavailable")
    queue = ctx.nodes
    run_id, node_id = request.match_info["run_id"], request.match_info["node_id"]
    raw = request.query.get("attempt", "").strip()
    if raw and (not raw.isdigit() or int(raw) < 1):
        fail(400, "query parameter 'attempt' must be an integer of at least 1", field="attempt")
    if raw:
        row = await ctx.queue_call(queue.get, run_id, node_id, int(raw))
    else:
        row = await ctx.queue_call(queue.latest, run_id, node_id)
    return json_response({"attempt": row.to_dict() if row is not None else None})

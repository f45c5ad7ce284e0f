"""Run endpoints: list, detail, nodes, steps, events, cancel."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from sparkwing.storage.records import RunFilter

from .context import ServerContext, context_of
from .errors import fail, json_response
from .excerpt import failure_excerpt
from .queryparams import int_param, list_param, since_param
from .views import approval_view, event_view, node_view, pause_view, run_view, step_view

routes = web.RouteTableDef()

#: Runs per page unless ``limit`` says otherwise.
DEFAULT_RUNS_LIMIT = 50


def run_filter(query: Any, ctx: ServerContext) -> RunFilter:
    """Build a :class:`RunFilter` from list query parameters.

    ``pipeline`` and ``status`` are repeatable or comma-separated (``!x``
    excludes); ``branch``, ``sha``, ``search`` (or ``q``), ``since``,
    ``cursor`` (the ``next_cursor`` of the previous page) and ``limit``.
    """
    limit = int_param(query, "limit", DEFAULT_RUNS_LIMIT, minimum=1,
                      maximum=ctx.options.max_runs_limit)
    return RunFilter(
        pipelines=list_param(query, "pipeline"),
        statuses=list_param(query, "status"),
        branch=(query.get("branch") or "").strip(),
        sha_prefix=(query.get("sha") or "").strip(),
        search=(query.get("search") or query.get("q") or "").strip(),
        since=since_param(query),
        before_id=(query.get("cursor") or query.get("before") or "").strip(),
        limit=limit or DEFAULT_RUNS_LIMIT,
    )


async def list_runs_page(ctx: ServerContext, flt: RunFilter) -> dict[str, Any]:
    """Return one page ``{runs, next_cursor}`` (``next_cursor`` null on the last page)."""
    wanted = flt.limit
    probe = RunFilter(
        pipelines=flt.pipelines, statuses=flt.statuses, branch=flt.branch,
        sha_prefix=flt.sha_prefix, search=flt.search, since=flt.since,
        before_id=flt.before_id, limit=wanted + 1,
    )
    state = ctx.state

    def load() -> tuple[list[Any], dict[str, list[str]], dict[str, list[str]]]:
        runs = state.list_runs(probe)
        waiting: dict[str, list[str]] = {}
        paused: dict[str, list[str]] = {}
        if any(not r.terminal for r in runs):
            for a in state.list_approvals(None, pending_only=True):
                waiting.setdefault(a.run_id, []).append(a.node_id)
            for p in state.list_pauses(None, held_only=True):
                paused.setdefault(p.run_id, []).append(p.node_id)
        return runs, waiting, paused

    runs, waiting, paused = await ctx.state_call(load)
    more = len(runs) > wanted
    runs = runs[:wanted]
    rows = []
    for r in runs:
        row = run_view(r, full=False)
        live = not r.terminal
        row["pending_approvals"] = waiting.get(r.id, []) if live else []
        row["paused_nodes"] = paused.get(r.id, []) if live else []
        rows.append(row)
    return {"runs": rows, "next_cursor": runs[-1].id if more and runs else None}


async def get_run_or_404(ctx: ServerContext, run_id: str) -> Any:
    """Return the run or answer 404."""
    run = await ctx.state_call(ctx.state.get_run, run_id)
    if run is None:
        fail(404, f"run {run_id} not found")
    return run


@routes.get("/api/v1/runs")
async def list_runs(request: web.Request) -> web.Response:
    """``GET /api/v1/runs``: newest first, filtered, one page at a time."""
    ctx = context_of(request)
    return json_response(await list_runs_page(ctx, run_filter(request.query, ctx)))


async def run_detail(ctx: ServerContext, run_id: str) -> dict[str, Any]:
    """Return ``{run, nodes, approvals, pauses}`` with each node's ``steps``.

    ``approvals`` are the run's approval gates, ``pauses`` its held debug pauses.
    """

    def load() -> tuple[Any, list[Any], list[Any], list[Any], list[Any]]:
        state = ctx.state
        run = state.get_run(run_id)
        if run is None:
            return None, [], [], [], []
        return (run, state.list_nodes(run_id), state.list_steps(run_id),
                state.list_approvals(run_id), state.list_pauses(run_id, held_only=True))

    run, nodes, steps, approvals, pauses = await ctx.state_call(load)
    if run is None:
        fail(404, f"run {run_id} not found")
    by_node: dict[str, list[Any]] = {}
    for step in steps:
        by_node.setdefault(step.node_id, []).append(step)
    return {
        "run": run_view(run),
        "nodes": [node_view(n, by_node.get(n.node_id, [])) for n in nodes],
        "approvals": [approval_view(a) for a in approvals],
        "pauses": [pause_view(p) for p in pauses],
    }


@routes.get("/api/v1/runs/{run_id}")
async def get_run(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}``: the run with its nodes and their steps."""
    ctx = context_of(request)
    return json_response(await run_detail(ctx, request.match_info["run_id"]))


@routes.get("/api/v1/runs/{run_id}/nodes")
async def list_nodes(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/nodes``: the run's nodes with their steps."""
    ctx = context_of(request)
    detail = await run_detail(ctx, request.match_info["run_id"])
    return json_response({"nodes": detail["nodes"]})


@routes.get("/api/v1/runs/{run_id}/nodes/{node_id:.+}")
async def get_node(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/nodes/{node}``: one node, its steps and, when failed, its excerpt."""
    ctx = context_of(request)
    run_id, node_id = request.match_info["run_id"], request.match_info["node_id"]
    await get_run_or_404(ctx, run_id)
    node = await ctx.state_call(ctx.state.get_node, run_id, node_id)
    if node is None:
        fail(404, f"node {node_id} not found in run {run_id}")
    steps = await ctx.state_call(ctx.state.list_steps, run_id, node_id)
    data: dict[str, Any] = {"node": node_view(node, steps)}
    if node.outcome == "failed":
        data["excerpt"] = await failure_excerpt(ctx, node)
    return json_response(data)


@routes.get("/api/v1/runs/{run_id}/steps")
async def list_steps(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/steps[?node=N]``: step rows in insertion order."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    await get_run_or_404(ctx, run_id)
    node_id = request.query.get("node") or None
    steps = await ctx.state_call(ctx.state.list_steps, run_id, node_id)
    return json_response({"steps": [step_view(s) for s in steps]})


@routes.get("/api/v1/runs/{run_id}/events")
async def list_events(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/events?after=SEQ&limit=N``: one page of the event stream."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    await get_run_or_404(ctx, run_id)
    after = int_param(request.query, "after", 0) or 0
    limit = int_param(request.query, "limit", 500, minimum=1, maximum=5000) or 500
    events = await ctx.state_call(ctx.state.list_events, run_id, after, limit)
    return json_response({
        "events": [event_view(e) for e in events],
        "next_after": events[-1].seq if events else after,
    })


@routes.post("/api/v1/runs/{run_id}/cancel")
async def cancel_run(request: web.Request) -> web.Response:
    """``POST /api/v1/runs/{id}/cancel``: ask the run's process to cancel it (409 when finished)."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    run = await get_run_or_404(ctx, run_id)
    if run.terminal:
        fail(409, f"run {run_id} already finished ({run.status})")
    now = time.time()
    if run.cancel_requested_at is None:
        await ctx.state_call(ctx.state.update_run, run_id, {"cancel_requested_at": now})
    else:
        now = run.cancel_requested_at
    return json_response({"run_id": run_id, "cancel_requested_at": now}, status=202)

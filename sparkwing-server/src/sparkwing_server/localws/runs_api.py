"""Run endpoints: list, detail, nodes, steps, events, cancel; the projects runs belong to.

The JSON shapes come from :mod:`sparkwing.views`, shared with ``sparkwing runs ... -o json``.
Projects are identified as :mod:`sparkwing.projectruns` says (the root path
recorded on each run).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sparkwing import views
from sparkwing.projectruns import belongs, filter_runs, project_name, run_project
from sparkwing.runs.cancel import ALREADY_REQUESTED, FINISHED, request_cancel
from sparkwing.storage.records import Node, Run, RunFilter, Step

from .actor import actor
from .context import ServerContext, context_of
from .errors import fail, json_response
from .excerpt import failure_excerpt
from .queryparams import int_param, list_param, since_param

routes = web.RouteTableDef()

#: Runs per page unless ``limit`` says otherwise.
DEFAULT_RUNS_LIMIT = 50
#: Newest runs looked at to list the projects runs belong to.
PROJECTS_WINDOW = 2000


def run_filter(query: Mapping[str, str], ctx: ServerContext) -> RunFilter:
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


def project_param(query: Mapping[str, str]) -> str:
    """The ``project`` query value: a project's root path (``""``: every project)."""
    return (query.get("project") or "").strip()


async def list_runs_page(ctx: ServerContext, flt: RunFilter, project: str = "") -> dict[str, Any]:
    """Return one page ``{runs, next_cursor}`` (``next_cursor`` null on the last page).

    With *project*, only runs of that project (see :mod:`sparkwing.projectruns`).
    """
    wanted = flt.limit
    probe = RunFilter(
        pipelines=flt.pipelines, statuses=flt.statuses, branch=flt.branch,
        sha_prefix=flt.sha_prefix, search=flt.search, since=flt.since,
        before_id=flt.before_id, limit=wanted + 1,
    )
    state = ctx.state

    def load() -> tuple[list[dict[str, Any]], bool, str]:
        if project:
            runs = filter_runs(state, probe, lambda run: belongs(run, project))
        else:
            runs = state.list_runs(probe)
        page = runs[:wanted]
        return views.run_rows(state, page), len(runs) > wanted, page[-1].id if page else ""

    rows, more, last_id = await ctx.state_call(load)
    return {"runs": rows, "next_cursor": last_id if more and last_id else None}


async def get_run_or_404(ctx: ServerContext, run_id: str) -> Run:
    """Return the run or answer 404."""
    run = await ctx.state_call(ctx.state.get_run, run_id)
    if run is None:
        fail(404, f"run {run_id} not found")
    return run


@routes.get("/api/v1/runs")
async def list_runs(request: web.Request) -> web.Response:
    """``GET /api/v1/runs``: newest first, filtered (``project`` too), one page at a time."""
    ctx = context_of(request)
    flt = run_filter(request.query, ctx)
    return json_response(await list_runs_page(ctx, flt, project_param(request.query)))


@routes.get("/api/v1/projects")
async def list_projects(request: web.Request) -> web.Response:
    """``GET /api/v1/projects``: the projects of the newest runs, and the one the server runs in.

    ``{"projects": [{"id": root path, "name": last part, "runs": count}], "current": id|null}``,
    most runs first.
    """
    ctx = context_of(request)
    state = ctx.state

    def load() -> dict[str, int]:
        runs = state.list_runs(RunFilter(limit=PROJECTS_WINDOW))
        recorded = {str(r.invocation.get("project")) for r in runs
                    if (r.invocation or {}).get("project")}
        counts: dict[str, int] = {}
        for run in runs:
            key = run_project(run)
            if key and key not in recorded:  # an older run: file it under a project holding it
                key = next((p for p in sorted(recorded, key=len, reverse=True)
                            if belongs(run, p)), key)
            if key:
                counts[key] = counts.get(key, 0) + 1
        return counts

    counts = await ctx.state_call(load)
    projects = [{"id": key, "name": project_name(key), "runs": n}
                for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return json_response({"projects": projects, "current": _current_project()})


def _current_project() -> str | None:
    """The project the server was started in (its working directory), if any."""
    from pathlib import Path

    from sparkwing.config import PROJECT_DIR, PROJECT_FILE, find_project
    from sparkwing.projectruns import project_id

    try:
        root = find_project(Path.cwd())
    except OSError:
        return None
    if root is None or not (root / PROJECT_DIR / PROJECT_FILE).is_file():
        return None
    return project_id(root)


async def run_detail(ctx: ServerContext, run_id: str) -> dict[str, Any]:
    """Return :func:`sparkwing.views.run_detail` of the run (404 when there is none)."""
    state = ctx.state

    def load() -> dict[str, Any] | None:
        run = state.get_run(run_id)
        return None if run is None else views.run_detail(state, run)

    detail = await ctx.state_call(load)
    if detail is None:
        fail(404, f"run {run_id} not found")
    return detail


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
    state = ctx.state

    def load() -> tuple[Node | None, list[Step], dict[str, Any] | None]:
        node = state.get_node(run_id, node_id)
        if node is None:
            return None, [], None
        failed = node.outcome == "failed"
        payload = views.failure_excerpts(state, run_id).get(node_id) if failed else None
        return node, state.list_steps(run_id, node_id), payload

    node, steps, payload = await ctx.state_call(load)
    if node is None:
        fail(404, f"node {node_id} not found in run {run_id}")
    data: dict[str, Any] = {"node": views.node_view(node, steps, payload)}
    if node.outcome == "failed":
        data["excerpt"] = await failure_excerpt(ctx, node, payload)
    return json_response(data)


@routes.get("/api/v1/runs/{run_id}/steps")
async def list_steps(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/steps[?node=N]``: step rows in insertion order."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    await get_run_or_404(ctx, run_id)
    node_id = request.query.get("node") or None
    steps = await ctx.state_call(ctx.state.list_steps, run_id, node_id)
    return json_response({"steps": [views.step_view(s) for s in steps]})


@routes.get("/api/v1/runs/{run_id}/events")
async def list_events(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/events?after=SEQ&limit=N``: one page of the event stream."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    await get_run_or_404(ctx, run_id)
    after = int_param(request.query, "after", 0) or 0
    limit = int_param(request.query, "limit", 500, minimum=1, maximum=5000) or 500
    page = await ctx.state_call(ctx.state.list_events, run_id, after, limit)
    return json_response({
        "events": [views.event_view(e) for e in page],
        "next_after": page[-1].seq if page else after,
    })


@routes.post("/api/v1/runs/{run_id}/cancel")
async def cancel_run(request: web.Request) -> web.Response:
    """``POST /api/v1/runs/{id}/cancel``: ask the run's process to cancel it (409 when finished)."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]

    run = await get_run_or_404(ctx, run_id)
    now = time.time()
    done = await ctx.state_call(request_cancel, ctx.state, run, by=actor(request), now=now)
    if done == FINISHED:
        fail(409, f"run {run_id} already finished ({run.status})")
    if done == ALREADY_REQUESTED:
        now = run.cancel_requested_at or now
    return json_response({"run_id": run_id, "cancel_requested_at": now}, status=202)

"""Acting on runs: approval gates, debug pauses and retries.

* ``GET /api/v1/approvals/pending``: pending approvals of live runs.
* ``GET /api/v1/runs/{id}/approvals``, ``GET|POST /api/v1/runs/{id}/approvals/{node}``:
  read a gate, or resolve it with ``{"resolution": "approved"|"denied", "comment": ...}``.
* ``GET /api/v1/runs/{id}/paused``, ``POST /api/v1/runs/{id}/nodes/{node}/release``:
  held debug pauses and releasing one.
* ``POST /api/v1/runs/{id}/retry`` ``{"mode": "failed"|"all"}``: start
  ``sparkwing runs retry`` for a finished run and answer the new run's id.

Who acts is the ``X-Sparkwing-User`` header when given, else the user
running the dashboard. Writes are refused in read-only mode by the
application's guard (405).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from aiohttp import web
from sparkwing.orchestrator.approvals import ApprovalResolvedError, resolve
from sparkwing.storage.records import Approval, Pause, Run
from sparkwing.views import approval_view, pause_view

from .actor import actor
from .context import ServerContext, context_of
from .errors import fail, json_response
from .launcher import sparkwing_argv, start_detached
from .runs_api import get_run_or_404

routes = web.RouteTableDef()

#: Longest accepted approval comment (characters).
MAX_COMMENT_LENGTH = 4000
#: Retry modes and the ``sparkwing runs retry`` flag of each.
RETRY_MODES = {"failed": "--failed", "all": "--all"}
#: How often a starting retry is checked (seconds).
_START_POLL_S = 0.05


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); 400 when it is not an object."""
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        fail(400, "request body must be a JSON object")
    if not isinstance(body, dict):
        fail(400, "request body must be a JSON object")
    return body


# -- approvals ------------------------------------------------------------------------------------
@routes.get("/api/v1/approvals/pending")
async def pending_approvals(request: web.Request) -> web.Response:
    """``GET /api/v1/approvals/pending``: approvals waiting on a decision, oldest first.

    Gates of runs that already ended (a cancelled or crashed run) are left
    out: nothing waits on them any more.
    """
    ctx = context_of(request)
    state = ctx.state

    def load() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        runs: dict[str, Any] = {}
        for approval in state.list_approvals(None, pending_only=True):
            if approval.run_id not in runs:
                runs[approval.run_id] = state.get_run(approval.run_id)
            run = runs[approval.run_id]
            if run is not None and not run.terminal:
                out.append(approval_view(approval, run))
        return out

    return json_response({"approvals": await ctx.state_call(load)})


@routes.get("/api/v1/runs/{run_id}/approvals")
async def run_approvals(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/approvals``: every approval gate of the run, resolved or not."""
    ctx = context_of(request)
    run = await get_run_or_404(ctx, request.match_info["run_id"])
    approvals = await ctx.state_call(ctx.state.list_approvals, run.id)
    return json_response({"approvals": [approval_view(a, run) for a in approvals]})


async def _approval_or_404(ctx: ServerContext, run: Run, node_id: str) -> Approval:
    approval = await ctx.state_call(ctx.state.get_approval, run.id, node_id)
    if approval is None:
        fail(404, f'run {run.id} has no approval gate "{node_id}"')
    return approval


@routes.get("/api/v1/runs/{run_id}/approvals/{node_id:.+}")
async def get_approval(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/approvals/{node}``: ``{approval}``."""
    ctx = context_of(request)
    run = await get_run_or_404(ctx, request.match_info["run_id"])
    approval = await _approval_or_404(ctx, run, request.match_info["node_id"])
    return json_response({"approval": approval_view(approval, run)})


@routes.post("/api/v1/runs/{run_id}/approvals/{node_id:.+}")
async def resolve_approval(request: web.Request) -> web.Response:
    """``POST /api/v1/runs/{id}/approvals/{node}`` ``{resolution, comment}``: approve or deny.

    200 ``{approval}``; 400 bad body or resolution; 404 unknown run or gate;
    409 already resolved.
    """
    ctx = context_of(request)
    run = await get_run_or_404(ctx, request.match_info["run_id"])
    node_id = request.match_info["node_id"]
    body = await json_body(request)
    resolution = body.get("resolution")
    if resolution not in ("approved", "denied"):
        fail(400, f'resolution must be "approved" or "denied", got {json.dumps(resolution)}')
    comment = body.get("comment") or ""
    if not isinstance(comment, str):
        fail(400, "comment must be a string")
    if len(comment) > MAX_COMMENT_LENGTH:
        fail(400, f"comment is longer than {MAX_COMMENT_LENGTH} characters")
    who = actor(request)
    await _approval_or_404(ctx, run, node_id)
    try:
        approval = await ctx.state_call(resolve, ctx.state, run.id, node_id, resolution, who,
                                        comment.strip())
    except ApprovalResolvedError as exc:
        fail(409, str(exc))
    return json_response({"approval": approval_view(approval, run)})


# -- debug pauses ----------------------------------------------------------------------------------
@routes.get("/api/v1/runs/{run_id}/paused")
async def run_pauses(request: web.Request) -> web.Response:
    """``GET /api/v1/runs/{id}/paused[?all=1]``: held debug pauses (``all``: released ones too)."""
    ctx = context_of(request)
    run = await get_run_or_404(ctx, request.match_info["run_id"])
    held_only = request.query.get("all") not in ("1", "true")
    pauses = await ctx.state_call(ctx.state.list_pauses, run.id, held_only)
    return json_response({"pauses": [pause_view(p) for p in pauses]})


@routes.post("/api/v1/runs/{run_id}/nodes/{node_id:.+}/release")
async def release_pause(request: web.Request) -> web.Response:
    """``POST /api/v1/runs/{id}/nodes/{node}/release``: let a paused job continue.

    200 ``{pause}``; 404 when the job was never paused; 409 when its pause
    was already released.
    """
    ctx = context_of(request)
    run = await get_run_or_404(ctx, request.match_info["run_id"])
    node_id = request.match_info["node_id"]
    who = actor(request)
    state = ctx.state

    def release() -> tuple[bool, Pause | None]:
        if state.get_pause(run.id, node_id) is None:
            return False, None
        ok = state.release_pause(run.id, node_id, who, "manual", time.time())
        return ok, state.get_pause(run.id, node_id)

    ok, pause = await ctx.state_call(release)
    if pause is None:
        fail(404, f'job "{node_id}" of run {run.id} is not paused')
    if not ok:
        by = f" by {pause.released_by}" if pause.released_by else ""
        fail(409, f'the pause of job "{node_id}" of run {run.id} was already released{by}')
    return json_response({"pause": pause_view(pause)})


# -- retry ------------------------------------------------------------------------------------------
@routes.post("/api/v1/runs/{run_id}/retry")
async def retry_run(request: web.Request) -> web.Response:
    """``POST /api/v1/runs/{id}/retry`` ``{mode}``: run a finished run again as a new run.

    ``mode`` is ``failed`` (default: reuse the jobs that passed) or ``all``.
    Starts ``sparkwing runs retry --run ID --failed|--all`` in the run's
    recorded working directory with a run id chosen here (a detached process,
    so the retry outlives the request; it dispatches a ``retry`` trigger
    request and starts the run through ``sparkwing.runs.start``), and answers 202
    ``{run_id, retry_of, mode, pid, started}`` once the new run is recorded
    (``started: false`` if it is still waiting, e.g. for a box slot). 409
    when the run is still live, its directory is gone, or the retry failed
    to start (with the command's error).
    """
    from sparkwing.ids import new_run_id

    ctx = context_of(request)
    run = await get_run_or_404(ctx, request.match_info["run_id"])
    body = await json_body(request)
    mode = body.get("mode") or "failed"
    if mode not in RETRY_MODES:
        fail(400, f'mode must be "failed" or "all", got {json.dumps(mode)}')
    if not run.terminal:
        fail(409, f"run {run.id} is still {run.status}; only finished runs can be retried")
    cwd = str((run.invocation or {}).get("cwd") or "")
    if not cwd:
        fail(409, f"run {run.id} has no recorded working directory to retry it in")
    if not os.path.isdir(cwd):
        fail(409, f"run {run.id} cannot be retried: its working directory {cwd} is gone")
    new_id = new_run_id()
    args = ["runs", "retry", "--run", run.id, RETRY_MODES[mode], "-o", "json"]
    profile = run.profile or ctx.profile_name
    if profile:
        args += ["--profile", profile]
    args += ["--sw-run-id", new_id]
    launched = await ctx.logs_call(start_detached, sparkwing_argv(*args), cwd)
    try:
        started = await _wait_recorded(ctx, new_id, launched)
    finally:
        launched.release()
    return json_response({"run_id": new_id, "retry_of": run.id, "mode": mode,
                          "pid": launched.pid, "started": started}, status=202)


async def _wait_recorded(ctx: ServerContext, run_id: str, launched: Any) -> bool:
    """Wait until run *run_id* is recorded (True) or the wait times out (False).

    Answers 409 with the command's error when it exits without recording the run.
    """
    deadline = time.monotonic() + ctx.options.retry_start_wait_s
    while True:
        code = launched.exited()
        if await ctx.state_call(ctx.state.get_run, run_id) is not None:
            return True
        if code is not None:
            detail = await ctx.logs_call(launched.error_line)
            fail(409, f"retry failed to start (exit {code}): {detail or 'no error message'}")
        if time.monotonic() >= deadline or ctx.closing.is_set():
            return False
        await asyncio.sleep(_START_POLL_S)

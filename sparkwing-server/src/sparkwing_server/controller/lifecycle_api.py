"""People's lifecycle actions on runs and jobs: cancel a run, retry it, its lineage, cancel one job.

| Route | Scope |
|---|---|
| POST ``/api/v1/runs/{run_id}/cancel`` ``{reason}`` | ``runs.write`` |
| POST ``/api/v1/runs/{run_id}/retry[?full=1]`` | ``runs.write`` |
| GET ``/api/v1/runs/{run_id}/attempts`` | ``runs.read`` |
| POST ``/api/v1/runs/{run_id}/nodes/{node_id}/cancel`` ``{reason}`` | ``runs.write`` |

**Cancel** goes through :func:`sparkwing.runs.cancel.request_cancel`, as
``sparkwing runs cancel`` and the web UI's Cancel do: a live run's
``cancel_requested_at`` is stamped (its process, or the runner holding its
trigger through the trigger heartbeat, stops it), and a ``cancel_requested``
event names the caller's principal. A run id that has no run yet but whose
trigger (``trg-`` and the same stamp, see
:func:`sparkwing.triggers.keys.first_run_id`) is queued is cancelled
outright: the trigger is taken off the queue (``done``) and the run is
recorded ``cancelled``; when a runner claimed the trigger but its run is
not recorded yet, the cancelled run is recorded under the id the runner
will use, so its run refuses to start and the runner finishes the trigger
with it.

**Retry** queues a new trigger through the controller's one dispatch
function (as ``POST /api/v1/triggers`` does), of the trigger source
``retry`` (:mod:`sparkwing.runs.retry`): same pipeline, commit and inputs;
the runner that claims it starts a run with ``retry_of`` set, reusing the
outputs of the jobs that passed unless ``full=1``.

**Cancelling one job** works for jobs on the ``queue`` executor: see
:func:`cancel_node`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .context import ControllerContext, context_of
from .errors import check_fields, fail, json_response, read_json, string_field
from .people_api import actor_of
from .state_api import query_flag, store_call

if TYPE_CHECKING:
    from sparkwing.storage.contracts import StateStore
    from sparkwing.storage.nodequeue import NodeQueue, QueuedAttempt
    from sparkwing.storage.records import Run, TriggerRow
    from sparkwing.triggers.request import RunRequest

#: Lease a cancel takes on a queued trigger while it records the cancelled run (seconds).
CANCEL_LEASE_S = 60.0
#: Most retries followed back (``retry_of``) or runs scanned forward for a lineage.
MAX_LINEAGE = 256
MAX_LINEAGE_SCAN = 2000
#: Runs per page while scanning for retries.
SCAN_PAGE = 500


async def _reason(request: web.Request) -> str:
    body = await read_json(request)
    check_fields(body, ("reason",))
    reason = string_field(body, "reason")
    if len(reason) > 1000:
        fail(400, "field 'reason' is longer than 1000 characters", field="reason")
    return " ".join(reason.split())


def _who(request: web.Request) -> str:
    return actor_of(request, {}, "by")


# -- cancel a run ----------------------------------------------------------------------------

def queued_trigger_of(state: StateStore, run_id: str) -> TriggerRow | None:
    """The trigger whose first claim runs as *run_id* (``run-X`` -> ``trg-X``), if any."""
    from sparkwing.triggers.keys import first_run_id

    if not run_id.startswith("run-"):
        return None
    row = state.get_trigger("trg-" + run_id[4:])
    return row if row is not None and first_run_id(row.id) == run_id else None


def _cancelled_run(row: TriggerRow, run_id: str, by: str, reason: str, now: float) -> Run:
    """The record of a trigger's run cancelled before any runner started it."""
    from sparkwing.runs.cancel import NOT_STARTED
    from sparkwing.storage.records import Run
    from sparkwing.triggers.request import RunRequest

    request = RunRequest.from_dict(row.request)
    meta = request.trigger
    return Run(
        id=run_id, pipeline=row.pipeline, status="cancelled", trigger_source=row.source,
        trigger_user=meta.actor, git_branch=request.git_ref.removeprefix("refs/heads/"),
        git_sha=request.git_sha, error=NOT_STARTED + (f": {reason}" if reason else ""),
        created_at=row.created_at, finished_at=now, cancel_requested_at=now,
        profile=request.profile,
        invocation={"trigger": {**meta.to_dict(), "id": row.id}, "cancelled_by": by},
    )


def _record_cancelled(state: StateStore, row: TriggerRow, run_id: str, by: str, reason: str,
                      now: float) -> bool:
    """Record the cancelled run; ``False`` when a runner recorded the run first."""
    from sparkwing import events
    from sparkwing.errors import ConflictError
    from sparkwing.runs.cancel import cancel_payload

    run = _cancelled_run(row, run_id, by, reason, now)
    try:
        state.create_run(run)
    except ConflictError:
        return False
    state.append_event(run_id, events.CANCEL_REQUESTED, cancel_payload(by, reason), ts=now)
    state.append_event(run_id, events.RUN_FINISHED, {"status": "cancelled", "error": run.error},
                       ts=now)
    return True


def cancel_run_by_id(state: StateStore, run_id: str, *, by: str, reason: str = "",
                     now: float | None = None) -> str | None:
    """Cancel run *run_id*, or its trigger while no runner started it; ``None``: unknown.

    Returns what :func:`sparkwing.runs.cancel.request_cancel` returns.
    """
    from sparkwing.runs.cancel import CANCELLED, FINISHED, request_cancel

    when = time.time() if now is None else now
    run = state.get_run(run_id)
    if run is not None:
        return request_cancel(state, run, by=by, reason=reason, now=when)
    row = queued_trigger_of(state, run_id)
    if row is None:
        return None
    if row.status == "pending":
        holder = f"cancel:{by}"
        claimed = state.claim_trigger(holder, lease_s=CANCEL_LEASE_S, now=when,
                                      trigger_id=row.id)
        if claimed is not None:
            _record_cancelled(state, claimed, run_id, by, reason, when)
            state.finish_trigger(row.id, holder, status="done", now=when, run_id=run_id,
                                 claims=claimed.claims)
            return CANCELLED
        row = state.get_trigger(row.id) or row  # a runner claimed it meanwhile
    if row.status == "claimed" and row.claims == 1 and _record_cancelled(
            state, row, run_id, by, reason, when):
        return CANCELLED
    run = state.get_run(run_id)
    if run is not None:
        return request_cancel(state, run, by=by, reason=reason, now=when)
    return FINISHED  # the trigger ended without this run: nothing to stop


async def cancel_run(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/cancel`` ``{reason}``: ask the run to stop; **204**.

    Idempotent: a run already cancelled, or whose cancel was requested,
    answers 204 again. 404 for a run (or queued trigger) the controller
    does not know; 409 ``conflict`` for a run that finished otherwise.
    """
    from sparkwing.runs.cancel import FINISHED

    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    reason = await _reason(request)
    done = await ctx.state_call(cancel_run_by_id, ctx.state, run_id, by=_who(request),
                                reason=reason)
    if done is None:
        fail(404, f"no run {run_id!r}")
    if done == FINISHED:
        run = await ctx.state_call(ctx.state.get_run, run_id)
        if run is None or run.status != "cancelled":
            what = run.status if run is not None else "its trigger ended without it"
            fail(409, f"run {run_id} already finished ({what}); nothing to cancel", "conflict")
    return web.Response(status=204)


# -- retry ------------------------------------------------------------------------------------

def retry_request(state: StateStore, run: Run, *, full: bool, actor: str) -> RunRequest:
    """The run request that retries *run*: its trigger's request when it has one, else its record.

    A run of a trigger repeats the trigger's inputs, ref, commit and profile
    (secret inputs included, as they were sent); any other run repeats its
    recorded inputs without the secret ones (stored redacted).
    """
    from sparkwing.runs.retry import retry_inputs, retry_trigger
    from sparkwing.triggers.request import RunRequest

    meta = retry_trigger(run.id, reuse_passed=not full, actor=actor,
                         extra={"retry_source": "manual"})
    trigger_id = str(((run.invocation or {}).get("trigger") or {}).get("id") or "")
    row = state.get_trigger(trigger_id) if trigger_id else None
    if row is not None:
        sent = RunRequest.from_dict(row.request)
        return RunRequest(pipeline=run.pipeline, inputs=dict(sent.inputs),
                          git_ref=sent.git_ref, git_sha=sent.git_sha or run.git_sha,
                          trigger=meta, profile=sent.profile)
    inputs, _secret = retry_inputs(run)
    ref = f"refs/heads/{run.git_branch}" if run.git_branch else ""
    return RunRequest(pipeline=run.pipeline, inputs=inputs, git_ref=ref, git_sha=run.git_sha,
                      trigger=meta)


def _code_known(ctx: ControllerContext, sha: str) -> bool:
    from .code import CodeStore

    return bool(CodeStore(ctx.stores.cache).known([sha]))


async def retry_run(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/retry[?full=1]``: queue a new run of a finished run; **202**.

    Answers the new run's summary ``{id, pipeline, status: "pending",
    trigger_id, trigger_source: "retry", git_branch, git_sha, retry_of,
    full}``; its id is known at once (the trigger's first run id). 404 for
    an unknown run; 409 ``conflict`` while the run is live, or when its
    commit was never sent to this controller (a runner could not run it).
    """
    from sparkwing.errors import SparkwingError
    from sparkwing.triggers.keys import first_run_id

    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    full = query_flag(request, "full")
    check_fields(await read_json(request), ())  # no body: an empty one or {}
    run = await ctx.state_call(ctx.state.get_run, run_id)
    if run is None:
        fail(404, f"no run {run_id!r}")
    if not run.terminal:
        fail(409, f"run {run_id} is still {run.status}; wait for it or cancel it first",
             "conflict")
    run_request = await store_call(request, retry_request, ctx.state, run, full=full,
                                   actor=_who(request))
    sha = run_request.git_sha
    if not sha or not await ctx.state_call(_code_known, ctx, sha):
        fail(409, f"run {run_id} ran commit {sha[:12] or '(none recorded)'}, which was never "
                  "sent to this controller, so no runner can run it again; start it with "
                  "`sparkwing pipeline trigger` from its checkout", "conflict")
    try:
        result = await ctx.dispatch(run_request)
    except SparkwingError as exc:
        fail(400, " ".join(str(exc).split()))
    row = result.row
    return json_response({
        "id": first_run_id(row.id), "pipeline": run.pipeline, "status": "pending",
        "trigger_id": row.id, "trigger_source": row.source,
        "git_branch": run_request.git_ref.removeprefix("refs/heads/"),
        "git_sha": run_request.git_sha, "retry_of": run.id, "full": full,
        "created_at": row.created_at,
    }, 202)


# -- lineage ------------------------------------------------------------------------------------

def lineage(state: StateStore, run_id: str) -> list[dict[str, Any]] | None:
    """The retry lineage of *run_id*, oldest first; ``None`` when the run is unknown.

    Back along ``retry_of`` to the first run, then forward over the
    pipeline's runs since it (at most :data:`MAX_LINEAGE_SCAN` of them),
    then the retries still queued (``pending`` or ``claimed`` retry
    triggers, shown as ``pending`` runs under their first run id).
    """
    from sparkwing.runs.retry import RETRY_SOURCE
    from sparkwing.storage.records import RunFilter
    from sparkwing.triggers.keys import first_run_id
    from sparkwing.views import run_view

    run = state.get_run(run_id)
    if run is None:
        return None
    chain = [run]
    while chain[0].retry_of and len(chain) < MAX_LINEAGE:
        earlier = state.get_run(chain[0].retry_of)
        if earlier is None or any(r.id == earlier.id for r in chain):
            break
        chain.insert(0, earlier)
    root = chain[0]
    members = {r.id: r for r in chain}
    scanned: list[Run] = []
    before = ""
    while len(scanned) < MAX_LINEAGE_SCAN:
        page = state.list_runs(RunFilter(pipelines=[root.pipeline], since=root.created_at,
                                         before_id=before, limit=SCAN_PAGE))
        scanned.extend(page)
        if len(page) < SCAN_PAGE:
            break
        before = page[-1].id
    for later in sorted(scanned, key=lambda r: (r.created_at, r.id)):
        if later.retry_of in members and later.id not in members:
            members[later.id] = later
    out = [run_view(r, full=False) for r in sorted(members.values(),
                                                   key=lambda r: (r.created_at, r.id))]
    for status in ("pending", "claimed"):
        for row in state.list_triggers(source=RETRY_SOURCE, status=status, limit=0):
            extra = ((row.request or {}).get("trigger") or {}).get("extra") or {}
            new_id = first_run_id(row.id)
            if extra.get("retry_of") in members and new_id not in members:
                out.append({"id": new_id, "pipeline": row.pipeline, "status": "pending",
                            "trigger_id": row.id, "trigger_source": row.source,
                            "retry_of": extra.get("retry_of"), "created_at": row.created_at,
                            "terminal": False})
    return out


async def run_attempts(request: web.Request) -> web.Response:
    """``GET /runs/{run_id}/attempts``: ``{runs: [...]}``, the retry lineage oldest first; 404."""
    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    runs = await ctx.state_call(lineage, ctx.state, run_id)
    if runs is None:
        fail(404, f"no run {run_id!r}")
    return json_response({"runs": runs})


# -- cancel one job ---------------------------------------------------------------------------

def node_executor(run: Run, node_id: str) -> str:
    """The executor *node_id* of *run* runs on: its plan's ``.executor(...)``, else the run's."""
    engine = (run.invocation or {}).get("engine") or {}
    default = str(engine.get("executor") or "local")
    for node in (run.plan or {}).get("nodes") or []:
        if isinstance(node, dict) and node.get("id") == node_id:
            return str((node.get("modifiers") or {}).get("executor") or default)
    return default


def _cancel_attempt(queue: NodeQueue, run_id: str, node_id: str, by: str, reason: str,
                    now: float) -> QueuedAttempt:
    """Cancel the node's current attempt on the queue, or its next one when none is live."""
    from sparkwing.storage.nodequeue import FINISHED

    latest = queue.latest(run_id, node_id)
    attempt = 1 if latest is None else (
        latest.attempt + 1 if latest.status == FINISHED else latest.attempt)
    error = f"{node_id}: cancelled by {by}" + (f": {reason}" if reason else "")
    return queue.cancel(run_id, node_id, attempt, now=now, error=error)


async def cancel_node(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/nodes/{node_id}/cancel`` ``{reason}``: stop one job; 200 ``{attempt}``.

    Only jobs on the ``queue`` executor can be stopped one by one (others
    run inside the orchestrator's process: 409, cancel the run instead).
    The job's current attempt is cancelled on the node queue: a ready one
    ends ``cancelled`` at once, a claimed one is stopped by its runner
    (the node heartbeat says so; SIGTERM to ``node exec``, which records
    ``cancelled``), and a job not queued yet (waiting for its dependencies,
    or for its next retry) gets its next attempt recorded cancelled, so it
    never reaches a runner. A cancelled attempt is not retried; the rest of
    the run carries on as after any cancelled job (its dependents do not
    run, and the run ends ``failed`` unless the job is optional). Answers
    the attempt's queue row; 404 for an unknown run or job, 409 when the
    run or the job already finished (a job already cancelled: 200 again).
    """
    ctx = context_of(request)
    run_id, node_id = request.match_info["run_id"], request.match_info["node_id"]
    reason = await _reason(request)
    if ctx.nodes is None:
        fail(503, "this controller has no node queue", "unavailable")
    run = await ctx.state_call(ctx.state.get_run, run_id)
    if run is None:
        fail(404, f"no run {run_id!r}")
    node = await ctx.state_call(ctx.state.get_node, run_id, node_id)
    if node is None:
        fail(404, f"no job {node_id!r} in run {run_id!r}")
    if node.status == "done":
        if node.outcome == "cancelled":
            latest = await ctx.queue_call(ctx.nodes.latest, run_id, node_id)
            return json_response({"attempt": latest.to_dict() if latest else None})
        fail(409, f"job {node_id} of run {run_id} already finished ({node.outcome})", "conflict")
    if run.terminal:
        fail(409, f"run {run_id} already finished ({run.status})", "conflict")
    executor = node_executor(run, node_id)
    if executor != "queue":
        fail(409, f"job {node_id} runs on the {executor!r} executor, inside the process of run "
                  f"{run_id}, not on the node queue: only jobs on the queue executor can be "
                  f"cancelled one by one; cancel the run (POST /api/v1/runs/{run_id}/cancel)",
             "conflict")
    from sparkwing import events
    from sparkwing.runs.cancel import cancel_payload

    who, now = _who(request), time.time()
    row = await ctx.queue_call(_cancel_attempt, ctx.nodes, run_id, node_id, who, reason, now)
    await ctx.state_call(ctx.state.append_event, run_id, events.CANCEL_REQUESTED,
                         {**cancel_payload(who, reason), "attempt": row.attempt},
                         node_id=node_id, ts=now)
    return json_response({"attempt": row.to_dict()})

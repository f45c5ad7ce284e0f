"""Handlers of the work-queue routes: trigger claims and the node claim queue.

Listed with their scopes in :mod:`.routes`; the rules (FIFO, labels,
leases, fencing, the reaper) are in :mod:`sparkwing.storage.nodequeue` and
:mod:`.leases`, and docs/controller.md says it for people.

Every claim answers with its fencing token (``claim_seq``) and the lease
advice (``lease_secs``, ``heartbeat_secs``). Every later call about that
claim carries ``holder`` and ``seq``; a call that is no longer about the
current claim is refused (trigger heartbeat: 404 when the row is no
longer claimed, 409 when someone else holds it; node calls: 409
``claim_lost``), and the runner must stop the work at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from aiohttp import web

from .api import PRINCIPAL_KEY
from .context import ControllerContext, context_of
from .errors import check_fields, fail, json_response, read_json, string_field

if TYPE_CHECKING:
    from sparkwing.storage.nodequeue import NodeQueue, QueuedAttempt
    from sparkwing.storage.records import TriggerRow

#: Longest holder name accepted.
MAX_HOLDER = 200
#: Most labels / filter values a body may carry.
MAX_ITEMS = 64
#: Rows per page of the list routes by default, and the most allowed.
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 500
#: Error code of a fenced call that is not about the current claim.
CLAIM_LOST = "claim_lost"
#: Longest claim request id accepted (the client's are 32 hex characters).
MAX_REQUEST_ID = 100


# -- body fields ------------------------------------------------------------------------------

def _holder(request: web.Request, body: Mapping[str, Any], *, required: bool) -> str:
    """``holder`` of *body*; when optional and absent, the token's ``kind:name``."""
    holder = string_field(body, "holder", required=required)
    if not holder:
        principal = request.get(PRINCIPAL_KEY)
        holder = principal.label if principal is not None else "anonymous"
    if len(holder) > MAX_HOLDER:
        fail(400, f"field 'holder' is longer than {MAX_HOLDER} characters", field="holder")
    return holder


def _request_id(body: Mapping[str, Any]) -> str:
    """``request_id`` of *body* (``""`` when absent): printable, no spaces, bounded."""
    value = string_field(body, "request_id")
    if value and (len(value) > MAX_REQUEST_ID or not value.isascii() or not value.isprintable()
                  or " " in value):
        fail(400, f"field 'request_id' must be at most {MAX_REQUEST_ID} printable ASCII "
                  "characters without spaces", field="request_id")
    return value


def _int(body: Mapping[str, Any], key: str, *, required: bool = False, default: int = 0,
         minimum: int = 0) -> int:
    value = body.get(key)
    if value is None:
        if required:
            fail(400, f"field {key!r} is required", field=key)
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        fail(400, f"field {key!r} must be an integer of at least {minimum}", field=key)
    return value


def _strings(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if (not isinstance(value, list) or len(value) > MAX_ITEMS
            or not all(isinstance(v, str) and v.strip() for v in value)):
        fail(400, f"field {key!r} must be a list of at most {MAX_ITEMS} non-empty strings",
             field=key)
    return [v.strip() for v in value]


def _lease(ctx: ControllerContext, body: Mapping[str, Any]) -> float:
    """``lease_secs`` of *body* (the controller's lease when absent), within bounds."""
    from .leases import MAX_LEASE_S, MIN_LEASE_S

    value = body.get("lease_secs")
    if value is None:
        return ctx.leases.lease_s
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            MIN_LEASE_S <= value <= MAX_LEASE_S):
        fail(400, f"field 'lease_secs' must be a number from {MIN_LEASE_S:g} to "
                  f"{MAX_LEASE_S:g}", field="lease_secs")
    return float(value)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "").strip()
    if not raw:
        return DEFAULT_LIST_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        fail(400, f"query parameter 'limit' must be an integer from 1 to {MAX_LIST_LIMIT}",
             field="limit")
    return int(raw)


async def _cancel_requested(ctx: ControllerContext, run_id: str) -> bool:
    if not run_id:
        return False
    run = await ctx.state_call(ctx.state.get_run, run_id)
    return run is not None and run.cancel_requested_at is not None


# -- triggers -----------------------------------------------------------------------------------

def _trigger_claim(ctx: ControllerContext, row: TriggerRow, lease_s: float) -> dict[str, Any]:
    from sparkwing.triggers.views import trigger_view

    return {**trigger_view(row), "claim_seq": row.claims, "holder": row.claimed_by,
            **ctx.leases.advice(lease_s)}


async def claim_trigger(request: web.Request) -> web.StreamResponse:
    """Claim the oldest pending trigger (FIFO), optionally of some pipelines/sources.

    Body (optional) ``{holder, pipelines[], sources[], lease_secs,
    request_id}`` -> 200 the trigger row with ``claim_seq``, ``holder``,
    ``lease_secs`` and ``heartbeat_secs``; **204** when nothing matches. A
    ``request_id`` the same holder sent before answers that claim again
    while it is current, 204 once it ended.
    """
    ctx = context_of(request)
    body = await read_json(request)
    check_fields(body, ("holder", "pipelines", "sources", "lease_secs", "request_id"))
    holder = _holder(request, body, required=False)
    lease_s = _lease(ctx, body)
    row = await ctx.state_call(ctx.state.claim_trigger, holder, lease_s=lease_s,
                               now=time.time(), pipelines=_strings(body, "pipelines"),
                               sources=_strings(body, "sources"),
                               request_id=_request_id(body))
    if row is None:
        return web.Response(status=204)
    return json_response(_trigger_claim(ctx, row, lease_s))


async def _trigger_refusal(ctx: ControllerContext, trigger_id: str, holder: str,
                           seq: int) -> NoReturn:
    """Raise the right refusal for a fenced trigger call that changed nothing."""
    row = await ctx.state_call(ctx.state.get_trigger, trigger_id)
    if row is None:
        fail(404, f"no trigger {trigger_id!r}")
    if row.status != "claimed":
        fail(404, f"trigger {trigger_id} is {row.status}, not claimed: stop working on it")
    fail(409, f"trigger {trigger_id} is claimed by {row.claimed_by} (claim {row.claims}), not "
              f"by {holder} (claim {seq}): stop working on it", CLAIM_LOST)


async def heartbeat_trigger(request: web.Request) -> web.Response:
    """Extend the lease of a claimed trigger, fenced by ``holder`` and ``seq``.

    Body ``{holder*, seq*, lease_secs, run_id}`` -> 200 ``{cancel_requested,
    lease_expires_at, lease_secs, heartbeat_secs}`` (``cancel_requested``:
    the run ``run_id`` names, once started, was asked to stop). 404 when the
    row is no longer claimed, 409 when another claim holds it: stop.
    """
    ctx = context_of(request)
    trigger_id = request.match_info["trigger_id"]
    body = await read_json(request)
    check_fields(body, ("holder", "seq", "lease_secs", "run_id"))
    holder = _holder(request, body, required=True)
    seq = _int(body, "seq", required=True, minimum=1)
    lease_s = _lease(ctx, body)
    expires = time.time() + lease_s
    if not await ctx.state_call(ctx.state.renew_trigger, trigger_id, holder, expires,
                                claims=seq):
        await _trigger_refusal(ctx, trigger_id, holder, seq)
    cancel = await _cancel_requested(ctx, string_field(body, "run_id"))
    return json_response({"cancel_requested": cancel, "lease_expires_at": expires,
                          **ctx.leases.advice(lease_s)})


async def finish_trigger(request: web.Request) -> web.Response:
    """End a trigger claim, fenced: ``done`` with the run it started, or ``failed``.

    Body ``{holder*, seq*, status: "done"|"failed", run_id, error}`` -> 204.
    Repeating a finish that took effect answers 204 again; a finish of a
    claim that is no longer current is refused (404/409).
    """
    ctx = context_of(request)
    trigger_id = request.match_info["trigger_id"]
    body = await read_json(request)
    check_fields(body, ("holder", "seq", "status", "run_id", "error"))
    holder = _holder(request, body, required=True)
    seq = _int(body, "seq", required=True, minimum=1)
    status = string_field(body, "status") or "done"
    if status not in ("done", "failed"):
        fail(400, f"field 'status' must be 'done' or 'failed', not {status!r}", field="status")
    run_id = string_field(body, "run_id")
    error = string_field(body, "error")
    if await ctx.state_call(ctx.state.finish_trigger, trigger_id, holder, status=status,
                            now=time.time(), run_id=run_id, error=error, claims=seq):
        return web.Response(status=204)
    row = await ctx.state_call(ctx.state.get_trigger, trigger_id)
    if row is not None and (row.status, row.claims, row.run_id, row.error) == (
            status, seq, run_id, error):
        return web.Response(status=204)  # this finish, repeated
    await _trigger_refusal(ctx, trigger_id, holder, seq)


async def list_triggers(request: web.Request) -> web.Response:
    """``{triggers: [...]}`` newest first; ``status``, ``pipeline``, ``source``, ``limit``."""
    from sparkwing.triggers.views import trigger_view

    ctx = context_of(request)
    rows = await ctx.state_call(
        ctx.state.list_triggers, pipeline=request.query.get("pipeline", "").strip(),
        status=request.query.get("status", "").strip(),
        source=request.query.get("source", "").strip(), limit=_limit(request))
    return json_response({"triggers": [trigger_view(r) for r in rows]})


async def get_trigger(request: web.Request) -> web.Response:
    """One trigger row, or 404."""
    from sparkwing.triggers.views import trigger_view

    ctx = context_of(request)
    trigger_id = request.match_info["trigger_id"]
    row = await ctx.state_call(ctx.state.get_trigger, trigger_id)
    if row is None:
        fail(404, f"no trigger {trigger_id!r}")
    return json_response(trigger_view(row))


# -- the node claim queue -------------------------------------------------------------------------

def _queue(ctx: ControllerContext) -> NodeQueue:
    if ctx.nodes is None:
        fail(503, "this controller has no node queue", "unavailable")
    return ctx.nodes


def _attempt_claim(ctx: ControllerContext, row: QueuedAttempt, lease_s: float) -> dict[str, Any]:
    return {**row.to_dict(), "holder": row.claimed_by, **ctx.leases.advice(lease_s)}


async def _attempt_of(ctx: ControllerContext, run_id: str, node_id: str,
                      body: Mapping[str, Any]) -> int:
    """The ``attempt`` of *body*, or the node's latest queued attempt; 404 when it has none."""
    attempt = _int(body, "attempt", minimum=1)
    if attempt:
        return attempt
    latest = await ctx.queue_call(_queue(ctx).latest, run_id, node_id)
    if latest is None:
        fail(404, f"node {run_id}/{node_id} has no queued attempt")
    return latest.attempt


async def _claim_refusal(ctx: ControllerContext, run_id: str, node_id: str, attempt: int,
                         holder: str, seq: int) -> NoReturn:
    """Raise 404 (no such attempt) or 409 ``claim_lost`` naming what happened to the claim."""
    row = await ctx.queue_call(_queue(ctx).get, run_id, node_id, attempt)
    where = f"node {run_id}/{node_id} attempt {attempt}"
    if row is None:
        fail(404, f"{where} was never queued")
    if row.status == "claimed":
        now = f"claimed by {row.claimed_by} (claim {row.claim_seq})"
    elif row.status == "finished":
        now = (f"finished ({row.outcome}{', ' + row.failure_reason if row.failure_reason else ''}"
               f", claim {row.claim_seq} by {row.claimed_by})")
    else:
        now = row.status
    fail(409, f"{where} is {now}, not held by {holder} (claim {seq}): stop its work",
         CLAIM_LOST)


async def mark_ready(request: web.Request) -> web.Response:
    """Queue a node attempt for runners (its FIFO place is kept across revoke).

    Body ``{attempt (default 1), needs_labels[]}`` -> 200 the queue row;
    404 when the run has no such node.
    """
    ctx = context_of(request)
    run_id, node_id = request.match_info["run_id"], request.match_info["node_id"]
    body = await read_json(request)
    check_fields(body, ("attempt", "needs_labels"))
    attempt = _int(body, "attempt", default=1, minimum=1)
    needs = _strings(body, "needs_labels")
    queue = _queue(ctx)
    if await ctx.state_call(ctx.state.get_node, run_id, node_id) is None:
        fail(404, f"no node {node_id!r} in run {run_id!r}")
    row = await ctx.queue_call(queue.enqueue, run_id, node_id, attempt, needs_labels=needs,
                               now=time.time())
    return json_response(row.to_dict())


async def revoke_ready(request: web.Request) -> web.Response:
    """Take a ready attempt off the queue if nobody claimed it: 200 ``{revoked, attempt}``.

    Body ``{attempt}`` (default: the node's latest attempt).
    """
    ctx = context_of(request)
    run_id, node_id = request.match_info["run_id"], request.match_info["node_id"]
    body = await read_json(request)
    check_fields(body, ("attempt",))
    queue = _queue(ctx)
    attempt = _int(body, "attempt", minimum=1)
    if not attempt:
        latest = await ctx.queue_call(queue.latest, run_id, node_id)
        if latest is None:
            return json_response({"revoked": False, "attempt": None})
        attempt = latest.attempt
    revoked = await ctx.queue_call(queue.revoke, run_id, node_id, attempt, now=time.time())
    return json_response({"revoked": revoked, "attempt": attempt})


async def claim_node(request: web.Request) -> web.StreamResponse:
    """Claim the oldest ready attempt the runner's labels satisfy.

    Body ``{holder*, labels[], lease_secs, request_id}`` -> 200 the attempt
    with ``claim_seq``, ``holder``, ``lease_secs`` and ``heartbeat_secs``;
    **204** when nothing is claimable for these labels. A ``request_id``
    the same holder sent before answers that claim again while it is
    current (a retry whose first answer was lost), 204 once it ended.
    """
    ctx = context_of(request)
    body = await read_json(request)
    check_fields(body, ("holder", "labels", "lease_secs", "request_id"))
    holder = _holder(request, body, required=True)
    labels = _strings(body, "labels")
    lease_s = _lease(ctx, body)
    row = await ctx.queue_call(_queue(ctx).claim, holder, labels, lease_s=lease_s,
                               now=time.time(), request_id=_request_id(body))
    if row is None:
        return web.Response(status=204)
    return json_response(_attempt_claim(ctx, row, lease_s))


async def heartbeat_node(request: web.Request) -> web.Response:
    """Extend a node claim, fenced by ``holder`` and ``seq``.

    Body ``{holder*, seq*, attempt, lease_secs}`` -> 200 ``{lease_expires_at,
    cancel_requested, lease_secs, heartbeat_secs}`` (``cancel_requested``: the
    attempt itself or its run was cancelled); **409** ``claim_lost``
    when it is not the current claim any more: the runner must kill the work.
    """
    ctx = context_of(request)
    run_id, node_id = request.match_info["run_id"], request.match_info["node_id"]
    body = await read_json(request)
    check_fields(body, ("holder", "seq", "attempt", "lease_secs"))
    holder = _holder(request, body, required=True)
    seq = _int(body, "seq", required=True, minimum=1)
    lease_s = _lease(ctx, body)
    attempt = await _attempt_of(ctx, run_id, node_id, body)
    row = await ctx.queue_call(_queue(ctx).heartbeat, run_id, node_id, attempt, holder, seq,
                               lease_s=lease_s, now=time.time())
    if row is None:
        await _claim_refusal(ctx, run_id, node_id, attempt, holder, seq)
    cancel = row.cancel_requested_at is not None or await _cancel_requested(ctx, run_id)
    return json_response({"lease_expires_at": row.lease_expires_at,
                          "cancel_requested": cancel,
                          **ctx.leases.advice(lease_s)})


async def release_node(request: web.Request) -> web.Response:
    """Give a node claim back (it becomes ready again, FIFO place kept), fenced.

    Body ``{holder*, seq*, attempt}`` -> 200 ``{released: true}``; 409 ``claim_lost``.
    """
    ctx = context_of(request)
    run_id, node_id = request.match_info["run_id"], request.match_info["node_id"]
    body = await read_json(request)
    check_fields(body, ("holder", "seq", "attempt"))
    holder = _holder(request, body, required=True)
    seq = _int(body, "seq", required=True, minimum=1)
    attempt = await _attempt_of(ctx, run_id, node_id, body)
    if not await ctx.queue_call(_queue(ctx).release, run_id, node_id, attempt, holder, seq,
                                now=time.time()):
        await _claim_refusal(ctx, run_id, node_id, attempt, holder, seq)
    return json_response({"released": True})


async def finish_node(request: web.Request) -> web.Response:
    """Record the result of a node claim, fenced by ``holder`` and ``seq``.

    Body ``{holder*, seq*, attempt, outcome*, exit_code, error,
    failure_reason}`` -> 200 the finished queue row. Repeating a finish that
    took effect answers 200 again; otherwise 409 ``claim_lost``.
    """
    from sparkwing.storage.records import NODE_OUTCOMES

    ctx = context_of(request)
    run_id, node_id = request.match_info["run_id"], request.match_info["node_id"]
    body = await read_json(request)
    check_fields(body, ("holder", "seq", "attempt", "outcome", "exit_code", "error",
                        "failure_reason"))
    holder = _holder(request, body, required=True)
    seq = _int(body, "seq", required=True, minimum=1)
    outcome = string_field(body, "outcome", required=True)
    if outcome not in NODE_OUTCOMES:
        fail(400, f"field 'outcome' {outcome!r}: expected one of {', '.join(NODE_OUTCOMES)}",
             field="outcome")
    exit_code = body.get("exit_code")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        fail(400, "field 'exit_code' must be an integer", field="exit_code")
    error = string_field(body, "error")
    reason = string_field(body, "failure_reason")
    attempt = await _attempt_of(ctx, run_id, node_id, body)
    queue = _queue(ctx)
    row = await ctx.queue_call(queue.finish, run_id, node_id, attempt, holder, seq,
                               outcome=outcome, now=time.time(), exit_code=exit_code,
                               error=error, failure_reason=reason)
    if row is None:
        row = await ctx.queue_call(queue.get, run_id, node_id, attempt)
        if row is None or (row.status, row.claimed_by, row.claim_seq, row.outcome,
                           row.exit_code, row.error, row.failure_reason) != (
                "finished", holder, seq, outcome, exit_code, error, reason):
            await _claim_refusal(ctx, run_id, node_id, attempt, holder, seq)
    assert row is not None
    return json_response(row.to_dict())


async def list_queue(request: web.Request) -> web.Response:
    """``{attempts: [...]}`` in queue order; ``run_id``, ``status``, ``holder``, ``limit``."""
    from sparkwing.storage.nodequeue import STATUSES

    ctx = context_of(request)
    status = request.query.get("status", "").strip()
    if status and status not in STATUSES:
        fail(400, f"query parameter 'status' {status!r}: expected one of {', '.join(STATUSES)}",
             field="status")
    rows = await ctx.queue_call(_queue(ctx).list_attempts,
                                run_id=request.query.get("run_id", "").strip(), status=status,
                                holder=request.query.get("holder", "").strip(),
                                limit=_limit(request))
    return json_response({"attempts": [r.to_dict() for r in rows]})

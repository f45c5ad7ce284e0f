"""What people do to a live run through the controller: decide an approval, release a pause.

The state routes (:mod:`.state_api`) are the :class:`StateStore` contract,
one call each, scoped for runners (``runs.report``). A person's decision
is more than one call: deciding a gate also records the
``approval_resolved`` event, and both must name who decided. These routes
do the whole action in the controller, with the people's scopes, and
record the caller's principal (``user:ada``) as who acted whenever auth is
on (what the body says is used only on an open controller).
:class:`sparkwing.storage.controller.state.ControllerStateStore` sends
``sparkwing runs approvals approve|deny``, ``sparkwing debug release`` and
the dashboard's buttons here.

| Route | Scope |
|---|---|
| POST ``/api/v1/runs/{run_id}/approvals/{node_id}/decide`` | ``approvals.write`` |
| POST ``/api/v1/runs/{run_id}/nodes/{node_id}/debug-pause/manual-release`` | ``runs.write`` |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .api import PRINCIPAL_KEY
from .context import context_of
from .errors import check_fields, fail, json_response, read_json
from .state_api import store_call

if TYPE_CHECKING:
    from sparkwing.storage.records import Approval


def actor_of(request: web.Request, body: dict[str, Any], key: str) -> str:
    """Who acts: the caller's principal with auth on, else the body's *key* (or ``unknown``)."""
    principal = request.get(PRINCIPAL_KEY)
    if principal is not None:
        return str(principal.label)
    value = body.get(key, "")
    if not isinstance(value, str):
        fail(400, f"field {key!r} must be a string", field=key)
    return value or "unknown"


def _decide(state: Any, run_id: str, node_id: str, resolution: str, who: str,
            comment: str) -> Approval:
    """Resolve and record the event; an already decided gate is a conflict (409)."""
    from sparkwing.errors import StoreError
    from sparkwing.orchestrator.approvals import ApprovalResolvedError, resolve

    try:
        return resolve(state, run_id, node_id, resolution, who, comment)
    except ApprovalResolvedError as exc:
        raise StoreError(str(exc)) from None


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        fail(400, f"field {key!r} must be a string", field=key)
    return value


async def decide_approval(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/approvals/{node_id}/decide``: ``{resolution*, comment, approver}``.

    Resolves the gate and records the ``approval_resolved`` event, as
    :func:`sparkwing.orchestrator.approvals.resolve` does locally. Answers
    ``{approval}`` (the resolved record); 404 ``not_found`` for an unknown
    gate, 409 ``conflict`` when it was already decided, 400 ``rejected``
    for a resolution other than ``approved``/``denied``.
    """
    body = await read_json(request)
    check_fields(body, ("resolution", "comment", "approver"))
    if "resolution" not in body:
        fail(400, "field 'resolution' is required", field="resolution")
    resolution = _text(body, "resolution")
    who = actor_of(request, body, "approver")
    approval = await store_call(request, _decide, context_of(request).state,
                                request.match_info["run_id"], request.match_info["node_id"],
                                resolution, who, _text(body, "comment"))
    return json_response({"approval": approval.to_dict()})


async def manual_release(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/nodes/{node_id}/debug-pause/manual-release``: ``{by, now*}``.

    Releases a held debug pause (kind ``manual``) at the caller's *now*,
    as the state routes take times. Answers ``{released}`` (false: no such
    pause, or not held).
    """
    body = await read_json(request)
    check_fields(body, ("by", "now"))
    now = body.get("now")
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        fail(400, "field 'now' must be a number", field="now")
    who = actor_of(request, body, "by")
    ok = await store_call(request, context_of(request).state.release_pause,
                          request.match_info["run_id"], request.match_info["node_id"], who,
                          "manual", float(now))
    return json_response({"released": bool(ok)})

"""Handlers of the controller's ``/api/v1`` routes (listed, with scopes, in :mod:`.routes`)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .context import context_of
from .errors import check_fields, fail, json_response, object_field, read_json, string_field
from .tokens import Principal

#: Runs per page of ``GET /api/v1/runs`` unless ``limit`` says otherwise, and the most allowed.
DEFAULT_RUNS_LIMIT = 20
MAX_RUNS_LIMIT = 500
#: Events per page of ``GET /api/v1/runs/{id}/events`` by default, and the most allowed.
DEFAULT_EVENTS_LIMIT = 500
MAX_EVENTS_LIMIT = 5000
#: Principal key on a request (set by the auth middleware; ``None`` when auth is off).
PRINCIPAL_KEY: web.RequestKey[Principal] = web.RequestKey("sparkwing_principal", Principal)


def _int_param(request: web.Request, name: str, default: int, *, minimum: int,
               maximum: int) -> int:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    if not raw.lstrip("-").isdigit():
        fail(400, f"query parameter {name!r} must be an integer", field=name)
    value = int(raw)
    if not minimum <= value <= maximum:
        fail(400, f"query parameter {name!r} must be from {minimum} to {maximum}", field=name)
    return value


def _csv(request: web.Request, name: str) -> list[str]:
    return [v.strip() for raw in request.query.getall(name, []) for v in raw.split(",")
            if v.strip()]


# -- health, services, metrics (public) ---------------------------------------------------

async def health(request: web.Request) -> web.Response:
    """``{"status": "ok"|"degraded", "auth", "profile", "problems": [...]}``: 200 either way
    (see :mod:`.healthchecks`); 503 if reading the state store fails."""
    from . import healthchecks

    ctx = context_of(request)
    try:
        problems = await ctx.state_call(healthchecks.problems, ctx.state, time.time())
    except Exception as exc:
        fail(503, f"state store unreachable: {' '.join(str(exc).split())}", "unavailable")
    await ctx.auth_enforced()
    return json_response({"status": "degraded" if problems else "ok", "auth": ctx.auth_mode,
                          "profile": ctx.profile_name, "problems": problems})


async def services(request: web.Request) -> web.Response:
    """The URLs of companion services; 404 when none is configured."""
    ctx = context_of(request)
    if not ctx.services:
        fail(404, "no companion services are configured")
    return json_response(dict(ctx.services))


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: request counters plus queued and claimed trigger rows.

    Only ``pending`` and ``claimed`` are counted: they are bounded by the
    queue, while ``done``/``failed`` rows grow for ever (the state contract
    has no count call yet, so counting means listing).
    """
    ctx = context_of(request)

    def counts() -> dict[str, float]:
        out: dict[str, float] = {}
        for status in ("pending", "claimed"):
            out[status] = float(len(ctx.state.list_triggers(status=status, limit=0)))
        return out

    gauges = {"sparkwing_controller_triggers": ("Queued and claimed trigger rows.",
                                                await ctx.state_call(counts))}
    return web.Response(text=ctx.metrics.render(gauges),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


# -- auth -------------------------------------------------------------------------------------

async def whoami(request: web.Request) -> web.Response:
    """The caller's principal: ``{principal, kind, name, scopes, token_prefix}``.

    A caller logged in with a session (the web UI) also gets ``auth: "session"``,
    the session's ``csrf_token`` (every write must send it) and ``expires_at``.
    """
    from .websession import SESSION_KEY

    principal = request.get(PRINCIPAL_KEY)
    if principal is None:
        return json_response({"principal": "unauthed", "kind": "none", "name": "",
                              "scopes": [], "token_prefix": ""})
    body: dict[str, Any] = {"principal": principal.label, "kind": principal.kind,
                            "name": principal.name, "scopes": list(principal.scopes),
                            "token_prefix": principal.prefix}
    session = request.get(SESSION_KEY)
    if session is not None:
        body.update(auth="session", csrf_token=session.csrf_token, expires_at=session.expires_at)
    response = json_response(body)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- triggers ---------------------------------------------------------------------------------

_TRIGGER_FIELDS = ("pipeline", "inputs", "git", "trigger", "idempotency_key", "profile")
_GIT_FIELDS = ("ref", "sha")
_META_FIELDS = ("source", "actor", "event", "delivery_id", "extra")


async def enqueue_trigger(request: web.Request) -> web.Response:
    """Queue a run request for a runner through the one dispatch function.

    Body ``{pipeline*, inputs{}, git{ref, sha}, trigger{source, actor, event,
    delivery_id, extra{}}, idempotency_key, profile}`` -> **202**
    ``{trigger_id, status, duplicate, trigger}``; a key seen before answers
    200 with the first request's row and ``duplicate: true``.
    """
    from sparkwing.errors import SparkwingError
    from sparkwing.triggers.request import RunRequest, TriggerMeta
    from sparkwing.triggers.views import trigger_view

    ctx = context_of(request)
    body = await read_json(request)
    check_fields(body, _TRIGGER_FIELDS)
    pipeline = string_field(body, "pipeline", required=True)
    inputs = object_field(body, "inputs")
    git = object_field(body, "git", _GIT_FIELDS)
    meta = object_field(body, "trigger", _META_FIELDS)
    principal = request.get(PRINCIPAL_KEY)
    actor = string_field(meta, "actor", where="trigger") or (principal.label if principal else "")
    run_request = RunRequest(
        pipeline=pipeline, inputs=inputs,
        git_ref=string_field(git, "ref", where="git"),
        git_sha=string_field(git, "sha", where="git"),
        trigger=TriggerMeta(
            source=string_field(meta, "source", where="trigger") or "manual", actor=actor,
            event=string_field(meta, "event", where="trigger"),
            delivery_id=string_field(meta, "delivery_id", where="trigger"),
            extra=object_field(meta, "extra", where="trigger"),
        ),
        idempotency_key=string_field(body, "idempotency_key"),
        profile=string_field(body, "profile"),
    )
    try:
        result = await ctx.dispatch(run_request)
    except SparkwingError as exc:
        fail(400, " ".join(str(exc).split()), field="trigger.source")
    row = result.row
    return json_response({"trigger_id": row.id, "status": row.status,
                          "duplicate": result.duplicate, "trigger": trigger_view(row)},
                         202 if result.created else 200)


# -- runs and events ----------------------------------------------------------------------------

def _run_filter(**kwargs: Any) -> Any:
    from sparkwing.storage.records import RunFilter

    return RunFilter(**kwargs)


async def list_runs(request: web.Request) -> web.Response:
    """``{runs: [...]}`` newest first; ``pipeline``/``status`` csv, ``since`` (a duration), ``limit``."""
    from sparkwing.durations import parse_duration
    from sparkwing.views import run_view

    ctx = context_of(request)
    since = None
    if request.query.get("since", "").strip():
        try:
            since = time.time() - parse_duration(request.query["since"].strip(), "since")
        except ValueError as exc:
            fail(400, str(exc), field="since")
    flt = _run_filter(pipelines=_csv(request, "pipeline"), statuses=_csv(request, "status"),
                      since=since, before_id=request.query.get("cursor", "").strip(),
                      limit=_int_param(request, "limit", DEFAULT_RUNS_LIMIT, minimum=1,
                                       maximum=MAX_RUNS_LIMIT))
    runs = await ctx.state_call(ctx.state.list_runs, flt)
    return json_response({"runs": [run_view(r, full=False) for r in runs]})


async def get_run(request: web.Request) -> web.Response:
    """The run (secret inputs redacted); ``?include=nodes`` adds ``nodes``. 404 if unknown."""
    from sparkwing.views import node_views, run_view

    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    include = set(_csv(request, "include"))
    unknown = include - {"nodes"}
    if unknown:
        fail(400, f"include={','.join(sorted(unknown))}: only 'nodes' can be included",
             field="include")

    def load() -> dict[str, Any] | None:
        run = ctx.state.get_run(run_id)
        if run is None:
            return None
        data = run_view(run)
        if "nodes" in include:
            return {"run": data, "nodes": node_views(ctx.state, run_id)}
        return data

    data = await ctx.state_call(load)
    if data is None:
        fail(404, f"no run {run_id!r}")
    return json_response(data)


async def list_events(request: web.Request) -> web.Response:
    """``{events: [...], next_after}`` ascending by ``seq``, after ``?after=SEQ``; 404 if no run."""
    from sparkwing.views import event_view

    ctx = context_of(request)
    run_id = request.match_info["run_id"]
    after = _int_param(request, "after", 0, minimum=0, maximum=2**62)
    limit = _int_param(request, "limit", DEFAULT_EVENTS_LIMIT, minimum=1,
                       maximum=MAX_EVENTS_LIMIT)

    def load() -> list[dict[str, Any]] | None:
        if ctx.state.get_run(run_id) is None:
            return None
        return [event_view(e) for e in ctx.state.list_events(run_id, after, limit)]

    events = await ctx.state_call(load)
    if events is None:
        fail(404, f"no run {run_id!r}")
    next_after = events[-1]["seq"] if events else after
    return json_response({"events": events, "next_after": next_after})

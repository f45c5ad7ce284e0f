"""The controller as a remote state store: one route per :class:`StateStore` call.

A runner or a laptop whose profile points at the controller
(:class:`sparkwing.storage.controller.state.ControllerStateStore`) records
runs, nodes, steps, events, approvals, pauses, memo entries, concurrency
leases and trigger rows through these routes, in the controller's own
state store. Bodies are records in their JSON form
(:mod:`sparkwing.storage.controller.wire`), decoded strictly: an unknown
key is a 400 naming it.

What the store raises becomes one answer of the one error shape:
:class:`~sparkwing.errors.NotFoundError` 404 ``not_found``, another
:class:`~sparkwing.errors.StoreError` 409 ``conflict`` (a duplicate id),
:class:`ValueError` 400 ``invalid`` (an unknown field to update, a bad
resolution), another :class:`~sparkwing.errors.SparkwingError` 400
``rejected``. Single-record reads answer ``{"run": null}`` (and so on)
rather than 404, as the contract returns ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from .api import PRINCIPAL_KEY
from .context import context_of
from .errors import check_fields, fail, json_response, read_json
from .scopes import grants

T = TypeVar("T")

#: Most events one ``POST .../events`` page returns (the client pages beyond it).
MAX_EVENTS = 5000


# -- helpers ---------------------------------------------------------------------------------

async def store_call(request: web.Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a state-store call off the loop, turning its errors into the one error shape."""
    from sparkwing.errors import NotFoundError, SparkwingError, StoreError
    from sparkwing.storage.controller.wire import WireError

    ctx = context_of(request)
    try:
        return await ctx.state_call(fn, *args, **kwargs)
    except NotFoundError as exc:
        fail(404, _one_line(exc), "not_found")
    except StoreError as exc:
        fail(409, _one_line(exc), "conflict")
    except WireError as exc:
        fail(400, _one_line(exc), exc.code, field=exc.field or None)
    except ValueError as exc:
        fail(400, _one_line(exc), "invalid")
    except SparkwingError as exc:
        fail(400, _one_line(exc), "rejected")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _decode(cls: type[T], data: Any, where: str = "") -> T:
    from sparkwing.storage.controller.wire import WireError, record_from

    try:
        return record_from(cls, data, where)
    except WireError as exc:
        fail(400, str(exc), exc.code, field=exc.field or None)


async def _body(request: web.Request, allowed: tuple[str, ...],
                required: tuple[str, ...] = ()) -> dict[str, Any]:
    body = await read_json(request)
    check_fields(body, allowed)
    for key in required:
        if key not in body:
            fail(400, f"field {key!r} is required", field=key)
    return body


def _typed(body: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = body.get(key, default)
    if value is default:
        return value
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        fail(400, f"field {key!r} must be a number", field=key)
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "number"
        fail(400, f"field {key!r} must be of type {names}", field=key)
    return value


def _num(body: dict[str, Any], key: str, default: Any = None) -> Any:
    value = _typed(body, key, (int, float), default)
    if value is None and default is None and key in body:
        fail(400, f"field {key!r} must be a number", field=key)
    return value


def _str(body: dict[str, Any], key: str, default: str = "") -> str:
    value: str = _typed(body, key, str, default)
    return value


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(400, f"field {key!r} must be a list of strings", field=key)
    return value


def query_flag(request: web.Request, name: str) -> bool:
    """A true/false query parameter (``1``/``true``/``yes``, ``0``/``false``/``no``; absent: false)."""
    raw = request.query.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    fail(400, f"query parameter {name!r} must be true or false", field=name)


def _query_num(request: web.Request, name: str) -> float:
    raw = request.query.get(name, "").strip()
    if not raw:
        fail(400, f"query parameter {name!r} is required", field=name)
    try:
        return float(raw)
    except ValueError:
        fail(400, f"query parameter {name!r} must be a number", field=name)


def _state(request: web.Request) -> Any:
    return context_of(request).state


def _no_content() -> web.Response:
    return web.Response(status=204)


def _event(body: dict[str, Any], where: str = "") -> tuple[str, dict[str, Any]] | None:
    raw = body.get("event")
    if raw is None:
        return None
    name = f"{where}.event" if where else "event"
    if not isinstance(raw, dict):
        fail(400, f"field {name!r} must be an object", field=name)
    check_fields(raw, ("kind", "payload"), where=name)
    kind = raw.get("kind")
    if not isinstance(kind, str) or not kind:
        fail(400, f"field '{name}.kind' is required", field=f"{name}.kind")
    payload = raw.get("payload") or {}
    if not isinstance(payload, dict):
        fail(400, f"field '{name}.payload' must be an object", field=f"{name}.payload")
    return kind, payload


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    fields = body.get("fields")
    if not isinstance(fields, dict):
        fail(400, "field 'fields' must be an object", field="fields")
    return fields


# -- runs ------------------------------------------------------------------------------------

_RUN_FILTER_FIELDS = ("pipelines", "statuses", "branch", "sha_prefix", "search", "since",
                      "before_id", "limit")


async def create_run(request: web.Request) -> web.Response:
    """``POST /runs``: record a new run (body: the run record) -> 201; 409 if the id exists."""
    from sparkwing.storage.records import Run

    run = _decode(Run, await read_json(request))
    await store_call(request, _state(request).create_run, run)
    return json_response({"id": run.id}, 201)


async def query_runs(request: web.Request) -> web.Response:
    """``POST /runs/query``: body a run filter -> ``{runs: [records]}`` newest first."""
    from sparkwing.storage.records import RunFilter

    flt = _decode(RunFilter, await read_json(request))
    runs = await store_call(request, _state(request).list_runs, flt)
    return json_response({"runs": [r.to_dict() for r in runs]})


async def get_run_record(request: web.Request) -> web.Response:
    """``GET /runs/{run_id}/record``: ``{run: record|null}``."""
    run = await store_call(request, _state(request).get_run, request.match_info["run_id"])
    return json_response({"run": None if run is None else run.to_dict()})


async def update_run(request: web.Request) -> web.Response:
    """``PATCH /runs/{run_id}``: ``{fields: {...}}`` -> 204; 404 unknown run, 400 bad field."""
    body = await _body(request, ("fields",), ("fields",))
    await store_call(request, _state(request).update_run, request.match_info["run_id"],
                     _fields(body))
    return _no_content()


async def delete_run(request: web.Request) -> web.Response:
    """``DELETE /runs/{run_id}``: the run and everything under it -> ``{deleted: bool}``."""
    deleted = await store_call(request, _state(request).delete_run,
                               request.match_info["run_id"])
    return json_response({"deleted": bool(deleted)})


async def reap_runs(request: web.Request) -> web.Response:
    """``POST /runs/reap``: ``{stale_before*, now*}`` -> ``{run_ids}`` failed as lost."""
    body = await _body(request, ("stale_before", "now"), ("stale_before", "now"))
    ids = await store_call(request, _state(request).reap_stale_runs,
                           float(_num(body, "stale_before")), float(_num(body, "now")))
    return json_response({"run_ids": ids})


# -- nodes and steps ---------------------------------------------------------------------------

async def create_nodes(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/nodes``: ``{nodes: [records]}`` in one transaction -> 201."""
    from sparkwing.storage.records import Node

    body = await _body(request, ("nodes",), ("nodes",))
    raw = body["nodes"]
    if not isinstance(raw, list):
        fail(400, "field 'nodes' must be a list", field="nodes")
    nodes = [_decode(Node, item, f"nodes[{i}]") for i, item in enumerate(raw)]
    await store_call(request, _state(request).create_nodes, request.match_info["run_id"], nodes)
    return json_response({"created": len(nodes)}, 201)


async def list_nodes(request: web.Request) -> web.Response:
    """``GET /runs/{run_id}/nodes``: ``{nodes: [records]}`` in insertion order."""
    nodes = await store_call(request, _state(request).list_nodes, request.match_info["run_id"])
    return json_response({"nodes": [n.to_dict() for n in nodes]})


async def get_node(request: web.Request) -> web.Response:
    """``GET /runs/{run_id}/nodes/{node_id}``: ``{node: record|null}``."""
    node = await store_call(request, _state(request).get_node, request.match_info["run_id"],
                            request.match_info["node_id"])
    return json_response({"node": None if node is None else node.to_dict()})


async def update_node(request: web.Request) -> web.Response:
    """``PATCH /runs/{run_id}/nodes/{node_id}``: ``{fields, event{kind, payload}}`` -> ``{seq}``."""
    body = await _body(request, ("fields", "event"), ("fields",))
    seq = await store_call(request, _state(request).update_node, request.match_info["run_id"],
                           request.match_info["node_id"], _fields(body), _event(body))
    return json_response({"seq": seq})


async def upsert_step(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/steps``: body a step record (its ``run_id`` the path's) -> 204."""
    from sparkwing.storage.records import Step

    step = _decode(Step, await read_json(request))
    if step.run_id != request.match_info["run_id"]:
        fail(400, "field 'run_id' must be the run of the path", field="run_id")
    await store_call(request, _state(request).upsert_step, step)
    return _no_content()


async def list_steps(request: web.Request) -> web.Response:
    """``GET /runs/{run_id}/steps[?node=ID]``: ``{steps: [records]}`` in insertion order."""
    node = request.query.get("node")
    steps = await store_call(request, _state(request).list_steps,
                             request.match_info["run_id"], node)
    return json_response({"steps": [s.to_dict() for s in steps]})


# -- events and batches -----------------------------------------------------------------------

async def append_event(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/events``: ``{kind*, payload, node_id, ts}`` -> ``{seq}``.

    The controller's store assigns ``seq`` (gap-free per run).
    """
    body = await _body(request, ("kind", "payload", "node_id", "ts"), ("kind",))
    kind = _str(body, "kind")
    payload = body.get("payload") or {}
    if not isinstance(payload, dict):
        fail(400, "field 'payload' must be an object", field="payload")
    seq = await store_call(request, _state(request).append_event, request.match_info["run_id"],
                           kind, payload, _str(body, "node_id"), _num(body, "ts"))
    return json_response({"seq": seq})


_WRITE_FIELDS = ("run_id", "node_id", "fields", "event", "step", "ts")


async def write_batch(request: web.Request) -> web.Response:
    """``POST /state/writes``: ``{writes: [...]}`` applied in order in one transaction -> 204.

    Each write is ``{run_id*, node_id, fields, event{kind, payload}, step, ts}``
    (:class:`~sparkwing.storage.contracts.StateWrite`). A store without
    ``write_batch`` gets the writes one call at a time.
    """
    from sparkwing.storage.contracts import StateWrite
    from sparkwing.storage.records import Step

    body = await _body(request, ("writes",), ("writes",))
    raw = body["writes"]
    if not isinstance(raw, list):
        fail(400, "field 'writes' must be a list", field="writes")
    writes: list[StateWrite] = []
    for i, item in enumerate(raw):
        where = f"writes[{i}]"
        if not isinstance(item, dict):
            fail(400, f"{where} must be an object", field=where)
        check_fields(item, _WRITE_FIELDS, where=where)
        run_id = item.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            fail(400, f"field '{where}.run_id' is required", field=f"{where}.run_id")
        fields = item.get("fields")
        if fields is not None and not isinstance(fields, dict):
            fail(400, f"field '{where}.fields' must be an object", field=f"{where}.fields")
        step = item.get("step")
        ts = item.get("ts")
        if ts is not None and (isinstance(ts, bool) or not isinstance(ts, (int, float))):
            fail(400, f"field '{where}.ts' must be a number", field=f"{where}.ts")
        writes.append(StateWrite(
            run_id, str(item.get("node_id") or ""), fields=fields, event=_event(item, where),
            step=None if step is None else _decode(Step, step, f"{where}.step"), ts=ts))
    state = _state(request)
    await store_call(request, apply_writes, state, writes)
    return _no_content()


def apply_writes(state: Any, writes: list[Any]) -> None:
    """Apply *writes* with the store's ``write_batch``, else one call at a time."""
    batch = getattr(state, "write_batch", None)
    if callable(batch):
        batch(writes)
        return
    for w in writes:
        if w.fields is not None:
            state.update_node(w.run_id, w.node_id, w.fields, w.event)
            continue
        if w.step is not None:
            state.upsert_step(w.step)
        if w.event is not None:
            state.append_event(w.run_id, w.event[0], w.event[1], w.node_id, w.ts)


# -- approvals ---------------------------------------------------------------------------------

_APPROVAL_REQUEST_FIELDS = ("requested_at", "message", "timeout_s", "on_expiry", "resolution",
                            "approver", "comment", "resolved_at")


async def request_approval(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/approvals/{node_id}/request``: record the gate -> 201."""
    from sparkwing.storage.records import Approval

    body = await _body(request, _APPROVAL_REQUEST_FIELDS, ("requested_at",))
    approval = _decode(Approval, {**body, "run_id": request.match_info["run_id"],
                                  "node_id": request.match_info["node_id"]})
    await store_call(request, _state(request).create_approval, approval)
    return json_response({"requested": True}, 201)


async def get_approval(request: web.Request) -> web.Response:
    """``GET /runs/{run_id}/approvals/{node_id}``: ``{approval: record|null}``."""
    found = await store_call(request, _state(request).get_approval,
                             request.match_info["run_id"], request.match_info["node_id"])
    return json_response({"approval": None if found is None else found.to_dict()})


async def _resolve(request: web.Request, *, expire: bool) -> web.Response:
    body = await _body(request, ("resolution", "approver", "comment", "now"),
                       ("resolution", "now"))
    resolution = _str(body, "resolution")
    if expire and resolution != "timed_out":
        fail(400, "this route only records timed_out; resolve with "
                  "POST /api/v1/runs/{run_id}/approvals/{node_id}", field="resolution")
    approver = _str(body, "approver")
    principal = request.get(PRINCIPAL_KEY)
    if principal is not None and not grants(principal.scopes, "runs.report"):
        approver = principal.label  # people approve as themselves; runners record timeouts
    ok = await store_call(request, _state(request).resolve_approval,
                          request.match_info["run_id"], request.match_info["node_id"],
                          resolution, approver, _str(body, "comment"), float(_num(body, "now")))
    return json_response({"resolved": bool(ok)})


async def resolve_approval(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/approvals/{node_id}``: ``{resolution*, approver, comment, now*}``.

    Answers ``{resolved: bool}`` (false: missing or already resolved). With
    auth on, a caller without ``runs.report`` approves as its own principal.
    """
    return await _resolve(request, expire=False)


async def expire_approval(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/approvals/{node_id}/expire``: the orchestrator's ``timed_out``."""
    return await _resolve(request, expire=True)


async def list_approvals(request: web.Request) -> web.Response:
    """``GET /approvals?run_id=&pending=true``: ``{approvals: [records]}``."""
    run_id = request.query.get("run_id") or None
    found = await store_call(request, _state(request).list_approvals, run_id,
                             query_flag(request, "pending"))
    return json_response({"approvals": [a.to_dict() for a in found]})


# -- debug pauses --------------------------------------------------------------------------------

async def create_pause(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/debug-pauses``: body a pause record -> 201."""
    from sparkwing.storage.records import Pause

    pause = _decode(Pause, await read_json(request))
    if pause.run_id != request.match_info["run_id"]:
        fail(400, "field 'run_id' must be the run of the path", field="run_id")
    await store_call(request, _state(request).create_pause, pause)
    return json_response({"created": True}, 201)


async def get_pause(request: web.Request) -> web.Response:
    """``GET /runs/{run_id}/nodes/{node_id}/debug-pause``: ``{pause: record|null}``."""
    found = await store_call(request, _state(request).get_pause, request.match_info["run_id"],
                             request.match_info["node_id"])
    return json_response({"pause": None if found is None else found.to_dict()})


async def release_pause(request: web.Request) -> web.Response:
    """``POST /runs/{run_id}/nodes/{node_id}/debug-pause/release``: ``{by, kind*, now*}``.

    Answers ``{released}``. (``.../nodes/{node_id}/release`` is the node claim's release.)
    """
    body = await _body(request, ("by", "kind", "now"), ("kind", "now"))
    by = _str(body, "by")
    principal = request.get(PRINCIPAL_KEY)
    if principal is not None and not by:
        by = principal.label
    ok = await store_call(request, _state(request).release_pause, request.match_info["run_id"],
                          request.match_info["node_id"], by, _str(body, "kind"),
                          float(_num(body, "now")))
    return json_response({"released": bool(ok)})


async def list_pauses(request: web.Request) -> web.Response:
    """``GET /debug-pauses?run_id=&held=true``: ``{pauses: [records]}``."""
    found = await store_call(request, _state(request).list_pauses,
                             request.query.get("run_id") or None, query_flag(request, "held"))
    return json_response({"pauses": [p.to_dict() for p in found]})


# -- memo cache index --------------------------------------------------------------------------------

async def memo_lookup(request: web.Request) -> web.Response:
    """``POST /memo/lookup``: ``{key*, now*}`` -> ``{entry: record|null}`` (a hit is counted)."""
    body = await _body(request, ("key", "now"), ("key", "now"))
    entry = await store_call(request, _state(request).cache_get, _str(body, "key"),
                             float(_num(body, "now")))
    return json_response({"entry": None if entry is None else entry.to_dict()})


async def memo_put(request: web.Request) -> web.Response:
    """``PUT /memo``: body a cache entry record, inserted or replaced -> 204."""
    from sparkwing.storage.records import CacheEntry

    entry = _decode(CacheEntry, await read_json(request))
    await store_call(request, _state(request).cache_put, entry)
    return _no_content()


async def memo_list(request: web.Request) -> web.Response:
    """``GET /memo?prefix=&include_expired=true``: ``{entries: [records]}`` newest first."""
    found = await store_call(request, _state(request).cache_list,
                             request.query.get("prefix", ""),
                             query_flag(request, "include_expired"))
    return json_response({"entries": [e.to_dict() for e in found]})


async def memo_delete(request: web.Request) -> web.Response:
    """``POST /memo/delete``: ``{key*}`` -> ``{deleted: bool}``."""
    body = await _body(request, ("key",), ("key",))
    ok = await store_call(request, _state(request).cache_delete, _str(body, "key"))
    return json_response({"deleted": bool(ok)})


async def memo_prune(request: web.Request) -> web.Response:
    """``POST /memo/prune``: ``{now*}`` -> ``{pruned: N}`` expired entries deleted."""
    body = await _body(request, ("now",), ("now",))
    n = await store_call(request, _state(request).cache_prune, float(_num(body, "now")))
    return json_response({"pruned": n})


# -- concurrency leases ------------------------------------------------------------------------------

async def concurrency_acquire(request: web.Request) -> web.Response:
    """``POST /concurrency/{key}/acquire``: ``{holder_id*, capacity*, cost*, lease_s*, now*,
    run_id, node_id}`` -> ``{granted, active, ahead, holders}`` (always 200)."""
    names = ("holder_id", "capacity", "cost", "lease_s", "now", "run_id", "node_id")
    body = await _body(request, names, names[:5])
    result = await store_call(
        request, _state(request).concurrency_acquire, request.match_info["key"],
        _str(body, "holder_id"), capacity=int(_num(body, "capacity")),
        cost=int(_num(body, "cost")), lease_s=float(_num(body, "lease_s")),
        now=float(_num(body, "now")), run_id=_str(body, "run_id"),
        node_id=_str(body, "node_id"))
    return json_response({"granted": result.granted, "active": result.active,
                          "ahead": result.ahead, "holders": list(result.holders)})


async def concurrency_renew(request: web.Request) -> web.Response:
    """``POST /concurrency/renew``: ``{holder_id*, lease_expires_at*}``: every lease of the holder."""
    body = await _body(request, ("holder_id", "lease_expires_at"),
                       ("holder_id", "lease_expires_at"))
    await store_call(request, _state(request).concurrency_renew, _str(body, "holder_id"),
                     float(_num(body, "lease_expires_at")))
    return _no_content()


async def concurrency_release(request: web.Request) -> web.Response:
    """``POST /concurrency/{key}/release``: ``{holder_id*}`` (idempotent) -> 204."""
    body = await _body(request, ("holder_id",), ("holder_id",))
    await store_call(request, _state(request).concurrency_release, request.match_info["key"],
                     _str(body, "holder_id"))
    return _no_content()


async def concurrency_state(request: web.Request) -> web.Response:
    """``GET /concurrency/{key}/state?now=T``: ``{key, holders, waiters}`` (lease records)."""
    key = request.match_info["key"]
    holders, waiters = await store_call(request, _state(request).concurrency_state, key,
                                        _query_num(request, "now"))
    return json_response({"key": key, "holders": [h.to_dict() for h in holders],
                          "waiters": [w.to_dict() for w in waiters]})


# -- trigger rows (the store's records; the runner queue protocol is separate) ---------------------

async def insert_trigger(request: web.Request) -> web.Response:
    """``POST /trigger-rows``: body a trigger row -> ``{row, created}`` (201 when inserted).

    The row is stored as given (``claimed`` by its writer, for a run it
    starts itself) unless its ``idempotency_key`` exists: then 200 with the
    existing row. 409 when the id exists under another key.
    """
    from sparkwing.storage.records import TriggerRow

    row = _decode(TriggerRow, await read_json(request))
    stored, created = await store_call(request, _state(request).insert_trigger, row)
    return json_response({"row": stored.to_dict(), "created": created}, 201 if created else 200)


async def get_trigger(request: web.Request) -> web.Response:
    """``GET /trigger-rows/{trigger_id}``: ``{row: record|null}``."""
    row = await store_call(request, _state(request).get_trigger,
                           request.match_info["trigger_id"])
    return json_response({"row": None if row is None else row.to_dict()})


async def list_triggers(request: web.Request) -> web.Response:
    """``GET /trigger-rows?pipeline=&status=&source=&limit=N``: newest first (limit 0: all)."""
    raw = request.query.get("limit", "20").strip()
    if not raw.lstrip("-").isdigit():
        fail(400, "query parameter 'limit' must be an integer", field="limit")
    rows = await store_call(request, _state(request).list_triggers,
                            pipeline=request.query.get("pipeline", ""),
                            status=request.query.get("status", ""),
                            source=request.query.get("source", ""), limit=int(raw))
    return json_response({"rows": [r.to_dict() for r in rows]})


async def claim_trigger(request: web.Request) -> web.Response:
    """``POST /trigger-rows/claim``: ``{holder*, lease_s*, now*, trigger_id, pipelines[],
    sources[], request_id}`` -> ``{row|null}``."""
    body = await _body(request, ("holder", "lease_s", "now", "trigger_id", "pipelines",
                                 "sources", "request_id"), ("holder", "lease_s", "now"))
    row = await store_call(request, _state(request).claim_trigger, _str(body, "holder"),
                           lease_s=float(_num(body, "lease_s")), now=float(_num(body, "now")),
                           trigger_id=_str(body, "trigger_id"),
                           pipelines=_strings(body, "pipelines"),
                           sources=_strings(body, "sources"),
                           request_id=_str(body, "request_id"))
    return json_response({"row": None if row is None else row.to_dict()})


async def renew_trigger(request: web.Request) -> web.Response:
    """``POST /trigger-rows/{trigger_id}/renew``: ``{holder*, lease_expires_at*, claims}``.

    Answers ``{renewed}``; a non-zero ``claims`` fences the call to that claim.
    """
    body = await _body(request, ("holder", "lease_expires_at", "claims"),
                       ("holder", "lease_expires_at"))
    ok = await store_call(request, _state(request).renew_trigger,
                          request.match_info["trigger_id"], _str(body, "holder"),
                          float(_num(body, "lease_expires_at")),
                          claims=int(_num(body, "claims", 0)))
    return json_response({"renewed": bool(ok)})


async def finish_trigger(request: web.Request) -> web.Response:
    """``POST /trigger-rows/{trigger_id}/finish``: ``{holder*, status*, now*, run_id, error,
    claims}`` -> ``{finished}``."""
    names = ("holder", "status", "now", "run_id", "error", "claims")
    body = await _body(request, names, names[:3])
    ok = await store_call(request, _state(request).finish_trigger,
                          request.match_info["trigger_id"], _str(body, "holder"),
                          status=_str(body, "status"), now=float(_num(body, "now")),
                          run_id=_str(body, "run_id"), error=_str(body, "error"),
                          claims=int(_num(body, "claims", 0)))
    return json_response({"finished": bool(ok)})


async def requeue_triggers(request: web.Request) -> web.Response:
    """``POST /trigger-rows/requeue-expired``: ``{now*}`` -> ``{ids}`` put back to pending."""
    body = await _body(request, ("now",), ("now",))
    ids = await store_call(request, _state(request).requeue_expired_triggers,
                           float(_num(body, "now")))
    return json_response({"ids": ids})

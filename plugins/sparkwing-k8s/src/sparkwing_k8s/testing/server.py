"""The fake API server's HTTP side: the real REST paths, watches, pod logs, the admin API.

Served paths (JSON unless noted):

* ``/version``; discovery ``/api``, ``/apis``, ``/api/v1``, ``/apis/batch/v1``
  (enough for ``kubectl``); ``/api/v1/namespaces/{ns}``;
* ``/apis/batch/v1[/namespaces/{ns}]/jobs`` list (``labelSelector``,
  ``fieldSelector``, ``limit``/``continue``, ``watch=true`` with
  ``resourceVersion`` and ``timeoutSeconds``) and create;
  ``.../jobs/{name}`` get and delete (``propagationPolicy`` as a query
  parameter or in the DeleteOptions body); ``.../jobs/{name}/status`` get;
* ``/api/v1[/namespaces/{ns}]/pods`` list and watch; ``.../pods/{name}`` get
  and delete; ``.../pods/{name}/log`` (text; ``follow``, ``tailLines``,
  ``timestamps``, ``sinceSeconds``, ``limitBytes``, ``container``);
* ``/api/v1/namespaces/{ns}/secrets`` create and list; ``.../secrets/{name}``
  get, patch and delete;
* admin (not Kubernetes): ``/fake/v1/simulations`` (GET, POST a rule, DELETE
  all), ``/fake/v1/images/missing`` (POST ``{"image"}``), ``/fake/v1/calls``
  (GET the recorded API calls in RBAC terms, DELETE to reset).

With a token configured, a request carrying another bearer token is refused
(401); one without credentials is served as anonymous (``kubectl`` sends no
token over plain HTTP), as on a cluster with anonymous access allowed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from sparkwing.waiting import within

from . import objects
from .cluster import Call, FakeCluster
from .objects import ApiError
from .selectors import SelectorError, labels_match, parse_field_selector, parse_label_selector
from .simulate import SimulationError
from .store import Change, Expired
from .timefmt import rfc3339_nano

#: Default lifetime of a watch without ``timeoutSeconds`` (the API server's is 30-60 min).
WATCH_TIMEOUT_S = 1800.0

_LIST_KINDS = {"jobs": ("JobList", "batch/v1"), "pods": ("PodList", "v1"),
               "secrets": ("SecretList", "v1")}

CLUSTER_KEY: web.AppKey[FakeCluster] = web.AppKey("cluster", FakeCluster)
TOKEN_KEY: web.AppKey[str] = web.AppKey("token", str)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type="application/json")


def _error(err: ApiError) -> web.Response:
    return _json(err.status(), err.code)


def _classify(request: web.Request) -> Call:
    """Name the request in RBAC terms (verb, group, resource, subresource)."""
    parts = [p for p in request.path.split("/") if p]
    method = request.method
    ua = request.headers.get("User-Agent", "")
    group = resource = sub = ns = name = ""
    rest: list[str] = []
    if parts[:2] == ["api", "v1"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    if not rest:
        return Call(method.lower(), "", "", "", "", "", request.path, ua,
                    query=request.query_string)
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    resource = rest[0]
    if len(rest) >= 2:
        name = rest[1]
    if len(rest) >= 3:
        sub = rest[2]
    if rest[0] == "namespaces" and len(rest) == 2:
        resource, name = "namespaces", rest[1]
    watch = request.query.get("watch") in ("true", "1")
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, "")
    if method == "GET":
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    return Call(verb, group, resource, sub, ns, name, request.path, ua,
                query=request.query_string)


@web.middleware
async def _middleware(request: web.Request, handler: Callable[[web.Request], Any]) -> Any:
    token = request.app[TOKEN_KEY]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme and (scheme.lower() != "bearer" or given.strip() != token):
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, 401)
    if not request.path.startswith("/fake/"):
        call = _classify(request)
        if scheme:
            call.user = "token"
        request.app[CLUSTER_KEY].calls.append(call)
    try:
        return await handler(request)
    except ApiError as err:
        return _error(err)
    except web.HTTPNotFound:
        return _error(ApiError(404, "NotFound", "the server could not find the requested resource"))
    except web.HTTPMethodNotAllowed:
        return _error(ApiError(405, "MethodNotAllowed",
                               f"the server does not allow this method on the requested "
                               f"resource ({request.method} {request.path})"))
    except SelectorError as err:
        return _error(objects.bad_request(f"unable to parse requirement: {err}"))


def _cluster(request: web.Request) -> FakeCluster:
    return request.app[CLUSTER_KEY]


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise objects.bad_request("the body of the request could not be decoded as JSON") from None


# -- discovery and version -----------------------------------------------------------------
async def version(request: web.Request) -> web.Response:
    """``GET /version``."""
    return _json(objects.VERSION)


async def api(request: web.Request) -> web.Response:
    """``GET /api``."""
    return _json(objects.api_versions())


async def apis(request: web.Request) -> web.Response:
    """``GET /apis``."""
    return _json(objects.api_groups())


async def api_v1(request: web.Request) -> web.Response:
    """``GET /api/v1``."""
    return _json(objects.core_resources())


async def batch_v1(request: web.Request) -> web.Response:
    """``GET /apis/batch/v1``."""
    return _json(objects.batch_resources())


async def get_namespace(request: web.Request) -> web.Response:
    """``GET /api/v1/namespaces/{ns}`` (every namespace exists)."""
    return _json(objects.namespace(request.match_info["ns"], _cluster(request).created))


# -- list and watch --------------------------------------------------------------------------
def _item(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    out.pop("apiVersion", None)
    out.pop("kind", None)
    return out


async def _list_or_watch(request: web.Request, resource: str) -> web.StreamResponse:
    cluster = _cluster(request)
    ns = request.match_info.get("ns", "")
    q = request.query
    label_reqs = parse_label_selector(q.get("labelSelector"))
    field_pred = parse_field_selector(q.get("fieldSelector"), resource)

    def matches(obj: Mapping[str, Any] | None) -> bool:
        return obj is not None and labels_match(
            label_reqs, obj.get("metadata", {}).get("labels")) and field_pred(obj)

    if q.get("watch") in ("true", "1"):
        return await _watch(request, resource, ns, matches)
    items = [o for o in cluster.store.view(resource, ns) if matches(o)]
    start = 0
    if q.get("continue"):
        try:
            start = int(base64.b64decode(q["continue"]).decode())
        except ValueError:
            raise objects.ApiError(410, "Expired", "continue token is invalid") from None
    meta: dict[str, Any] = {"resourceVersion": str(cluster.store.rv)}
    limit = int(q.get("limit") or 0)
    page = items[start:start + limit] if limit > 0 else items[start:]
    if limit > 0 and start + limit < len(items):
        meta["continue"] = base64.b64encode(str(start + limit).encode()).decode()
        meta["remainingItemCount"] = len(items) - start - limit
    kind, api_version = _LIST_KINDS[resource]
    return _json({"kind": kind, "apiVersion": api_version, "metadata": meta,
                  "items": [_item(o) for o in page]})


async def _watch(request: web.Request, resource: str, ns: str,
                 matches: Callable[[Mapping[str, Any] | None], bool]) -> web.StreamResponse:
    cluster = _cluster(request)
    q = request.query
    raw_rv = q.get("resourceVersion", "")
    since = None if raw_rv in ("", "0") else int(raw_rv)
    timeout = float(q.get("timeoutSeconds") or WATCH_TIMEOUT_S)
    resp = web.StreamResponse(headers={"Content-Type": "application/json",
                                       "Transfer-Encoding": "chunked"})
    try:
        await resp.prepare(request)
    except ConnectionResetError:  # the client went away before the headers were written
        return resp

    async def send(kind: str, obj: Mapping[str, Any]) -> None:
        await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

    try:
        watcher, backlog = cluster.store.watch(resource, ns, since)
    except Expired:
        oldest = cluster.store.oldest_rv()
        await send("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Failure", "reason": "Expired", "code": 410,
                             "message": f"too old resource version: {since} ({oldest})"})
        return resp
    deadline = time.monotonic() + timeout
    try:
        if since is None:
            for obj in cluster.store.view(resource, ns):
                if matches(obj):
                    await send("ADDED", obj)
        for change in backlog:
            await _send_change(send, change, matches)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                change = await within(watcher.queue.get(), left)
            except TimeoutError:
                break
            await _send_change(send, change, matches)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        cluster.store.unwatch(watcher)
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await resp.write_eof()
    return resp


async def _send_change(send: Callable[[str, Mapping[str, Any]], Any], change: Change,
                       matches: Callable[[Mapping[str, Any] | None], bool]) -> None:
    """Send a change as a watch with a selector sees it (leaving the selection is a DELETED)."""
    new_in = matches(change.obj)
    if change.type == "ADDED":
        if new_in:
            await send("ADDED", change.obj)
    elif change.type == "DELETED":
        if new_in:
            await send("DELETED", change.obj)
    else:
        old_in = matches(change.old)
        if new_in and old_in:
            await send("MODIFIED", change.obj)
        elif new_in:
            await send("ADDED", change.obj)
        elif old_in:
            await send("DELETED", change.obj)


# -- jobs ------------------------------------------------------------------------------------
async def jobs(request: web.Request) -> web.StreamResponse:
    """List or watch Jobs."""
    return await _list_or_watch(request, "jobs")


async def create_job(request: web.Request) -> web.Response:
    """Create a Job."""
    body = await _body(request)
    if not isinstance(body, dict):
        raise objects.bad_request("a Job object is required")
    if request.query.get("dryRun"):
        objects.check_job(body)
        return _json(body, 201)
    return _json(_cluster(request).create_job(request.match_info["ns"], body), 201)


async def get_job(request: web.Request) -> web.Response:
    """Read a Job (or its status subresource)."""
    ns, name = request.match_info["ns"], request.match_info["name"]
    job = _cluster(request).store.get("jobs", ns, name)
    if job is None:
        raise objects.not_found("jobs", name)
    return _json(job)


async def _delete_options(request: web.Request) -> tuple[str, int | None]:
    body = await _body(request)
    policy = request.query.get("propagationPolicy", "")
    grace: int | None = None
    if isinstance(body, dict):
        policy = policy or str(body.get("propagationPolicy") or "")
        if body.get("orphanDependents") is not None and not policy:
            policy = "Orphan" if body["orphanDependents"] else "Background"
        if body.get("gracePeriodSeconds") is not None:
            grace = int(body["gracePeriodSeconds"])
    if request.query.get("gracePeriodSeconds"):
        grace = int(request.query["gracePeriodSeconds"])
    return policy, grace


async def delete_job(request: web.Request) -> web.Response:
    """Delete a Job with the requested propagation."""
    policy, _ = await _delete_options(request)
    code, body = _cluster(request).delete_job(request.match_info["ns"],
                                              request.match_info["name"], policy)
    return _json(body, code)


# -- pods ------------------------------------------------------------------------------------
async def pods(request: web.Request) -> web.StreamResponse:
    """List or watch Pods."""
    return await _list_or_watch(request, "pods")


async def get_pod(request: web.Request) -> web.Response:
    """Read a Pod."""
    ns, name = request.match_info["ns"], request.match_info["name"]
    pod = _cluster(request).store.get("pods", ns, name)
    if pod is None:
        raise objects.not_found("pods", name)
    return _json(pod)


async def delete_pod(request: web.Request) -> web.Response:
    """Delete a Pod gracefully."""
    _, grace = await _delete_options(request)
    return _json(_cluster(request).delete_pod(request.match_info["ns"],
                                              request.match_info["name"], grace))


async def pod_log(request: web.Request) -> web.StreamResponse:
    """Read or follow a pod's container log (plain text)."""
    cluster = _cluster(request)
    ns, name = request.match_info["ns"], request.match_info["name"]
    q = request.query
    pod = cluster.store.get("pods", ns, name)
    if pod is None:
        raise objects.not_found("pods", name)
    cname = pod["spec"]["containers"][0]["name"]
    if q.get("container") and q["container"] != cname:
        raise objects.bad_request(f"container {q['container']} is not valid for pod {name}")
    if q.get("previous") in ("true", "1"):
        raise objects.bad_request(
            f'previous terminated container "{cname}" in pod "{name}" not found')
    log = cluster.kubelet.log_of(ns, name)
    state = ((pod.get("status", {}).get("containerStatuses") or [{}])[0]).get("state") or {}
    if log is None or "waiting" in state or not state:
        why = (state.get("waiting") or {}).get("reason", "ContainerCreating")
        if why in ("ErrImagePull", "ImagePullBackOff"):
            why = "trying and failing to pull image"
        elif why == "InvalidImageName":
            why = "invalid image name"
        raise objects.bad_request(
            f'container "{cname}" in pod "{name}" is waiting to start: {why}')
    follow = q.get("follow") in ("true", "1")
    stamps = q.get("timestamps") in ("true", "1")
    tail = int(q["tailLines"]) if q.get("tailLines") else None
    since = time.time() - int(q["sinceSeconds"]) if q.get("sinceSeconds") else None
    budget = int(q["limitBytes"]) if q.get("limitBytes") else None
    resp = web.StreamResponse(headers={"Content-Type": "text/plain",
                                       "Transfer-Encoding": "chunked"})
    try:
        await resp.prepare(request)
    except ConnectionResetError:
        return resp
    lines = log.lines
    start = 0 if tail is None else max(0, len(lines) - tail)
    try:
        while True:
            out = b""
            for entry in lines[start:]:
                if since is not None and entry.ts < since:
                    continue
                prefix = (rfc3339_nano(entry.ts) + " ").encode() if stamps else b""
                out += prefix + entry.text + b"\n"
            start = len(lines)
            if budget is not None:
                out = out[:budget]
                budget -= len(out)
            if out:
                await resp.write(out)
            if not follow or budget == 0:
                break
            waiter = log.changed
            if start < len(lines):
                continue
            if log.closed:
                break
            await waiter.wait()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await resp.write_eof()
    return resp


# -- secrets ---------------------------------------------------------------------------------
async def secrets(request: web.Request) -> web.StreamResponse:
    """List or watch Secrets."""
    return await _list_or_watch(request, "secrets")


async def create_secret(request: web.Request) -> web.Response:
    """Create a Secret."""
    body = await _body(request)
    if not isinstance(body, dict):
        raise objects.bad_request("a Secret object is required")
    return _json(_cluster(request).create_secret(request.match_info["ns"], body), 201)


async def get_secret(request: web.Request) -> web.Response:
    """Read a Secret."""
    ns, name = request.match_info["ns"], request.match_info["name"]
    secret = _cluster(request).store.get("secrets", ns, name)
    if secret is None:
        raise objects.not_found("secrets", name)
    return _json(secret)


async def patch_secret(request: web.Request) -> web.Response:
    """Patch a Secret."""
    body = await _body(request)
    return _json(_cluster(request).patch_secret(
        request.match_info["ns"], request.match_info["name"],
        request.headers.get("Content-Type", ""), body))


async def delete_secret(request: web.Request) -> web.Response:
    """Delete a Secret (at once)."""
    ns, name = request.match_info["ns"], request.match_info["name"]
    removed = _cluster(request).store.remove("secrets", ns, name)
    if removed is None:
        raise objects.not_found("secrets", name)
    return _json(objects.success_status("secrets", name, removed["metadata"]["uid"]))


# -- admin -----------------------------------------------------------------------------------
async def list_simulations(request: web.Request) -> web.Response:
    """``GET /fake/v1/simulations``."""
    sims = _cluster(request).simulations
    return _json({"rules": [r.to_dict() for r in sims.rules],
                  "missing_images": sorted(sims.missing_images)})


async def add_simulation(request: web.Request) -> web.Response:
    """``POST /fake/v1/simulations``: ``{failure, selector?, image?, after_s?, count?}``."""
    body = await _body(request)
    try:
        rule = _cluster(request).simulations.add(body if isinstance(body, dict) else {})
    except (SimulationError, SelectorError) as exc:
        return _json({"error": str(exc)}, 400)
    return _json(rule.to_dict(), 201)


async def clear_simulations(request: web.Request) -> web.Response:
    """``DELETE /fake/v1/simulations``."""
    _cluster(request).simulations.clear()
    return web.Response(status=204)


async def add_missing_image(request: web.Request) -> web.Response:
    """``POST /fake/v1/images/missing``: ``{image}`` cannot be pulled from now on."""
    body = await _body(request)
    image = body.get("image") if isinstance(body, dict) else None
    if not isinstance(image, str) or not image:
        return _json({"error": "image is required"}, 400)
    _cluster(request).simulations.missing_images.add(image)
    return web.Response(status=204)


async def list_calls(request: web.Request) -> web.Response:
    """``GET /fake/v1/calls``: the API calls recorded so far."""
    return _json({"calls": [c.to_dict() for c in _cluster(request).calls]})


async def reset_calls(request: web.Request) -> web.Response:
    """``DELETE /fake/v1/calls``."""
    _cluster(request).calls.clear()
    return web.Response(status=204)


def make_app(cluster: FakeCluster, token: str = "") -> web.Application:
    """The aiohttp application serving *cluster*."""
    app = web.Application(middlewares=[_middleware], client_max_size=8 << 20)
    app[CLUSTER_KEY] = cluster
    app[TOKEN_KEY] = token
    r = app.router
    r.add_get("/version", version)
    r.add_get("/version/", version)
    r.add_get("/api", api)
    r.add_get("/apis", apis)
    r.add_get("/api/v1", api_v1)
    r.add_get("/apis/batch/v1", batch_v1)
    r.add_get("/api/v1/namespaces/{ns}", get_namespace)
    jobs_base = "/apis/batch/v1/namespaces/{ns}/jobs"
    r.add_get("/apis/batch/v1/jobs", jobs)
    r.add_get(jobs_base, jobs)
    r.add_post(jobs_base, create_job)
    r.add_get(jobs_base + "/{name}", get_job)
    r.add_get(jobs_base + "/{name}/status", get_job)
    r.add_delete(jobs_base + "/{name}", delete_job)
    pods_base = "/api/v1/namespaces/{ns}/pods"
    r.add_get("/api/v1/pods", pods)
    r.add_get(pods_base, pods)
    r.add_get(pods_base + "/{name}", get_pod)
    r.add_delete(pods_base + "/{name}", delete_pod)
    r.add_get(pods_base + "/{name}/log", pod_log)
    secrets_base = "/api/v1/namespaces/{ns}/secrets"
    r.add_get(secrets_base, secrets)
    r.add_post(secrets_base, create_secret)
    r.add_get(secrets_base + "/{name}", get_secret)
    r.add_patch(secrets_base + "/{name}", patch_secret)
    r.add_delete(secrets_base + "/{name}", delete_secret)
    r.add_get("/fake/v1/simulations", list_simulations)
    r.add_post("/fake/v1/simulations", add_simulation)
    r.add_delete("/fake/v1/simulations", clear_simulations)
    r.add_post("/fake/v1/images/missing", add_missing_image)
    r.add_get("/fake/v1/calls", list_calls)
    r.add_delete("/fake/v1/calls", reset_calls)

    async def on_cleanup(app: web.Application) -> None:
        await app[CLUSTER_KEY].shutdown()

    app.on_cleanup.append(on_cleanup)
    return app

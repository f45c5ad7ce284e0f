"""The controller's route table: the one list the router, the auth check and the tests read.

Each :class:`Route` is a method, a path (aiohttp syntax, ``{run_id}``), the
scope a token needs (:data:`~.scopes.PUBLIC`, :data:`~.scopes.AUTHENTICATED`
or a scope of :data:`~.scopes.SCOPES`) and its handler. Only routes that are
implemented are listed; cluster.md §2's other routes come with their code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ..localws import actions_api, logs_api, runs_api, streams
from ..localws import app as dashboard_app
from . import (
    admin_api,
    api,
    attempt_api,
    blob_api,
    code_api,
    lifecycle_api,
    login,
    people_api,
    queue_api,
    secretroutes,
    state_api,
    ui,
)
from . import logs_api as ctl_logs
from .scopes import AUTHENTICATED, PUBLIC, SCOPES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    """One route of the controller."""

    method: str
    path: str
    scope: str
    handler: Handler
    #: The one ``Content-Type`` a write's body may have.
    body_type: str = "application/json"
    #: An HTML page: a caller without credentials is sent to the login page instead of a 401.
    page: bool = False
    #: Accepts an HTML form body (``application/x-www-form-urlencoded``) as well as JSON
    #: (the handler checks the type; ``body_type`` is not enforced then).
    form: bool = False

    @property
    def public(self) -> bool:
        """Whether the route needs no token."""
        return self.scope == PUBLIC

    @property
    def key(self) -> str:
        """``METHOD PATH``: how metrics and logs name the route."""
        return f"{self.method} {self.path}"


#: Base path of the REST API.
API = "/api/v1"
#: Base path of the web UI's JSON API (the local dashboard's API, see :mod:`.ui`).
UI = ui.UI_API
_ui = ui.dashboard
#: What a ``{name}`` of the secrets routes matches (slashes included; checked by the handler).
SECRET_NAME = "[A-Za-z0-9._/-]+"
#: The body type of the routes that take raw bytes.
OCTETS = "application/octet-stream"

ROUTES: tuple[Route, ...] = (
    Route("GET", f"{API}/health", PUBLIC, api.health),
    Route("GET", f"{API}/services", PUBLIC, api.services),
    Route("GET", "/metrics", PUBLIC, api.metrics),
    Route("GET", f"{API}/auth/whoami", AUTHENTICATED, api.whoami),
    Route("POST", f"{API}/triggers", "runs.write", api.enqueue_trigger),
    Route("GET", f"{API}/runs", "runs.read", api.list_runs),
    Route("GET", f"{API}/runs/{{run_id}}", "runs.read", api.get_run),
    Route("GET", f"{API}/runs/{{run_id}}/events", "runs.read", api.list_events),
    # code sent by `pipeline trigger` (controller/code.py)
    Route("POST", f"{API}/code/negotiate", "runs.write", code_api.negotiate),
    Route("PUT", f"{API}/code/bundles", "runs.write", code_api.upload_bundle,
          body_type="application/octet-stream"),
    Route("GET", f"{API}/code/commits/{{sha}}", "code.read", code_api.commit_chain),
    Route("GET", f"{API}/code/bundles/{{digest}}", "code.read", code_api.get_bundle),
    # -- the web UI (login.py, ui.py): login/logout are public by design (nobody is logged
    # in yet; as token-less writes they still need this server's Origin); static files are
    # public (the login page uses them; nothing in them is secret); the page needs a
    # session or token, and the dashboard's own API handlers follow under /ui/api/v1
    # (streams before the routes whose patterns would swallow their paths).
    Route("GET", "/", "runs.read", ui.index, page=True),
    Route("GET", "/login", PUBLIC, login.login_page),
    Route("POST", "/login", PUBLIC, login.login, form=True),
    Route("POST", "/logout", PUBLIC, login.logout, form=True),
    Route("GET", "/static/{path:.+}", PUBLIC, ui.static),
    Route("GET", f"{UI}/capabilities", "runs.read", ui.capabilities),
    Route("GET", f"{UI}/events/kinds", "runs.read", _ui(dashboard_app.event_kinds)),
    Route("GET", f"{UI}/runs/stream", "runs.read", _ui(streams.runs_stream)),
    Route("GET", f"{UI}/runs/{{run_id}}/events/stream", "runs.read", _ui(streams.events_stream)),
    Route("GET", f"{UI}/runs/{{run_id}}/logs/{{node_id:.+}}/stream", "logs.read",
          _ui(streams.log_stream)),
    Route("GET", f"{UI}/runs/{{run_id}}/logs", "logs.read", _ui(logs_api.run_logs)),
    Route("GET", f"{UI}/runs/{{run_id}}/logs/search", "logs.read", _ui(logs_api.search_logs)),
    Route("GET", f"{UI}/runs/{{run_id}}/logs/{{node_id:.+}}", "logs.read",
          _ui(logs_api.get_node_log)),
    Route("GET", f"{UI}/runs", "runs.read", _ui(runs_api.list_runs)),
    Route("GET", f"{UI}/projects", "runs.read", _ui(runs_api.list_projects)),
    Route("GET", f"{UI}/runs/{{run_id}}", "runs.read", _ui(runs_api.get_run)),
    Route("GET", f"{UI}/runs/{{run_id}}/nodes", "runs.read", _ui(runs_api.list_nodes)),
    Route("GET", f"{UI}/runs/{{run_id}}/nodes/{{node_id:.+}}", "runs.read",
          _ui(runs_api.get_node)),
    Route("GET", f"{UI}/runs/{{run_id}}/steps", "runs.read", _ui(runs_api.list_steps)),
    Route("GET", f"{UI}/runs/{{run_id}}/events", "runs.read", _ui(runs_api.list_events)),
    Route("POST", f"{UI}/runs/{{run_id}}/cancel", "runs.write", _ui(runs_api.cancel_run)),
    Route("GET", f"{UI}/approvals/pending", "runs.read", _ui(actions_api.pending_approvals)),
    Route("GET", f"{UI}/runs/{{run_id}}/approvals", "runs.read", _ui(actions_api.run_approvals)),
    Route("GET", f"{UI}/runs/{{run_id}}/approvals/{{node_id:.+}}", "runs.read",
          _ui(actions_api.get_approval)),
    Route("POST", f"{UI}/runs/{{run_id}}/approvals/{{node_id:.+}}", "approvals.write",
          _ui(actions_api.resolve_approval)),
    Route("GET", f"{UI}/runs/{{run_id}}/paused", "runs.read", _ui(actions_api.run_pauses)),
    Route("POST", f"{UI}/runs/{{run_id}}/nodes/{{node_id:.+}}/release", "runs.write",
          _ui(actions_api.release_pause)),
    # -- work queues: trigger claims and the node claim queue (queue_api) --
    Route("POST", f"{API}/triggers/claim", "triggers.claim", queue_api.claim_trigger),
    Route("POST", f"{API}/triggers/{{trigger_id}}/heartbeat", "triggers.claim",
          queue_api.heartbeat_trigger),
    Route("POST", f"{API}/triggers/{{trigger_id}}/done", "triggers.claim",
          queue_api.finish_trigger),
    Route("GET", f"{API}/triggers", "triggers.read", queue_api.list_triggers),
    Route("GET", f"{API}/triggers/{{trigger_id}}", "triggers.read", queue_api.get_trigger),
    Route("POST", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/mark-ready", "nodes.claim",
          queue_api.mark_ready),
    Route("POST", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/revoke-ready", "nodes.claim",
          queue_api.revoke_ready),
    Route("POST", f"{API}/nodes/claim", "nodes.claim", queue_api.claim_node),
    Route("POST", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/heartbeat", "nodes.claim",
          queue_api.heartbeat_node),
    Route("POST", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/release", "nodes.claim",
          queue_api.release_node),
    Route("POST", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/claim-finish", "nodes.claim",
          queue_api.finish_node),
    Route("GET", f"{API}/nodes/queue", "runs.read", queue_api.list_queue),
    # -- one queued node attempt, polled by the queue executor (attempt_api)
    Route("GET", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/queue", "runs.read",
          attempt_api.get_queued_attempt),
    # -- remote state store (state_api) and logs service (logs_api): ControllerStateStore and
    # ControllerLogStore of sparkwing.storage.controller call these
    Route("POST", f"{API}/runs", "runs.report", state_api.create_run),
    Route("POST", f"{API}/runs/query", "runs.read", state_api.query_runs),
    Route("POST", f"{API}/runs/reap", "runs.report", state_api.reap_runs),
    Route("GET", f"{API}/runs/{{run_id}}/record", "runs.read", state_api.get_run_record),
    Route("PATCH", f"{API}/runs/{{run_id}}", "runs.report", state_api.update_run),
    Route("DELETE", f"{API}/runs/{{run_id}}", "runs.write", state_api.delete_run),
    Route("POST", f"{API}/runs/{{run_id}}/nodes", "runs.report", state_api.create_nodes),
    Route("GET", f"{API}/runs/{{run_id}}/nodes", "runs.read", state_api.list_nodes),
    Route("GET", f"{API}/runs/{{run_id}}/nodes/{{node_id}}", "runs.read", state_api.get_node),
    Route("PATCH", f"{API}/runs/{{run_id}}/nodes/{{node_id}}", "runs.report",
          state_api.update_node),
    Route("POST", f"{API}/runs/{{run_id}}/steps", "runs.report", state_api.upsert_step),
    Route("GET", f"{API}/runs/{{run_id}}/steps", "runs.read", state_api.list_steps),
    Route("POST", f"{API}/runs/{{run_id}}/events", "runs.report", state_api.append_event),
    Route("POST", f"{API}/state/writes", "runs.report", state_api.write_batch),
    Route("POST", f"{API}/runs/{{run_id}}/approvals/{{node_id}}/request", "runs.report",
          state_api.request_approval),
    Route("GET", f"{API}/runs/{{run_id}}/approvals/{{node_id}}", "runs.read",
          state_api.get_approval),
    Route("POST", f"{API}/runs/{{run_id}}/approvals/{{node_id}}", "approvals.write",
          state_api.resolve_approval),
    Route("POST", f"{API}/runs/{{run_id}}/approvals/{{node_id}}/expire", "runs.report",
          state_api.expire_approval),
    Route("GET", f"{API}/approvals", "runs.read", state_api.list_approvals),
    Route("POST", f"{API}/runs/{{run_id}}/debug-pauses", "runs.report", state_api.create_pause),
    Route("GET", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/debug-pause", "runs.read",
          state_api.get_pause),
    Route("POST", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/debug-pause/release", "runs.report",
          state_api.release_pause),
    Route("GET", f"{API}/debug-pauses", "runs.read", state_api.list_pauses),
    Route("POST", f"{API}/memo/lookup", "runs.read", state_api.memo_lookup),
    Route("PUT", f"{API}/memo", "runs.report", state_api.memo_put),
    Route("GET", f"{API}/memo", "runs.read", state_api.memo_list),
    Route("POST", f"{API}/memo/delete", "runs.report", state_api.memo_delete),
    Route("POST", f"{API}/memo/prune", "runs.report", state_api.memo_prune),
    Route("POST", f"{API}/concurrency/renew", "runs.report", state_api.concurrency_renew),
    Route("POST", f"{API}/concurrency/{{key}}/acquire", "runs.report",
          state_api.concurrency_acquire),
    Route("POST", f"{API}/concurrency/{{key}}/release", "runs.report",
          state_api.concurrency_release),
    Route("GET", f"{API}/concurrency/{{key}}/state", "runs.read", state_api.concurrency_state),
    Route("POST", f"{API}/trigger-rows", "runs.report", state_api.insert_trigger),
    Route("GET", f"{API}/trigger-rows", "triggers.read", state_api.list_triggers),
    Route("POST", f"{API}/trigger-rows/claim", "triggers.claim", state_api.claim_trigger),
    Route("POST", f"{API}/trigger-rows/requeue-expired", "triggers.claim",
          state_api.requeue_triggers),
    Route("GET", f"{API}/trigger-rows/{{trigger_id}}", "triggers.read", state_api.get_trigger),
    Route("POST", f"{API}/trigger-rows/{{trigger_id}}/renew", "triggers.claim",
          state_api.renew_trigger),
    Route("POST", f"{API}/trigger-rows/{{trigger_id}}/finish", "triggers.claim",
          state_api.finish_trigger),
    Route("GET", f"{API}/logs/{{run_id}}", "logs.read", ctl_logs.list_streams),
    Route("DELETE", f"{API}/logs/{{run_id}}", "logs.write", ctl_logs.delete_logs),
    Route("POST", f"{API}/logs/{{run_id}}/lines", "logs.write", ctl_logs.append_lines),
    Route("GET", f"{API}/logs/{{run_id}}/lines", "logs.read", ctl_logs.read_lines),
    Route("GET", f"{API}/logs/{{run_id}}/tail", "logs.read", ctl_logs.tail_lines),
    Route("GET", f"{API}/logs/{{run_id}}/stream", "logs.read", ctl_logs.stream_lines),
    # secrets (values sealed at rest; see secretstore.py)
    Route("GET", f"{API}/secrets", "secrets.read", secretroutes.list_secrets),
    Route("GET", f"{API}/secrets/{{name:{SECRET_NAME}}}", "secrets.read",
          secretroutes.read_secret),
    Route("PUT", f"{API}/secrets/{{name:{SECRET_NAME}}}", "admin", secretroutes.put_secret),
    Route("DELETE", f"{API}/secrets/{{name:{SECRET_NAME}}}", "admin",
          secretroutes.delete_secret),
    # people acting on live runs: approve/deny a gate, release a debug pause (people_api.py)
    Route("POST", f"{API}/runs/{{run_id}}/approvals/{{node_id}}/decide", "approvals.write",
          people_api.decide_approval),
    Route("POST", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/debug-pause/manual-release",
          "runs.write", people_api.manual_release),
    # tokens and login users over HTTP, the CLI's `controller token|user` (admin_api.py);
    # POST /users is the first-admin sign-up while the controller is open (auth off)
    Route("POST", f"{API}/tokens", "admin", admin_api.create_token),
    Route("GET", f"{API}/tokens", "admin", admin_api.list_tokens),
    Route("GET", f"{API}/tokens/{{prefix}}", "admin", admin_api.get_token),
    Route("DELETE", f"{API}/tokens/{{prefix}}", "admin", admin_api.revoke_token),
    Route("POST", f"{API}/tokens/{{prefix}}/rotate", "admin", admin_api.rotate_token),
    Route("GET", f"{API}/users", "admin", admin_api.list_users),
    Route("POST", f"{API}/users", "admin", admin_api.create_user),
    Route("DELETE", f"{API}/users/{{user}}", "admin", admin_api.delete_user),
    Route("GET", f"{API}/auth/bootstrap-needed", PUBLIC, admin_api.bootstrap_needed),
    # the artifact/cache store of the controller's profile (blob_api): ControllerArtifactStore
    Route("PUT", f"{API}/cache/blobs/{{digest}}", "cache.write", blob_api.put_blob,
          body_type=OCTETS),
    Route("GET", f"{API}/cache/blobs/{{digest}}", "cache.read", blob_api.get_blob),
    Route("HEAD", f"{API}/cache/blobs/{{digest}}", "cache.read", blob_api.head_blob),
    Route("GET", f"{API}/cache/keys", "cache.read", blob_api.list_keys),
    Route("PUT", f"{API}/cache/keys/{{cache_key:.+}}", "cache.write", blob_api.put_key,
          body_type=OCTETS),
    Route("GET", f"{API}/cache/keys/{{cache_key:.+}}", "cache.read", blob_api.get_key),
    Route("HEAD", f"{API}/cache/keys/{{cache_key:.+}}", "cache.read", blob_api.head_key),
    Route("DELETE", f"{API}/cache/keys/{{cache_key:.+}}", "cache.write", blob_api.delete_key),
    # runs and jobs lifecycle: cancel, retry, retry lineage, cancel one job (lifecycle_api.py)
    Route("POST", f"{API}/runs/{{run_id}}/cancel", "runs.write", lifecycle_api.cancel_run),
    Route("POST", f"{API}/runs/{{run_id}}/retry", "runs.write", lifecycle_api.retry_run),
    Route("GET", f"{API}/runs/{{run_id}}/attempts", "runs.read", lifecycle_api.run_attempts),
    Route("POST", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/cancel", "runs.write",
          lifecycle_api.cancel_node),
)

for _route in ROUTES:  # a typo in a scope must fail at import, not let a route through
    if _route.scope not in (PUBLIC, AUTHENTICATED) and _route.scope not in SCOPES:
        raise ValueError(f"route {_route.key}: unknown scope {_route.scope!r}")


def add_routes(app: web.Application) -> None:
    """Register every route of :data:`ROUTES` on *app*, the :class:`Route` attached to it."""
    for route in ROUTES:
        resource = app.router.add_resource(route.path)
        resource.add_route(route.method, _tagged(route))


#: Attribute of a registered handler holding its :class:`Route`.
ROUTE_ATTR = "sparkwing_route"


def _tagged(route: Route) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await route.handler(request)

    setattr(handler, ROUTE_ATTR, route)
    handler.__doc__ = route.handler.__doc__
    return handler


def route_of(request: web.Request) -> Route | None:
    """The :class:`Route` a request matched, or ``None`` (404/405)."""
    route = getattr(request.match_info.handler, ROUTE_ATTR, None)
    return route if isinstance(route, Route) else None

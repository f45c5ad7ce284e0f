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

from . import api, code_api
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

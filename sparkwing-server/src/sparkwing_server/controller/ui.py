"""The web UI on the controller: the local dashboard's page, static files and JSON API.

The controller serves the very page the local dashboard serves
(:func:`sparkwing_server.localws.app.render_index`, with settings saying
``mode: controller``, the API under :data:`UI_API` and where to log in and
out), and the dashboard's own API handlers (``localws.runs_api``,
``logs_api``, ``streams``, ``actions_api``) under :data:`UI_API`, listed
with their scopes in :data:`~.routes.ROUTES` like every other route: the
controller's middleware authenticates them (token or login session) before
they run. The handlers find their :class:`~sparkwing_server.localws.context.ServerContext`
on the application as in the dashboard: :func:`attach` puts one over the
controller's stores there (no reconciling of orphaned runs, no schedules:
those belong to the machines that run pipelines).

:func:`dashboard` adapts a dashboard handler: the verified caller becomes
who acts (an approval's approver, a cancel's ``by``) instead of the
``X-Sparkwing-User`` header, and the dashboard's errors leave in the
controller's one error shape. Retrying a run is not offered: on the
dashboard it starts ``sparkwing runs retry`` on the dashboard's machine,
and the controller does not run pipelines.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from .. import __version__
from .api import PRINCIPAL_KEY
from .context import ControllerContext, context_of
from .errors import APIError, json_response

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Base path of the dashboard API the web UI talks to on the controller.
UI_API = "/ui/api/v1"
#: Features the controller's UI offers, and the scope each needs (the UI hides the rest).
FEATURE_SCOPES: dict[str, str] = {
    "runs": "runs.read", "events": "runs.read", "streams": "runs.read",
    "logs": "logs.read", "log-search": "logs.read",
    "cancel": "runs.write", "pauses": "runs.write", "approvals": "approvals.write",
}


def attach(app: web.Application, ctx: ControllerContext) -> None:
    """Give *app* the dashboard context its UI handlers need, started and stopped with it."""
    from ..localws.context import CONTEXT_KEY, ServerContext, ServerOptions

    ui = ServerContext(stores=ctx.stores,
                       options=ServerOptions(reconcile_every_s=0, schedule_every_s=0))
    app[CONTEXT_KEY] = ui

    async def on_startup(_app: web.Application) -> None:
        ui.start()

    async def on_shutdown(_app: web.Application) -> None:
        ui.closing.set()

    async def on_cleanup(_app: web.Application) -> None:
        ui.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)


def dashboard(handler: _Handler) -> _Handler:
    """*handler* (a dashboard API handler) as a controller handler (see the module)."""
    from sparkwing.errors import NotFoundError, SparkwingError

    from ..localws.actor import ACTOR_KEY
    from ..localws.errors import APIError as DashboardError

    @functools.wraps(handler)
    async def adapted(request: web.Request) -> web.StreamResponse:
        principal = request.get(PRINCIPAL_KEY)
        if principal is not None:
            request[ACTOR_KEY] = principal.label
        try:
            return await handler(request)
        except DashboardError as exc:
            raise APIError(exc.status, exc.message) from None
        except NotFoundError as exc:
            raise APIError(404, str(exc)) from None
        except SparkwingError as exc:
            raise APIError(400, " ".join(str(exc).split())) from None

    return adapted


@functools.cache
def _index_page() -> str:
    from ..localws.app import render_index

    return render_index({"mode": "controller", "api": UI_API, "whoami": "/api/v1/auth/whoami",
                         "login": "/login", "logout": "/logout"})


async def index(request: web.Request) -> web.Response:
    """``GET /``: the web UI (a caller without a session is sent to the login page)."""
    response = web.Response(text=_index_page(), content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-cache"
    return _framing_headers(response)


def _framing_headers(response: web.Response) -> web.Response:
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _static_dir() -> Path:
    from ..localws.app import STATIC_DIR

    return STATIC_DIR.resolve()


async def static(request: web.Request) -> web.StreamResponse:
    """``GET /static/{path}``: the UI's scripts, styles and icon (public: the login page uses them)."""
    root = _static_dir()
    name = request.match_info["path"]
    target = (root / name).resolve()
    if ".." in Path(name).parts or root not in target.parents or not target.is_file():
        raise APIError(404, f"no static file {name!r}")
    response = web.FileResponse(target, headers={"Cache-Control": "no-cache",
                                                 "X-Content-Type-Options": "nosniff"})
    return response


async def capabilities(request: web.Request) -> web.Response:
    """``GET /ui/api/v1/capabilities``: what the UI may offer and the scope each feature needs.

    The page removes the features whose scope the caller (``GET
    /api/v1/auth/whoami``) does not hold; the routes refuse them anyway (403).
    """
    from ..localws.app import store_type

    ctx = context_of(request)
    return json_response({
        "mode": "controller", "version": __version__, "profile": ctx.profile_name,
        "storage": {"runs": store_type(ctx.stores, "state"), "logs": store_type(ctx.stores, "logs")},
        "features": list(FEATURE_SCOPES), "feature_scopes": FEATURE_SCOPES,
        "read_only": False, "auth": ctx.auth_mode,
    })


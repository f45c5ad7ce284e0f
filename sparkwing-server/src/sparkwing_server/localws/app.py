"""The dashboard's aiohttp application: API routes, streams, web UI, plugin routes."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from sparkwing.errors import ConflictError, NotFoundError, SparkwingError, StoreError

from .. import __version__
from ..requestguard import RequestPolicy, check_self_auth_body, self_auth_limit
from . import actions_api, logs_api, runs_api, streams
from .context import CONTEXT_KEY, ServerContext, ServerOptions, context_of
from .errors import json_response
from .jsontext import dumps
from .launcher import cli_available

if TYPE_CHECKING:
    from sparkwing.config import Stores

#: Directory of the web UI's static files (shipped inside the package).
STATIC_DIR = Path(__file__).parent / "static"
#: Placeholder in ``index.html`` where the event kinds are embedded.
EVENT_KINDS_SLOT = "<!-- sparkwing:event-kinds -->"
#: Id of the element carrying the event kinds in the page.
EVENT_KINDS_ID = "sparkwing-event-kinds"

#: Message of the 405 answer to a write in read-only mode.
READ_ONLY_MESSAGE = "read-only mode: writes disabled"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _Log:
    """The server's program log (structlog, bound on first use)."""

    def exception(self, msg: str, *args: object) -> None:
        from sparkwing.proglog import get_logger

        get_logger("sparkwing.localws").exception(msg % args if args else msg)

    def warning(self, msg: str) -> None:
        from sparkwing.proglog import get_logger

        get_logger("sparkwing.localws").warning(msg)


_log = _Log()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: Where the dashboard's request policy is kept on the application.
POLICY_KEY = web.AppKey("policy", RequestPolicy)


def make_app(stores: Stores, *, read_only: bool = False,
             options: ServerOptions | None = None,
             policy: RequestPolicy | None = None,
             project_root: Path | None = None) -> web.Application:
    """Build the dashboard application over opened *stores*.

    *stores* are a profile's opened stores, as :func:`sparkwing.config.open_stores`
    returns them (``state`` and ``logs`` are served). With *read_only*, every
    non-GET ``/api/*`` request is refused with 405. Plugins add routes
    through ``sparkwing_add_server_routes(app, context)``, where *context* is
    the :class:`ServerContext`. The caller keeps ownership of the stores.
    *policy* says which ``Host`` names and write credentials are accepted
    (default: loopback names only, writes from the server's own page only;
    see :mod:`sparkwing_server.requestguard`). With *project_root* (the
    project the dashboard was started in), its ``on.schedule`` entries are
    ticked once a minute (:mod:`.scheduler`).
    """
    ctx = ServerContext(stores=stores, read_only=read_only, options=options or ServerOptions(),
                        project_root=project_root)
    app = web.Application(middlewares=[_request_guard, _api_guard])
    app[CONTEXT_KEY] = ctx
    app[POLICY_KEY] = policy or RequestPolicy()

    app.router.add_get("/api/health", health)
    app.router.add_get("/api/v1/version", version)
    app.router.add_get("/api/v1/capabilities", capabilities)
    app.router.add_get("/api/v1/events/kinds", event_kinds)
    # Streams first: their paths would otherwise match the detail routes.
    app.router.add_routes(streams.routes)
    app.router.add_routes(logs_api.routes)
    app.router.add_routes(runs_api.routes)
    app.router.add_routes(actions_api.routes)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, show_index=False)

    from sparkwing.paths import sparkwing_home
    from sparkwing.plugins.manager import get_host
    from sparkwing.triggers.routes import add_source_routes

    host = get_host()
    host.add_server_routes(app, ctx)
    for line in add_source_routes(app, ctx, host.registry, home=sparkwing_home(),
                                  profile=ctx.profile_name):
        _log.warning(line)

    tasks: list[asyncio.Task[None]] = []

    async def on_startup(_: web.Application) -> None:
        ctx.start()
        if not read_only and ctx.options.reconcile_every_s > 0:
            tasks.append(asyncio.create_task(_reconcile_loop(ctx)))
        if not read_only and project_root is not None and ctx.options.schedule_every_s > 0:
            from .scheduler import schedule_loop

            tasks.append(asyncio.create_task(schedule_loop(ctx)))

    async def on_shutdown(_: web.Application) -> None:
        ctx.closing.set()
        for task in tasks:
            task.cancel()

    async def on_cleanup(_: web.Application) -> None:
        ctx.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


async def _reconcile_loop(ctx: ServerContext) -> None:
    """Settle runs whose process died or stopped heartbeating (as ``sparkwing runs`` reads do)."""
    try:
        from sparkwing.orchestrator.reconcile import reconcile
    except ImportError:  # an install without the orchestrator has nothing to reconcile
        return
    while not ctx.closing.is_set():
        try:
            await ctx.state_call(reconcile, ctx.state)
        except Exception:
            _log.exception("reconciling orphaned runs failed")
        await asyncio.sleep(ctx.options.reconcile_every_s)


@web.middleware
async def _request_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse foreign ``Host`` names, writes in read-only mode, forged writes, non-JSON bodies."""
    policy = request.app[POLICY_KEY]
    refusal = policy.check_host(request.host)
    if refusal is None and request.method not in _SAFE_METHODS:
        if context_of(request).read_only and (
                request.path.startswith("/api/")
                or self_auth_limit(request.match_info.route.handler) is not None):
            response = json_response({"error": READ_ONLY_MESSAGE}, status=405)
            response.headers["Allow"] = "GET, HEAD, OPTIONS"
            return response
        limit = self_auth_limit(request.match_info.route.handler)
        if limit is not None:  # the route checks its own signature; size is checked here
            refusal = check_self_auth_body(request.content_length, request.body_exists, limit)
        else:
            refusal = policy.check_write(request.headers, request.host, request.body_exists)
    if refusal is not None:
        return json_response({"error": refusal.message}, status=refusal.status)
    return await handler(request)


@web.middleware
async def _api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer API errors as JSON."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        return json_response({"error": exc.reason.lower()}, status=exc.status)
    except NotFoundError as exc:
        return json_response({"error": str(exc)}, status=404)
    except ConflictError as exc:
        return json_response({"error": str(exc)}, status=409)
    except StoreError as exc:  # the store is away or failing: not the request's fault
        return json_response({"error": str(exc)}, status=503)
    except SparkwingError as exc:
        return json_response({"error": str(exc)}, status=400)
    except Exception as exc:
        _log.exception("error in %s %s", request.method, request.path)
        return json_response({"error": f"internal error: {type(exc).__name__}: {exc}"}, status=500)


async def health(request: web.Request) -> web.Response:
    """``GET /api/health``: ``{"status": "ok"}`` while the server runs."""
    return json_response({"status": "ok"})


async def version(request: web.Request) -> web.Response:
    """``GET /api/v1/version``: the server's version (also the dashboard replacement handshake)."""
    return json_response({
        "name": "sparkwing-server",
        "component": "localws",
        "version": __version__,
        "pid": os.getpid(),
    })


def store_type(stores: Stores, kind: str) -> str:
    """The configured ``type`` of *stores*' ``state`` or ``logs`` store (else its class name)."""
    block = stores.resolved.blocks.get(kind) or {}
    if block.get("type"):
        return str(block["type"])
    return type(getattr(stores, kind)).__name__


async def capabilities(request: web.Request) -> web.Response:
    """``GET /api/v1/capabilities``: mode, stores, features the UI may offer, read-only flag."""
    ctx = context_of(request)
    features = ["runs", "logs", "events", "log-search", "streams"]
    if not ctx.read_only:
        features += ["cancel", "approvals", "pauses"]
        if cli_available():
            features.append("retry")
    return json_response({
        "mode": "local",
        "version": __version__,
        "profile": ctx.profile_name,
        "storage": {"runs": store_type(ctx.stores, "state"),
                    "logs": store_type(ctx.stores, "logs")},
        "features": features,
        "read_only": ctx.read_only,
    })


async def event_kinds(request: web.Request) -> web.Response:
    """``GET /api/v1/events/kinds``: every event kind by family (``state``, ``log``, ``stream``)."""
    from sparkwing.events import kinds_by_stream

    return json_response(kinds_by_stream())


#: Placeholder in ``index.html`` where the page's settings are embedded.
UI_CONFIG_SLOT = "<!-- sparkwing:ui-config -->"
#: Id of the element carrying the page's settings.
UI_CONFIG_ID = "sparkwing-ui-config"
#: The local dashboard's page settings: where its JSON API is, and that nobody logs in.
LOCAL_UI_CONFIG: dict[str, str] = {"mode": "local", "api": "/api/v1"}


def _json_script(element_id: str, data: object) -> str:
    # "<" escaped so no value can close the script element early
    text = dumps(data).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def render_index(config: Mapping[str, str]) -> str:
    """The web UI's page with the event kinds and the page settings *config* embedded.

    ``index.html`` holds the placeholders :data:`EVENT_KINDS_SLOT` (replaced by a
    ``<script type="application/json" id="sparkwing-event-kinds">`` element
    carrying :func:`sparkwing.events.kinds_by_stream`) and :data:`UI_CONFIG_SLOT`
    (replaced by ``id="sparkwing-ui-config"`` carrying *config*: ``mode``
    (``local`` or ``controller``), ``api`` (the JSON API's base path) and, on
    the controller, ``whoami``, ``login`` and ``logout``). The controller
    serves the same page with its own settings.
    """
    from sparkwing.events import kinds_by_stream

    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    for slot in (EVENT_KINDS_SLOT, UI_CONFIG_SLOT):
        if slot not in page:
            raise RuntimeError(f"{STATIC_DIR / 'index.html'} lacks {slot}")
    page = page.replace(EVENT_KINDS_SLOT, _json_script(EVENT_KINDS_ID, kinds_by_stream()))
    return page.replace(UI_CONFIG_SLOT, _json_script(UI_CONFIG_ID, dict(config)))


@functools.cache
def index_html() -> str:
    """The local dashboard's page (:func:`render_index` with :data:`LOCAL_UI_CONFIG`)."""
    return render_index(LOCAL_UI_CONFIG)


async def index(request: web.Request) -> web.Response:
    """``GET /``: the web UI."""
    response = web.Response(text=index_html(), content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-cache"
    return response

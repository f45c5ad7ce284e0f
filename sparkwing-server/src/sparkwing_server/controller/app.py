"""The controller's aiohttp application: the route table behind one guard middleware.

For every request the middleware, in order: checks ``Host`` (421, see
:mod:`sparkwing_server.requestguard`); finds the :class:`~.routes.Route`;
for a non-public route while auth is enforced, checks the bearer token, or
without one the login session cookie (401: none, malformed, unknown,
revoked or expired, session ended; an HTML page answers a 303 to the login
page instead; 403: valid but without the route's scope); checks writes (a
session's write needs its CSRF header, 403; a valid token stands for the
``Origin`` check, a session does not; bodies must be JSON, or a form where
the route takes one); fences a write carrying a node claim (409
``claim_lost`` unless it is current, :mod:`.claimfence`); runs the handler. Every error leaves in the
one shape of :mod:`.errors`, and every answer is counted in :mod:`.metrics`
under its route pattern.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..requestguard import SAFE_METHODS, RequestPolicy
from .api import PRINCIPAL_KEY
from .claimfence import check_write_claim
from .context import CONTEXT_KEY, ControllerContext, context_of
from .errors import APIError, error_response
from .reaper import install as install_reaper
from .routes import add_routes, route_of
from .scopes import grants
from .tokens import Principal, TokenRejected
from .ui import attach as attach_ui
from .websession import (
    CSRF_HEADER,
    SESSION_KEY,
    csrf_ok,
    login_redirect,
    principal_of,
    session_id_of,
)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: What a 401 says per refusal reason.
_REJECTED = {
    "missing": "this route needs a token: Authorization: Bearer sw?_...",
    "malformed": "the bearer token is not a sparkwing token (swu_/swr_/sws_)",
    "unknown": "the bearer token is not valid",
    "revoked": "the bearer token was revoked",
    "expired": "the bearer token has expired",
    "session": "the login session has ended or expired; log in again",
}


def _bearer(request: web.Request) -> str:
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def _authenticate(request: web.Request, ctx: ControllerContext, raw: str) -> Principal:
    """The caller's principal from the bearer token, else the session cookie; 401 otherwise."""
    if raw:
        try:
            return await ctx.token_call(ctx.tokens.verify, raw)
        except TokenRejected as exc:
            ctx.metrics.refused(exc.reason)
            raise APIError(401, _REJECTED[exc.reason], "unauthenticated") from None
    session_id = session_id_of(request)
    if not session_id:
        ctx.metrics.refused("missing")
        raise APIError(401, _REJECTED["missing"], "unauthenticated")
    session = await ctx.token_call(ctx.users.session, session_id)
    if session is None:
        ctx.metrics.refused("session")
        raise APIError(401, _REJECTED["session"], "unauthenticated")
    request[SESSION_KEY] = session
    return principal_of(session)


async def _guarded(request: web.Request, handler: _Handler) -> web.StreamResponse:
    ctx = context_of(request)
    refusal = ctx.policy.check_host(request.headers.get("Host") or request.host or "")
    if refusal is not None:
        raise APIError(refusal.status, refusal.message)
    route = route_of(request)
    if route is None:
        return await handler(request)  # aiohttp's 404/405, reshaped by the caller
    raw = _bearer(request)
    if not route.public and await ctx.auth_enforced():
        try:
            principal = await _authenticate(request, ctx, raw)
        except APIError as exc:
            if route.page and exc.status == 401:
                return login_redirect(request)
            raise
        if not grants(principal.scopes, route.scope):
            ctx.metrics.refused("missing_scope")
            raise APIError(403, f"{route.key} needs scope {route.scope!r}", "missing_scope",
                           missing_scope=route.scope, principal=principal.label)
        request[PRINCIPAL_KEY] = principal
    if request.method.upper() not in SAFE_METHODS:
        session = request.get(SESSION_KEY)
        if session is not None and not csrf_ok(request, session):
            ctx.metrics.refused("csrf")
            raise APIError(403, f"a write made with a login session needs the session's "
                                f"{CSRF_HEADER} header (see GET /api/v1/auth/whoami)", "csrf_failed")
        # A verified token proves the caller is not a forging web page; without one (a
        # session is a cookie a browser sends by itself) the request needs this server's
        # Origin. Bodies must be of the route's one type (JSON, or octet-stream for bundle
        # uploads), except on the routes that also take an HTML form (they check it).
        token = raw if PRINCIPAL_KEY in request and session is None else ""
        policy = RequestPolicy(ctx.policy.hosts, token=token)
        refusal = policy.check_write(request.headers, request.headers.get("Host") or "",
                                     request.can_read_body and not route.form,
                                     route.body_type)
        if refusal is not None:
            raise APIError(refusal.status, refusal.message)
        await check_write_claim(request, ctx)
    return await handler(request)


@web.middleware
async def guard_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Host check, token and scope check, write check, error shape and metrics (see module)."""
    ctx = context_of(request)
    started = time.monotonic()
    try:
        response = await _guarded(request, handler)
    except APIError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        response = error_response(exc.status, exc.reason or "error")
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
    except Exception as exc:  # one shape even for a crash; the detail goes to the log
        from sparkwing.proglog import get_logger

        get_logger("sparkwing.controller").error(
            f"{request.method} {request.path} failed: {type(exc).__name__}: {exc}")
        response = error_response(500, "internal error (see the controller's log)")
    route = route_of(request)
    ctx.metrics.observe(request.method, route.path if route else "(unmatched)",
                        response.status, time.monotonic() - started)
    return response


def make_app(ctx: ControllerContext) -> web.Application:
    """The controller application over *ctx* (worker threads start with the app)."""
    app = web.Application(middlewares=[guard_middleware], client_max_size=1 << 20)
    app[CONTEXT_KEY] = ctx
    add_routes(app)
    attach_ui(app, ctx)

    async def on_startup(_app: web.Application) -> None:
        ctx.start()

    async def on_cleanup(_app: web.Application) -> None:
        ctx.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    install_reaper(app)
    return app

"""Logging in and out of the web UI: the login page, ``POST /login``, ``POST /logout``.

``POST /login`` takes ``{"username", "password"}`` as JSON, or the login
page's form (``username``, ``password``, ``next``). On success it starts a
session (:meth:`~.users.UserStore.start_session`) and sets its cookie
(:mod:`.websession`): a JSON caller gets 200 ``{principal, name, scopes,
csrf_token, expires_at}``, the form a 303 to ``next``. A wrong name or
password is one 401 ``login_failed`` (the form: the page again, with the
message); while the rate limit (:mod:`.loginlimit`) holds the user name or
the client address, 429 ``too_many_requests`` with ``Retry-After``, before
any password is checked.

``POST /logout`` ends the session of the cookie (a live session's logout
must carry its CSRF token, in the header or the form's ``csrf_token``) and
clears the cookie: 204, or a 303 to the login page for the form.

Both are public routes (nobody is logged in yet, or the session may be
gone), but as writes without a token they pass the controller's ``Origin``
check: a page on another site can neither log a browser in nor out.
"""

from __future__ import annotations

import hmac
import html
import time
from typing import Any

from aiohttp import web

from .context import ControllerContext, context_of
from .errors import APIError, json_response, read_json
from .users import MAX_PASSWORD_LEN, LoginFailed, Session
from .websession import (
    CSRF_HEADER,
    LOGIN_PATH,
    clear_session_cookie,
    csrf_ok,
    is_secure,
    safe_next,
    session_id_of,
    set_session_cookie,
)

#: Content type of an HTML form body.
FORM_TYPE = "application/x-www-form-urlencoded"


def _page(message: str = "", next_path: str = "/", username: str = "") -> str:
    note = (f'<p class="login-error" id="login-error" role="alert">{html.escape(message)}</p>'
            if message else "")
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <title>log in · sparkwing</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/app.css">
</head>
<body>
  <header class="topbar"><span class="brand"><span>sparkwing</span></span></header>
  <main class="view">
    <section class="panel login">
      <h1>Log in</h1>
      {note}
      <form method="post" action="{LOGIN_PATH}" id="login-form">
        <input type="hidden" name="next" value="{html.escape(safe_next(next_path))}">
        <label>User <input name="username" id="username" autocomplete="username" required
          autofocus value="{html.escape(username)}"></label>
        <label>Password <input name="password" id="password" type="password"
          autocomplete="current-password" required></label>
        <button type="submit" class="btn" id="login-submit">Log in</button>
      </form>
    </section>
  </main>
</body>
</html>
"""


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                            headers=headers)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


async def _live_session(request: web.Request, ctx: ControllerContext) -> Session | None:
    session_id = session_id_of(request)
    if not session_id:
        return None
    return await ctx.token_call(ctx.users.session, session_id)


async def login_page(request: web.Request) -> web.Response:
    """``GET /login``: the login form (a live session goes straight to ``next``)."""
    ctx = context_of(request)
    next_path = safe_next(request.query.get("next", "/"))
    if await _live_session(request, ctx) is not None:
        return web.Response(status=303, headers={"Location": next_path})
    return _html(_page(next_path=next_path))


def _is_form(request: web.Request) -> bool:
    return request.content_type == FORM_TYPE


async def _credentials(request: web.Request) -> tuple[str, str, str]:
    """``(username, password, next)`` from a form or a JSON body; 400/415 otherwise."""
    if _is_form(request):
        if request.content_length is not None and request.content_length > 4 * MAX_PASSWORD_LEN:
            raise APIError(413, f"body is larger than {4 * MAX_PASSWORD_LEN} bytes")
        form = await request.post()
        values = {k: form.get(k) for k in ("username", "password", "next")}
        return (str(values["username"] or ""), str(values["password"] or ""),
                str(values["next"] or "/"))
    if request.content_type != "application/json":
        raise APIError(415, "POST /login takes application/json or an HTML form "
                            f"({FORM_TYPE})")
    body: dict[str, Any] = await read_json(request)
    for key in body:
        if key not in ("username", "password"):
            raise APIError(400, f"unknown field {key!r}; allowed: username, password",
                           "unknown_field", field=key)
    user, password = body.get("username"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise APIError(400, "fields 'username' and 'password' are required strings",
                       field="username" if not isinstance(user, str) else "password")
    return user, password, "/"


async def login(request: web.Request) -> web.Response:
    """``POST /login``: check a name and password, start a session (see the module)."""
    ctx = context_of(request)
    form = _is_form(request)
    username, password, next_path = await _credentials(request)
    username = username.strip()
    client = request.remote or ""
    wait = ctx.limiter.retry_after(username, client)
    if wait > 0:
        ctx.metrics.refused("login_throttled")
        message = f"too many failed logins; try again in {wait} s"
        if form:
            return _html(_page(message, next_path, username), 429, {"Retry-After": str(wait)})
        refused = APIError(429, message).response()
        refused.headers["Retry-After"] = str(wait)
        return refused
    try:
        if not username or not password or len(password) > MAX_PASSWORD_LEN:
            raise LoginFailed()
        user = await ctx.token_call(ctx.users.check_password, username, password)
    except LoginFailed:
        ctx.limiter.failed(username, client)
        ctx.metrics.refused("login_failed")
        message = "wrong user name or password"
        if form:
            return _html(_page(message, next_path, username), 401)
        raise APIError(401, message, "login_failed") from None
    ctx.limiter.succeeded(username)
    session_id, session = await ctx.token_call(ctx.users.start_session, user,
                                               ttl_s=ctx.session_ttl_s, client=client)
    from sparkwing.proglog import get_logger

    get_logger("sparkwing.controller").info(f"login: user {user.name} from {client or '?'}")
    if form:
        response: web.Response = web.Response(status=303,
                                              headers={"Location": safe_next(next_path)})
    else:
        response = json_response({"principal": f"user:{user.name}", "name": user.name,
                                  "scopes": list(session.scopes),
                                  "csrf_token": session.csrf_token,
                                  "expires_at": session.expires_at})
    response.headers["Cache-Control"] = "no-store"
    set_session_cookie(response, session_id, session.expires_at,
                       secure=is_secure(request, ctx.secure_cookies))
    return response


async def logout(request: web.Request) -> web.Response:
    """``POST /logout``: end the cookie's session and clear the cookie (see the module)."""
    ctx = context_of(request)
    form = _is_form(request)
    session = await _live_session(request, ctx)
    if session is not None:
        sent_ok = csrf_ok(request, session)
        if not sent_ok and form:
            data = await request.post()
            sent = str(data.get("csrf_token") or "")
            sent_ok = bool(sent) and hmac.compare_digest(sent.encode(),
                                                         session.csrf_token.encode())
        if not sent_ok:
            raise APIError(403, f"logging out needs the session's {CSRF_HEADER} header",
                           "csrf_failed")
        await ctx.token_call(ctx.users.end_session, session_id_of(request), now=time.time())
    response = (web.Response(status=303, headers={"Location": LOGIN_PATH}) if form
                else web.Response(status=204))
    response.headers["Cache-Control"] = "no-store"
    clear_session_cookie(response, secure=is_secure(request, ctx.secure_cookies))
    return response

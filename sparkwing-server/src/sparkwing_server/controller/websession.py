"""The browser side of a login session: its cookie, its CSRF header, the login redirect.

The session id travels only in the :data:`SESSION_COOKIE` cookie:
``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
page makes the browser send it), ``Path=/``, ``Max-Age`` the session's
lifetime, and ``Secure`` when the request came over HTTPS or the controller
was started with ``--secure-cookies`` (TLS ended at a proxy in front).

Every write made with a session must also carry the session's CSRF token in
the :data:`CSRF_HEADER` header (the web UI reads it from
``GET /api/v1/auth/whoami``); the controller's middleware checks it next to
the ``Origin`` check.
"""

from __future__ import annotations

import hmac
import time
from urllib.parse import quote, urlsplit

from aiohttp import web

from .tokens import Principal
from .users import Session

#: Name of the session cookie.
SESSION_COOKIE = "sparkwing_session"
#: Header a browser write carries the session's CSRF token in.
CSRF_HEADER = "X-CSRF-Token"
#: Request key of the :class:`~.users.Session` a request was authenticated with.
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("sparkwing_session", Session)
#: Where the login page is.
LOGIN_PATH = "/login"


def session_id_of(request: web.Request) -> str:
    """The session id the request's cookie carries ("" when none)."""
    return request.cookies.get(SESSION_COOKIE, "").strip()


def principal_of(session: Session) -> Principal:
    """The principal a session acts as: ``user:NAME`` with the user's scopes."""
    return Principal("user", session.user, session.scopes, "")


def csrf_ok(request: web.Request, session: Session) -> bool:
    """Whether the request carries *session*'s CSRF token."""
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(sent) and hmac.compare_digest(sent.encode(), session.csrf_token.encode())


def set_session_cookie(response: web.StreamResponse, session_id: str, expires_at: float, *,
                       secure: bool) -> None:
    """Put the session cookie on *response* (see the module for its attributes)."""
    response.set_cookie(SESSION_COOKIE, session_id, path="/", httponly=True, samesite="Strict",
                        secure=secure, max_age=max(0, int(expires_at - time.time())))


def clear_session_cookie(response: web.StreamResponse, *, secure: bool) -> None:
    """Make the browser drop the session cookie."""
    response.set_cookie(SESSION_COOKIE, "", path="/", httponly=True, samesite="Strict",
                        secure=secure, max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT")


def is_secure(request: web.Request, forced: bool) -> bool:
    """Whether cookies must be ``Secure``: *forced*, or the request came over HTTPS."""
    return forced or request.scheme == "https"


def safe_next(value: str) -> str:
    """A local path to go to after logging in (anything else becomes ``/``)."""
    value = value.strip()
    parts = urlsplit(value)
    if (not value.startswith("/") or value.startswith("//") or "\\" in value or parts.scheme
            or parts.netloc):
        return "/"
    return value


def login_redirect(request: web.Request) -> web.Response:
    """303 to the login page, coming back to the requested path afterwards."""
    target = request.path_qs if request.path != "/" else "/"
    location = f"{LOGIN_PATH}?next={quote(safe_next(target), safe='/')}"
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})

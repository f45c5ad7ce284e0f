"""Handlers of the token and user routes (``/api/v1/tokens``, ``/api/v1/users``; see :mod:`.routes`).

They are the HTTP face of ``sparkwing controller token …`` and
``controller user …``: the same stores (:class:`~.tokens.TokenStore`,
:class:`~.users.UserStore`) and the same checks (:func:`~.scopes.check_scopes`,
:func:`~.tokens.check_kind`, :func:`~.tokens.check_owner`,
:func:`~.tokens.check_ttl`, :func:`~.users.check_name`,
:func:`~.users.check_password`), whose one-line :class:`UsageError` becomes a
400 naming the body field. Times are Unix seconds, as in ``token list -o json``.

**The first user.** ``POST /users`` needs ``admin``; while the controller is
open (no live token and no user, so auth is off and nobody can hold
``admin``) the first call is the first-admin sign-up: the user is created
only if the table is still empty (one statement), so of two racing
sign-ups one gets 409. ``GET /auth/bootstrap-needed`` says whether that
sign-up is open. Once a token or a user exists it is closed: a controller
with tokens but no users is not open to anyone who asks for an admin login.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from aiohttp import web
from sparkwing.errors import NotFoundError, UsageError

from .api import PRINCIPAL_KEY
from .context import context_of
from .errors import check_fields, fail, json_response, read_json, string_field
from .scopes import check_scopes
from .state_api import query_flag
from .tokens import TokenRecord, check_kind, check_owner, check_ttl
from .users import UserExists, check_name, check_password

T = TypeVar("T")

_CREATE_FIELDS = ("principal", "kind", "scopes", "ttl_secs")
_ROTATE_FIELDS = ("grace_secs", "ttl_secs")
_USER_FIELDS = ("name", "password", "scopes")
#: What the first user holds when the sign-up names no scopes.
FIRST_USER_SCOPES = ("admin",)


def _refuse(exc: UsageError, field: str) -> NoReturn:
    fail(400, str(exc), field=field)


def _checked(field: str, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``check(*args, flag=field)``; its :class:`UsageError` as a 400 naming *field*."""
    try:
        return check(*args, flag=field, **kwargs)
    except UsageError as exc:
        _refuse(exc, field)


def _seconds(body: dict[str, Any], key: str) -> float | None:
    """A number of seconds; ``None`` when absent, null or 0."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        fail(400, f"field {key!r} must be a number of seconds, zero or more", field=key)
    return float(value) or None


def _scopes(body: dict[str, Any]) -> list[str] | None:
    """The ``scopes`` field checked (``None`` when absent)."""
    value = body.get("scopes")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(400, "field 'scopes' must be a list of scope names", field="scopes")
    return _checked("scopes", check_scopes, value)


def metadata(rec: TokenRecord) -> dict[str, Any]:
    """A token's JSON form on the API: ``token list -o json``'s, plus ``principal`` (its owner)."""
    return {**rec.to_dict(), "principal": rec.name}


def _actor(request: web.Request) -> str:
    principal = request.get(PRINCIPAL_KEY)
    return principal.label if principal is not None else "unauthenticated (auth off)"


def _audit(request: web.Request, what: str) -> None:
    from sparkwing.proglog import get_logger

    get_logger("sparkwing.controller").info(f"{what} by {_actor(request)}")


# -- tokens -----------------------------------------------------------------------------------

async def create_token(request: web.Request) -> web.Response:
    """``{principal*, kind*, scopes*, ttl_secs}`` → 201 ``{token, metadata}``; the token is shown once."""
    body = await read_json(request)
    check_fields(body, _CREATE_FIELDS)
    owner = _checked("principal", check_owner, string_field(body, "principal", required=True))
    kind = _checked("kind", check_kind, string_field(body, "kind", required=True))
    scopes = _scopes(body)
    if scopes is None:
        fail(400, "field 'scopes' is required", field="scopes")
    ttl_s = _seconds(body, "ttl_secs")
    if ttl_s is not None:
        _checked("ttl_secs", check_ttl, ttl_s)
    ctx = context_of(request)
    raw, rec = await ctx.token_call(ctx.tokens.create, kind, owner, scopes, ttl_s=ttl_s)
    _audit(request, f"token {rec.prefix} ({rec.kind}:{rec.name}) created")
    return json_response({"token": raw, "metadata": metadata(rec)}, 201)


async def list_tokens(request: web.Request) -> web.Response:
    """``?kind=&include_revoked=1`` → ``{tokens: [metadata]}`` newest first (live ones by default)."""
    kind = request.query.get("kind", "").strip()
    if kind:
        _checked("kind", check_kind, kind)
    include = query_flag(request, "include_revoked")
    ctx = context_of(request)
    records = await ctx.token_call(ctx.tokens.list, include_revoked=include, kind=kind)
    return json_response({"tokens": [metadata(r) for r in records]})


async def get_token(request: web.Request) -> web.Response:
    """One token's metadata, or 404."""
    ctx = context_of(request)
    prefix = request.match_info["prefix"]
    rec = await ctx.token_call(ctx.tokens.get, prefix)
    if rec is None:
        fail(404, f"no token with prefix {prefix!r}")
    return json_response(metadata(rec))


async def _ended(request: web.Request, end: Callable[[str], object], param: str,
                 what: str) -> web.Response:
    """``end(the path's *param*)`` off the loop: 204, or 404 for its :class:`NotFoundError`."""
    key = request.match_info[param]
    try:
        await context_of(request).token_call(end, key)
    except NotFoundError as exc:
        fail(404, str(exc))
    _audit(request, f"{what} {key}")
    return web.Response(status=204)


async def revoke_token(request: web.Request) -> web.Response:
    """Revoke at once: 204; 404 when unknown or already revoked."""
    return await _ended(request, context_of(request).tokens.revoke, "prefix", "revoked token")


async def rotate_token(request: web.Request) -> web.Response:
    """``{grace_secs (default 0), ttl_secs (0: the old one's remaining time)}`` →
    ``{token, new, old, old_revoked_at, old_replaced_by}``; 404 when unknown, revoked or expired."""
    body = await read_json(request)
    check_fields(body, _ROTATE_FIELDS)
    grace_s = _seconds(body, "grace_secs") or 0.0
    ttl_s = _seconds(body, "ttl_secs")
    if ttl_s is not None:
        _checked("ttl_secs", check_ttl, ttl_s)
    ctx = context_of(request)
    prefix = request.match_info["prefix"]
    try:
        raw, new, old = await ctx.token_call(ctx.tokens.rotate, prefix, grace_s=grace_s,
                                             ttl_s=ttl_s)
    except NotFoundError as exc:
        fail(404, str(exc))
    _audit(request, f"token {prefix} rotated to {new.prefix}")
    return json_response({"token": raw, "new": metadata(new), "old": metadata(old),
                          "old_revoked_at": old.revoked_at, "old_replaced_by": old.replaced_by})


# -- users ------------------------------------------------------------------------------------

async def list_users(request: web.Request) -> web.Response:
    """``{users: [{name, scopes, created_at, updated_at, last_login_at, live_sessions}]}`` by name."""
    ctx = context_of(request)

    def read() -> list[dict[str, Any]]:
        return [{**r.to_dict(), "live_sessions": ctx.users.live_sessions(r.name)}
                for r in ctx.users.list()]

    return json_response({"users": await ctx.token_call(read)})


async def create_user(request: web.Request) -> web.Response:
    """``{name*, password*, scopes}`` → 201 the user (no password); 409 when the name is taken.

    Without a principal (the controller is open) this is the first-admin
    sign-up: ``scopes`` defaults to ``["admin"]`` and must hold ``admin``, and
    it succeeds only while no user exists (409 otherwise, a lost race included).
    """
    body = await read_json(request)
    check_fields(body, _USER_FIELDS)
    name = _checked("name", check_name, string_field(body, "name", required=True))
    password = body.get("password")
    if not isinstance(password, str) or not password:
        fail(400, "field 'password' is required and must be a string", field="password")
    try:
        check_password(password)
    except UsageError as exc:
        _refuse(exc, "password")
    scopes = _scopes(body)
    first = request.get(PRINCIPAL_KEY) is None
    if first:
        scopes = scopes or list(FIRST_USER_SCOPES)
        if "admin" not in scopes:
            fail(400, "the first user is the controller's admin: its scopes must include 'admin'",
                 field="scopes")
    elif scopes is None:
        fail(400, "field 'scopes' is required (a viewer: runs.read, logs.read; admin for "
                  "everything)", field="scopes")
    ctx = context_of(request)
    try:
        rec = await ctx.token_call(ctx.users.create, name, password, scopes, first=first)
    except UserExists as exc:
        fail(409, str(exc), "conflict")
    _audit(request, f"user {rec.name} created" + (" (first-admin sign-up)" if first else ""))
    return json_response(rec.to_dict(), 201)


async def delete_user(request: web.Request) -> web.Response:
    """Delete the user and end its sessions: 204; 404 when there is no such user."""
    return await _ended(request, context_of(request).users.delete, "user", "deleted user")


async def bootstrap_needed(request: web.Request) -> web.Response:
    """``{needed}``: whether the first-admin sign-up (``POST /users`` without a token) is open."""
    ctx = context_of(request)
    needed = not await ctx.auth_enforced()
    return json_response({"needed": needed})

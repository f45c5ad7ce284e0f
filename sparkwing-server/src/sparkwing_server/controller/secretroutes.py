"""Handlers of the ``/api/v1/secrets`` routes (listed, with scopes, in :mod:`.routes`).

``GET /secrets`` lists names and metadata, ``GET /secrets/{name}`` is the
runtime read of one value (scope ``secrets.read``, in the ``runner``
bundle); ``PUT`` and ``DELETE`` change them (``admin``). A controller
started without a secrets key answers every one of them 503 with the one
line saying how to configure it. Values appear only in the body of the
runtime read (sent ``Cache-Control: no-store``), never in a log or an
error.
"""

from __future__ import annotations

from aiohttp import web

from .api import PRINCIPAL_KEY
from .context import context_of
from .errors import check_fields, fail, json_response, read_json
from .secretkeys import NO_KEY_MESSAGE
from .secretstore import SecretStore, SecretUnreadable, check_name, check_value

_PUT_FIELDS = ("value", "masked")


def _store(request: web.Request) -> SecretStore:
    store = context_of(request).secrets
    if store is None or store.keyring is None:
        fail(503, f"secrets are off on this controller: {NO_KEY_MESSAGE}", "unavailable")
    return store


def _name(request: web.Request) -> str:
    from sparkwing.errors import UsageError

    name = request.match_info["name"]
    try:
        return check_name(name)
    except UsageError as exc:
        fail(400, str(exc), field="name")


async def list_secrets(request: web.Request) -> web.Response:
    """``{secrets: [{name, masked, key_id, principal, created_at, updated_at}]}`` by name; no values."""
    store = _store(request)
    records = await context_of(request).token_call(store.list)
    return json_response({"secrets": [r.to_dict() for r in records]})


async def read_secret(request: web.Request) -> web.Response:
    """``{name, value, masked, updated_at}``; 404 if unknown, 500 if it will not open with the key."""
    store = _store(request)
    name = _name(request)
    try:
        found = await context_of(request).token_call(store.get, name)
    except SecretUnreadable as exc:
        fail(500, str(exc), "secret_unreadable")
    if found is None:
        fail(404, f"no secret {name!r}")
    value, rec = found
    response = json_response({"name": rec.name, "value": value, "masked": rec.masked,
                              "updated_at": rec.updated_at})
    response.headers["Cache-Control"] = "no-store"
    return response


async def put_secret(request: web.Request) -> web.Response:
    """Body ``{value*, masked (default true)}``: 201 created or 200 replaced, the record (no value)."""
    from sparkwing.errors import UsageError

    store = _store(request)
    name = _name(request)
    body = await read_json(request)
    check_fields(body, _PUT_FIELDS)
    value = body.get("value")
    if not isinstance(value, str):
        fail(400, "field 'value' is required and must be a string", field="value")
    masked = body.get("masked", True)
    if not isinstance(masked, bool):
        fail(400, "field 'masked' must be true or false", field="masked")
    try:
        check_value(value)
    except UsageError as exc:
        fail(400, str(exc), field="value")
    principal = request.get(PRINCIPAL_KEY)
    rec, created = await context_of(request).token_call(
        store.put, name, value, masked=masked, principal=principal.label if principal else "")
    return json_response(rec.to_dict(), 201 if created else 200)


async def delete_secret(request: web.Request) -> web.Response:
    """204 when deleted, 404 when there was no such secret."""
    store = _store(request)
    name = _name(request)
    if not await context_of(request).token_call(store.delete, name):
        fail(404, f"no secret {name!r}")
    return web.Response(status=204)

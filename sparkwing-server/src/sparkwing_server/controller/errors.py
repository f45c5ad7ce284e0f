"""The controller's one error shape, and strict JSON bodies.

Every error answer, whatever produced it (a handler, the auth check, the
Host/Origin guard, an unknown path, a crash), is::

    {"error": "<code>", "message": "<one line>", ...}

with optional extra keys: ``field`` (``unknown_field``, ``bad_request``),
``missing_scope`` and ``principal`` (``missing_scope``), ``missing`` (the
commits a refused code bundle lacks, ``missing_prerequisites``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from aiohttp import web

#: Largest JSON body a route accepts (bytes).
MAX_BODY = 1 << 20

#: Default code per HTTP status, for errors raised without one.
STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 411: "length_required",
    413: "body_too_large", 415: "unsupported_media_type", 421: "misdirected_request",
    429: "too_many_requests", 500: "internal", 503: "unavailable",
}


def error_body(status: int, message: str, code: str = "", **extra: Any) -> dict[str, Any]:
    """The error object for *status* (``code`` defaults from :data:`STATUS_CODES`)."""
    body: dict[str, Any] = {"error": code or STATUS_CODES.get(status, "error"),
                            "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def json_response(data: object, status: int = 200) -> web.Response:
    """*data* as a compact JSON response."""
    return web.Response(text=json.dumps(data, separators=(",", ":"), default=str),
                        status=status, content_type="application/json")


def error_response(status: int, message: str, code: str = "", **extra: Any) -> web.Response:
    """An error answer in the one shape."""
    return json_response(error_body(status, message, code, **extra), status)


class APIError(Exception):
    """Raised by handlers; the error middleware turns it into :func:`error_response`."""

    def __init__(self, status: int, message: str, code: str = "", **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra

    def response(self) -> web.Response:
        """The answer for this error."""
        return error_response(self.status, self.message, self.code, **self.extra)


def fail(status: int, message: str, code: str = "", **extra: Any) -> NoReturn:
    """Raise an :class:`APIError`."""
    raise APIError(status, message, code, **extra)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); 400/413 in the one shape otherwise."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        fail(413, f"body is larger than {MAX_BODY} bytes")
    parts: list[bytes] = []
    size = 0
    while size <= MAX_BODY:  # one read() returns what has arrived, not the whole body
        part = await request.content.read(MAX_BODY + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    raw = b"".join(parts)
    if len(raw) > MAX_BODY:
        fail(413, f"body is larger than {MAX_BODY} bytes")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        fail(400, f"body is not valid JSON: {exc}")
    if not isinstance(data, dict):
        fail(400, "body must be a JSON object")
    return data


def check_fields(data: Mapping[str, Any], allowed: tuple[str, ...], *, where: str = "") -> None:
    """Refuse (400 ``unknown_field``) a key of *data* not in *allowed*, naming it."""
    for key in data:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            fail(400, f"unknown field {name!r}; allowed: {', '.join(allowed)}",
                 "unknown_field", field=name)


def string_field(data: Mapping[str, Any], key: str, *, where: str = "",
                 required: bool = False) -> str:
    """``data[key]`` as a string ("" when absent); 400 naming the field when wrong or missing."""
    name = f"{where}.{key}" if where else key
    value = data.get(key)
    if value is None or value == "":
        if required:
            fail(400, f"field {name!r} is required", field=name)
        return ""
    if not isinstance(value, str):
        fail(400, f"field {name!r} must be a string", field=name)
    return value


def object_field(data: Mapping[str, Any], key: str, allowed: tuple[str, ...] | None = None, *,
                 where: str = "") -> dict[str, Any]:
    """``data[key]`` as an object ({} when absent), its keys checked against *allowed*."""
    name = f"{where}.{key}" if where else key
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(400, f"field {name!r} must be an object", field=name)
    if allowed is not None:
        check_fields(value, allowed, where=name)
    return value

"""JSON error responses of the API."""

from __future__ import annotations

from typing import NoReturn

from aiohttp import web

from .jsontext import dumps


def json_response(data: object, status: int = 200) -> web.Response:
    """Return *data* as a compact JSON response."""
    return web.Response(text=dumps(data), status=status, content_type="application/json")


class APIError(web.HTTPException):
    """An HTTP error whose body is ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        self.status_code = status
        #: The one-line message (also the body's ``error``).
        self.message = message
        super().__init__(text=dumps({"error": message}), content_type="application/json")


def fail(status: int, message: str) -> NoReturn:
    """Raise an :class:`APIError` (400 bad request, 404 not found, 409 conflict, ...)."""
    raise APIError(status, message)

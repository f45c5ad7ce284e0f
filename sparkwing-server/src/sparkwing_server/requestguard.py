"""Refusing requests a web page could forge: foreign ``Host``, cross-site writes, non-JSON bodies.

A page on any web site can make the user's browser send requests to a
server on ``127.0.0.1``: directly (cross-site writes) or, after a DNS
rebinding, under its own host name (so the browser treats the server as
same-origin and lets the page read answers too). Every sparkwing server
checks each request against a :class:`RequestPolicy`:

* ``Host`` must name the server: the address it listens on, a loopback
  name (``127.0.0.1``, ``localhost``, ``[::1]``), or a host the operator
  allowed. A rebinding page sends its own name and is refused (421).
* A write (any method but GET/HEAD/OPTIONS) must carry an ``Origin``
  equal to the server's own (``http://`` + ``Host``), or the server's
  token (``Authorization: Bearer TOKEN``) for programs that are not
  browsers. Otherwise 403.
* A write with a body must declare ``Content-Type: application/json``
  (415 otherwise): HTML forms cannot send that type without a CORS
  preflight, which the server never grants.

A route that authenticates its requests itself (a webhook checking an
HMAC signature) marks its handler with :data:`SELF_AUTH_ATTR` set to the
largest body it accepts, in bytes (:func:`self_auth_limit` reads it). Its
writes skip the ``Origin``/token and content-type checks, but keep the
``Host`` check, and a body without a ``Content-Length`` (411) or larger
than the limit (413) is refused before it is read.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

#: Methods that never change anything.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Host names that always reach this machine (ports may vary).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
#: Environment variable with extra allowed host names (comma-separated).
ALLOWED_HOSTS_ENV = "SPARKWING_ALLOWED_HOSTS"
#: Attribute marking a route handler that authenticates requests itself (value: body limit).
SELF_AUTH_ATTR = "sparkwing_self_authenticating"


def self_auth_limit(handler: object) -> int | None:
    """The body limit of a handler marked with :data:`SELF_AUTH_ATTR`, or ``None`` if unmarked."""
    limit = getattr(handler, SELF_AUTH_ATTR, None)
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        return limit
    return None


def check_self_auth_body(content_length: int | None, has_body: bool,
                         limit: int) -> Refusal | None:
    """Refuse a self-authenticating route's body without a length or over its *limit*."""
    if has_body and content_length is None:
        return Refusal(411, "a Content-Length header is required")
    if (content_length or 0) > limit:
        return Refusal(413, f"body is larger than {limit} bytes")
    return None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was refused: the HTTP status and a one-line message."""

    status: int
    message: str


def split_host(value: str) -> tuple[str, str]:
    """Split a ``Host`` header (``name``, ``name:port``, ``[v6]:port``) into lowercase name and port."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest.removeprefix(":")
    name, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return name, port


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    """Which hosts may address a server, and the token programs may present for writes."""

    #: Host names (no port) allowed besides the loopback names.
    hosts: frozenset[str] = field(default_factory=frozenset)
    #: Bearer token accepted instead of a matching ``Origin`` ("" disables).
    token: str = ""

    @classmethod
    def for_listener(cls, listen_host: str, *, extra: tuple[str, ...] = (),
                     token: str = "") -> RequestPolicy:
        """The policy of a server listening on *listen_host* (plus ``SPARKWING_ALLOWED_HOSTS``)."""
        names = {h.strip().lower().strip("[]") for h in extra if h.strip()}
        names |= {h.strip().lower() for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")
                  if h.strip()}
        if listen_host and listen_host not in ("0.0.0.0", "::"):
            names.add(listen_host.lower())
        return cls(frozenset(names), token)

    def host_allowed(self, host_header: str) -> bool:
        """Whether a ``Host`` header names this server."""
        name, _ = split_host(host_header)
        return bool(name) and (name in LOOPBACK_NAMES or name in self.hosts)

    def check(self, method: str, headers: Mapping[str, str], host: str,
              has_body: bool) -> Refusal | None:
        """Return why a request must be refused, or ``None`` when it may proceed.

        *headers* is the request's (case-insensitive) header mapping, *host*
        its ``Host`` header, *has_body* whether it carries a body.
        """
        refusal = self.check_host(host)
        if refusal is None and method.upper() not in SAFE_METHODS:
            refusal = self.check_write(headers, host, has_body)
        return refusal

    def check_host(self, host: str) -> Refusal | None:
        """Refuse a ``Host`` that does not name this server (DNS rebinding)."""
        if self.host_allowed(host):
            return None
        return Refusal(421, f"host {host!r} is not this server's; set {ALLOWED_HOSTS_ENV} "
                            "to allow another name")

    def check_write(self, headers: Mapping[str, str], host: str, has_body: bool,
                    content_type: str = "application/json") -> Refusal | None:
        """Refuse a write without this server's ``Origin`` or token, or with a body of another type.

        *content_type* is the one type the route takes: JSON, or
        ``application/octet-stream`` for raw uploads (neither can be sent by
        an HTML form without a CORS preflight, which is never granted).
        """
        if not self._token_ok(headers.get("Authorization") or ""):
            origin = headers.get("Origin") or ""
            if not origin:
                return Refusal(403, "writes need an Origin header from this server's own page "
                                    "or its token (Authorization: Bearer ...)")
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
                return Refusal(403, "cross-origin writes are refused")
        if has_body:
            ctype = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if ctype != content_type:
                return Refusal(415, f"write bodies must be {content_type}")
        return None

    def _token_ok(self, authorization: str) -> bool:
        if not self.token:
            return False
        scheme, _, value = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self.token)


def new_token_file(path: Path) -> str:
    """Write a fresh random token to *path* (owner-only) and return it."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.replace(tmp, path)
    return token

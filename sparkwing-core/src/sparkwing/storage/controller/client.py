"""A small HTTP/1.1 client for the controller's JSON API (standard library only).

It sits on ``sparkwing run``'s start-up path when the profile's stores are
a controller, so it uses :mod:`http.client` and imports it only when the
first request is made. Connections are kept alive and reused (a small pool
shared by the threads of the process); a connection idle for longer than
:data:`IDLE_REUSE_S` is replaced rather than reused, so a request is never
sent on a socket the server is about to close, and so is one the server
already closed (its socket is readable: the controller stopped or was
restarted), so the first call after a controller restart goes out on a new
connection instead of failing.

Retries: a connection that cannot be opened is retried with backoff for
every call (nothing was sent), for up to :data:`CONNECT_RETRY_S` when it
is refused (a restarting controller refuses connections for a few
seconds), as is a request that could not be written
to a reused connection (it never reached a handler); a request that fails after it was sent
(reset, no answer, 502/503/504) is retried only when the call is
idempotent. Errors are one-line :class:`~sparkwing.errors.SparkwingError`
subclasses: the controller's ``not_found`` becomes
:class:`~sparkwing.errors.NotFoundError`, ``conflict``
:class:`~sparkwing.errors.StoreError`, ``invalid`` :class:`ValueError`,
``rejected`` :class:`~sparkwing.errors.UsageError`; 401, 403 and an
unreachable controller are :class:`~sparkwing.errors.StoreError` naming the
URL and, for 403, the missing scope.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from ...errors import ConfigError, NotFoundError, StoreError, UsageError

if TYPE_CHECKING:
    import http.client

#: Environment variable holding the token when the profile names none.
DEFAULT_TOKEN_ENV = "SPARKWING_TOKEN"
#: Largest request body the controller accepts (bytes); bigger batches are split.
MAX_BODY = 1 << 20
#: Seconds a kept-alive connection may sit idle and still be reused.
IDLE_REUSE_S = 20.0
#: Seconds to wait for a connection or an answer.
TIMEOUT_S = 60.0
#: Attempts per call (the first included) and the first backoff (doubling).
ATTEMPTS = 5
BACKOFF_S = 0.1
#: Seconds a call keeps trying to open a connection that is refused (nothing listens: the
#: controller is restarting), and the longest wait between those tries. Other connection
#: errors (a name that does not resolve, ...) get the ATTEMPTS quick tries.
CONNECT_RETRY_S = 15.0
CONNECT_BACKOFF_MAX_S = 1.0
#: Statuses a proxy or a restarting controller answers; retried for idempotent calls.
RETRY_STATUSES = frozenset({502, 503, 504})
#: Idle connections kept per client.
POOL_SIZE = 8


def seg(value: str) -> str:
    """*value* as one URL path segment (``/`` and every reserved character escaped)."""
    return quote(value, safe="")


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed by the other end.

    An idle HTTP/1.1 connection has nothing to read; a readable one holds the
    server's FIN or reset (the server closed it, stopped, or crashed and was
    restarted), and a request written to it would fail or vanish.
    """
    import select

    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class ControllerClient:
    """JSON requests to one controller, with the profile's token.

    *token* wins over *token_env* (the name of an environment variable,
    default ``SPARKWING_TOKEN``, read once here). Raises
    :class:`~sparkwing.errors.ConfigError` for a URL that is not
    ``http(s)://HOST[:PORT][/PREFIX]``.
    """

    def __init__(self, url: str, *, token: str = "", token_env: str = "",
                 timeout: float = TIMEOUT_S) -> None:
        parts = urlsplit(str(url).strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"controller url {url!r} is not valid: use http://HOST[:PORT] or https://HOST")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"controller url {url!r} has a bad port") from None
        if parts.query or parts.fragment:
            raise ConfigError(f"controller url {url!r} must not have a query or fragment")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port
        self._prefix = parts.path.rstrip("/")
        self.token_env = token_env or DEFAULT_TOKEN_ENV
        self.token = token or os.environ.get(self.token_env, "")
        self._token_source = "the profile" if token else f"${self.token_env}"
        self.timeout = timeout
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- connections ------------------------------------------------------------------------
    def _new(self) -> http.client.HTTPConnection:
        import http.client

        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it was reused (else it is opened here)."""
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since <= IDLE_REUSE_S and not _dropped(conn):
                    return conn, True
                conn.close()
        conn = self._new()
        conn.connect()
        return conn, False

    def _give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < POOL_SIZE:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        """Close every kept-alive connection."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    # -- requests ------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, *,
                query: Mapping[str, Any] | None = None, idempotent: bool | None = None) -> Any:
        """Send one call and return its JSON answer (``None`` for an empty one).

        *path* is below ``/api/v1`` with segments already escaped (see :func:`seg`);
        *idempotent* defaults to true for GET, PUT and DELETE.
        """
        import http.client

        if idempotent is None:
            idempotent = method in ("GET", "PUT", "DELETE")
        target = f"{self._prefix}/api/v1{path}"
        if query:
            target += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        payload = None if body is None else json.dumps(
            body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Accept": "application/json", "Origin": self._origin}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if payload is not None:
            headers["Content-Type"] = "application/json"
        delay = BACKOFF_S
        connect_until = 0.0
        attempt = 0
        while attempt < ATTEMPTS:
            attempt += 1
            last = attempt == ATTEMPTS
            try:
                conn, reused = self._take()
            except ConnectionRefusedError as exc:  # nothing listens yet: a restart, for a while
                now = time.monotonic()
                connect_until = connect_until or now + CONNECT_RETRY_S
                wait = min(delay, CONNECT_BACKOFF_MAX_S)
                if now + wait > connect_until:
                    raise self._unreachable(method, path, exc) from None
                attempt -= 1  # counted by time, not attempts: a restart takes seconds
                time.sleep(wait)
                delay = min(delay * 2, CONNECT_BACKOFF_MAX_S)
                continue
            except OSError as exc:  # nothing was sent: safe to retry any call
                if last:
                    raise self._unreachable(method, path, exc) from None
                time.sleep(delay)
                delay *= 2
                continue
            try:
                conn.request(method, target, body=payload, headers=headers)
            except OSError as exc:
                conn.close()
                # Not (wholly) sent. On a reused connection that is one the server closed
                # after the check in _take: no handler ran, so any call may go again at once.
                if last or not (reused or idempotent):
                    raise self._unreachable(method, path, exc) from None
                if not reused:
                    time.sleep(delay)
                    delay *= 2
                continue
            try:
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if not idempotent or last:
                    raise self._unreachable(method, path, exc) from None
                time.sleep(delay)
                delay *= 2
                continue
            if resp.will_close:
                conn.close()
            else:
                self._give(conn)
            if resp.status in RETRY_STATUSES and idempotent and not last:
                time.sleep(delay)
                delay *= 2
                continue
            if 200 <= resp.status < 300:
                return json.loads(data) if data else None
            raise self._refused(method, path, resp.status, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, method: str, path: str, exc: BaseException) -> StoreError:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return StoreError(f"controller {self.url} is unreachable ({detail}) for {method} "
                          f"/api/v1{path}; is `sparkwing controller serve` running there?")

    def _refused(self, method: str, path: str, status: int, data: bytes) -> Exception:
        try:
            err = json.loads(data)
        except ValueError:
            err = None
        if not isinstance(err, dict):
            text = data[:200].decode("utf-8", "replace")
            err = {"error": "", "message": " ".join(text.split()) or f"HTTP {status}"}
        code = str(err.get("error") or "")
        message = str(err.get("message") or code or f"HTTP {status}")
        where = f"{method} /api/v1{path}"
        if status == 401:
            if not self.token:
                return StoreError(f"controller {self.url} needs a token for {where}: set "
                                  f"${self.token_env} (or the profile's controller token_env)")
            return StoreError(f"controller {self.url} refused the token from "
                              f"{self._token_source}: {message}")
        if status == 403 and code == "missing_scope":
            return StoreError(
                f"controller {self.url}: the token from {self._token_source} "
                f"({err.get('principal') or '?'}) lacks scope {err.get('missing_scope')!r}, "
                f"needed by {where}")
        if code == "not_found" and status == 404:
            return NotFoundError(message)
        if code == "conflict":
            return StoreError(message)
        if code == "invalid":
            return ValueError(message)
        if code == "rejected":
            return UsageError(message)
        return StoreError(f"controller {self.url}: {where} answered {status}: {message}")

"""The one HTTP transport to a controller's ``/api/v1`` (standard library only).

Both clients of the controller stand on it: the runners' queue client
(:mod:`sparkwing.queueclient`) and the remote state and log stores
(:mod:`sparkwing.storage.controller.client`). It sits on the start-up path
of ``sparkwing run`` and of runners, so it imports :mod:`http.client` only
when the first request is made.

What it does, once for both: parse the controller URL, keep connections
alive in a small pool shared by threads (one idle longer than
:data:`IDLE_REUSE_S` is replaced, not reused, so a request is never sent on
a socket the server is about to close; nor is one the server already
closed, whose socket is readable: after a controller restart the first call
goes out on a new connection instead of failing), set the bearer token,
retry as the caller's :class:`Retry` says, and read the controller's error
body (:func:`error_body`). What an answer *means* (which exception a
refusal becomes) stays with each client.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    import http.client
    from collections.abc import Mapping

#: Seconds a kept-alive connection may sit idle and still be reused.
IDLE_REUSE_S = 20.0
#: Idle connections kept per transport.
POOL_SIZE = 8
#: Statuses a proxy or a restarting controller answers; retried for idempotent calls.
RETRY_STATUSES = frozenset({502, 503, 504})


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed by the other end.

    An idle HTTP/1.1 connection has nothing to read; a readable one holds the
    server's FIN or reset (it closed the connection, stopped, or crashed and
    was restarted), and a request written to it would fail or vanish.
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


def seg(value: str) -> str:
    """*value* as one URL path segment (``/`` and every reserved character escaped)."""
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class ControllerURL:
    """A controller's base URL, split: ``http[s]://HOST[:PORT][/PREFIX]``."""

    scheme: str
    host: str
    port: int | None
    netloc: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> ControllerURL:
        """Split *url*; :class:`ValueError` (one line saying what is wrong) when it is not one."""
        parts = urlsplit(str(url).strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"controller url {url!r} is not valid: use http://HOST[:PORT] or https://HOST")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"controller url {url!r} has a bad port") from None
        if parts.query or parts.fragment:
            raise ValueError(f"controller url {url!r} must not have a query or fragment")
        return cls(parts.scheme, parts.hostname, port, parts.netloc, parts.path.rstrip("/"))

    @property
    def origin(self) -> str:
        """``scheme://netloc``: what the ``Origin`` header of this client's requests says."""
        return f"{self.scheme}://{self.netloc}"

    @property
    def base(self) -> str:
        """The URL without a trailing ``/`` (for messages)."""
        return f"{self.origin}{self.prefix}"


@dataclass(frozen=True, slots=True)
class Retry:
    """How often a call is tried (the first included) and the first pause (doubling).

    A connection that cannot be opened is retried for every call (nothing was
    sent); a request that failed after it was sent, or got one of
    :data:`RETRY_STATUSES`, only when the call is *idempotent*.
    """

    attempts: int = 1
    backoff_s: float = 0.1
    #: Seconds a *refused* connection keeps being retried (nothing listens: the controller
    #: is restarting, which takes seconds), pausing at most 1 s between tries; 0: refusals
    #: count as attempts like any other connection error.
    connect_s: float = 0.0


#: One try, no pause: the caller decides about retrying.
ONCE = Retry()


@dataclass(frozen=True, slots=True)
class Answer:
    """A status and the body's bytes."""

    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON (``None`` when empty or not JSON)."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """A refusal as the controller's error shape says it: ``{"error", "message", ...}``.

    ``code`` is ``""`` when the body carries none; ``message`` is one line
    (the body's ``message``, else the body's text folded, else ``HTTP <status>``);
    ``fields`` is the decoded object (``missing_scope``, ``principal``, ...).
    """

    status: int
    code: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


def error_body(answer: Answer) -> ErrorBody:
    """Read a non-2xx *answer* as the controller's error shape (any body is accepted)."""
    payload = answer.json()
    text = " ".join(answer.body[:300].decode("utf-8", "replace").split())
    if not isinstance(payload, dict):
        return ErrorBody(answer.status, "", text or f"HTTP {answer.status}")
    code = str(payload.get("error") or "")
    message = str(payload.get("message") or code or text or f"HTTP {answer.status}")
    return ErrorBody(answer.status, code, message, payload)


class Unreachable(Exception):
    """No answer came: the connection could not be opened, or broke (``detail`` says how)."""

    def __init__(self, exc: BaseException) -> None:
        self.detail = " ".join(str(exc).split()) or type(exc).__name__
        self.kind = type(exc).__name__
        super().__init__(self.detail)


class Transport:
    """Requests to one controller: pooled keep-alive connections, bearer *token*, retries.

    Safe to share between threads (each request holds its own connection).
    """

    def __init__(self, url: ControllerURL, *, token: str = "", timeout: float,
                 send_origin: bool = False, retry: Retry = ONCE) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.retry = retry
        self._origin = url.origin if send_origin else ""
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- connections ------------------------------------------------------------------------
    def _new(self) -> http.client.HTTPConnection:
        import http.client

        cls = (http.client.HTTPSConnection if self.url.scheme == "https"
               else http.client.HTTPConnection)
        return cls(self.url.host, self.url.port, timeout=self.timeout)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection young enough to reuse and still open, else a new one (opened
        here); and whether it was reused."""
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
        """Close every kept-alive connection; a later request still works, on a connection
        of its own that is not kept."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    # -- requests ------------------------------------------------------------------------------
    def send(self, method: str, path: str, body: bytes | None = None, *,
             content_type: str = "", accept: str = "application/json",
             idempotent: bool = False, retry: Retry | None = None,
             headers: Mapping[str, str] | None = None) -> Answer:
        """One call to ``/api/v1`` + *path* (query included); the answer, whatever its status.

        *headers* are sent besides the transport's own.

        :class:`Unreachable` when no answer came after the tries *retry* (default:
        the transport's) allows.
        """
        import http.client

        policy = retry or self.retry
        sent = {**(headers or {}), "Accept": accept}
        if self._origin:
            sent["Origin"] = self._origin
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if content_type:
            sent["Content-Type"] = content_type
        target = f"{self.url.prefix}/api/v1{path}"
        delay = policy.backoff_s
        attempts = max(1, policy.attempts)
        connect_until = 0.0
        stale = 0
        attempt = 0
        while attempt < attempts:
            attempt += 1
            last = attempt == attempts
            try:
                conn, reused = self._take()
            except (OSError, http.client.HTTPException) as exc:  # nothing was sent
                if isinstance(exc, ConnectionRefusedError) and policy.connect_s:
                    now = time.monotonic()
                    connect_until = connect_until or now + policy.connect_s
                    wait = min(delay, 1.0)
                    if now + wait > connect_until:
                        raise Unreachable(exc) from None
                    attempt -= 1  # counted by time, not attempts: a restart takes seconds
                    time.sleep(wait)
                    delay = min(delay * 2, 1.0)
                    continue
                if last:
                    raise Unreachable(exc) from None
                time.sleep(delay)
                delay *= 2
                continue
            try:
                conn.request(method, target, body=body, headers=sent)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                # Not (wholly) written. On a reused connection the server closed it after the
                # check in _take: no handler ran, so any call may go again at once (on another
                # connection; at most once per pooled one).
                if reused and stale < POOL_SIZE:
                    stale += 1
                    attempt -= 1
                    continue
                if last or not idempotent:
                    raise Unreachable(exc) from None
                time.sleep(delay)
                delay *= 2
                continue
            try:
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if not idempotent or last:
                    raise Unreachable(exc) from None
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
            return Answer(resp.status, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def send_json(self, method: str, path: str, body: Any = None, *,
                  idempotent: bool = False, retry: Retry | None = None,
                  headers: Mapping[str, str] | None = None) -> Answer:
        """:meth:`send` with *body* (when not ``None``) encoded as compact JSON."""
        payload = None if body is None else json.dumps(
            body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.send(method, path, payload,
                         content_type="application/json" if payload is not None else "",
                         idempotent=idempotent, retry=retry, headers=headers)

"""The GitHub REST client every call of the plugin goes through: retries and rate limits.

Synchronous and standard-library only (``urllib``): it runs in the run's
own process, from the observer hooks, and in ``sparkwing github check``.
Nothing here raises: a GitHub that is down, slow or refusing comes back
as a :class:`Response` with its status (0: no answer) and a one-line
error, for the caller to log.

Retries: no answer or a 5xx is retried with exponential backoff; a 403 or
429 carrying ``Retry-After``, or ``X-RateLimit-Remaining: 0`` with
``X-RateLimit-Reset``, waits that long (at most :data:`MAX_WAIT_S`) and
tries again; anything else is final.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_API_URL = "https://api.github.com"
#: Longest wait for a rate-limit reset or ``Retry-After`` before giving up (seconds).
MAX_WAIT_S = 30.0
#: The REST API version the plugin was written against.
API_VERSION = "2022-11-28"


@dataclass(slots=True)
class Response:
    """What one API call returned (status 0: no answer; ``data``: the decoded JSON body)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str = ""
    data: Any = None

    @property
    def ok(self) -> bool:
        """Whether GitHub answered 2xx."""
        return 200 <= self.status < 300

    def describe(self) -> str:
        """The failure in a few words (``HTTP 404``, ``URLError: ...``)."""
        return self.error or f"HTTP {self.status}"


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def send(method: str, url: str, authorization: str, body: Mapping[str, Any] | None = None,
         timeout: float = 10.0) -> Response:
    """One request, no retries; *authorization* is the whole header value (``Bearer ...``)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": authorization, "Accept": "application/vnd.github+json",
        "Content-Type": "application/json", "User-Agent": "sparkwing-github",
        "X-GitHub-Api-Version": API_VERSION})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers.items()), data=_decode(resp.read()))
    except urllib.error.HTTPError as exc:
        try:
            payload = _decode(exc.read())
        except OSError:
            payload = None
        message = payload.get("message") if isinstance(payload, dict) else None
        error = f"HTTP {exc.code}" + (f" ({message})" if isinstance(message, str) else "")
        return Response(exc.code, dict(exc.headers.items()), error, payload)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Response(0, {}, f"{type(exc).__name__}: {exc}")


def retry_wait(resp: Response, attempt: int, now: float, backoff_s: float) -> float | None:
    """Seconds to wait before retrying after *resp*, or ``None`` when retrying is pointless."""
    headers = {k.lower(): v for k, v in resp.headers.items()}
    if resp.status in (403, 429):
        if "retry-after" in headers:
            try:
                return float(headers["retry-after"])
            except ValueError:
                return float(backoff_s * 2 ** attempt)
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - now)
            except ValueError:
                return None
        return None  # a plain 403: the credentials may not do this
    if resp.status == 0 or resp.status >= 500:
        return float(backoff_s * 2 ** attempt)
    return None


@dataclass(slots=True)
class ApiClient:
    """Calls the API at *base_url* with retries, backoff and rate-limit waits."""

    base_url: str = DEFAULT_API_URL
    attempts: int = 3
    backoff_s: float = 0.5
    timeout_s: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    #: One line per call that did not succeed, for the caller to log (never holds secrets).
    problems: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, authorization: str,
             body: Mapping[str, Any] | None = None) -> Response:
        """``method path`` (retried as the module says); the last answer."""
        url = f"{self.base_url.rstrip('/')}{path}"
        last = Response(0, error="not attempted")
        for attempt in range(max(1, self.attempts)):
            last = send(method, url, authorization, body, self.timeout_s)
            if last.ok:
                return last
            wait = retry_wait(last, attempt, time.time(), self.backoff_s)
            if wait is None or wait > MAX_WAIT_S or attempt >= self.attempts - 1:
                break
            self.sleep(wait)
        return last

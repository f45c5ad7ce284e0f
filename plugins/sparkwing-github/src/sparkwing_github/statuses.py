"""Posting commit statuses to the GitHub API (token auth, retries, rate-limit headers).

Synchronous and standard-library only (``urllib``): it runs in the run's
own process, from the observer hooks. Nothing here raises: a GitHub that
is down, slow or refusing costs at most a few warnings in the program log,
never the run.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN_ENV = "SPARKWING_GITHUB_TOKEN"
TOKEN_SOURCE_ENV = "SPARKWING_GITHUB_TOKEN_SOURCE"
FALLBACK_TOKEN_ENV = "GITHUB_TOKEN"
API_URL_ENV = "SPARKWING_GITHUB_API_URL"
FALLBACK_API_URL_ENV = "GITHUB_API_URL"
DASHBOARD_URL_ENV = "SPARKWING_GITHUB_DASHBOARD_URL"
DEFAULT_API_URL = "https://api.github.com"
#: GitHub caps a status description at 140 characters.
MAX_DESCRIPTION = 140
#: Longest wait for a rate-limit reset or ``Retry-After`` before giving up (seconds).
MAX_WAIT_S = 30.0


def _from_source(source: str) -> str:
    if source.startswith("env:"):
        return os.environ.get(source[4:], "")
    if source.startswith("file:"):
        try:
            return Path(source[5:]).expanduser().read_text().strip()
        except OSError:
            return ""
    return ""


def api_token() -> str:
    """The token: ``SPARKWING_GITHUB_TOKEN``, its ``..._SOURCE`` (``env:``/``file:``), ``GITHUB_TOKEN``."""
    return (os.environ.get(TOKEN_ENV, "")
            or _from_source(os.environ.get(TOKEN_SOURCE_ENV, "").strip())
            or os.environ.get(FALLBACK_TOKEN_ENV, ""))


def api_url() -> str:
    """The API base URL (GitHub Enterprise: ``https://HOST/api/v3``)."""
    return (os.environ.get(API_URL_ENV) or os.environ.get(FALLBACK_API_URL_ENV)
            or DEFAULT_API_URL).rstrip("/")


@dataclass(slots=True)
class Response:
    """What one API call returned (status 0: no answer)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str = ""


def _send(url: str, token: str, body: dict[str, Any] | None, timeout: float) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET",
                                 headers={
        "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
        "Content-Type": "application/json", "User-Agent": "sparkwing-github",
        "X-GitHub-Api-Version": "2022-11-28"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers.items()))
    except urllib.error.HTTPError as exc:
        return Response(exc.code, dict(exc.headers.items()), f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        return Response(0, {}, f"{type(exc).__name__}: {exc}")


def api_get(path: str, token: str, *, base_url: str = DEFAULT_API_URL,
            timeout: float = 10.0) -> Response:
    """One ``GET`` of the API (no retries; for ``sparkwing github check``)."""
    return _send(f"{base_url}{path}", token, None, timeout)


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
        return None  # a plain 403: the token may not post statuses
    if resp.status == 0 or resp.status >= 500:
        return float(backoff_s * 2 ** attempt)
    return None


@dataclass(slots=True)
class StatusClient:
    """Posts ``POST /repos/{repo}/statuses/{sha}`` with retries and rate-limit handling."""

    token: str
    base_url: str = DEFAULT_API_URL
    attempts: int = 3
    backoff_s: float = 0.5
    timeout_s: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    #: One line per call that could not be delivered (for the caller to log).
    problems: list[str] = field(default_factory=list)

    def post_status(self, repo: str, sha: str, *, state: str, context: str,
                    description: str, target_url: str = "") -> bool:
        """Post one status; ``True`` once GitHub accepted it, ``False`` after giving up."""
        body: dict[str, Any] = {"state": state, "context": context,
                                "description": description[:MAX_DESCRIPTION]}
        if target_url:
            body["target_url"] = target_url
        url = f"{self.base_url}/repos/{repo}/statuses/{sha}"
        last = Response(0)
        for attempt in range(self.attempts):
            last = _send(url, self.token, body, self.timeout_s)
            if 200 <= last.status < 300:
                return True
            wait = retry_wait(last, attempt, time.time(), self.backoff_s)
            if wait is None or wait > MAX_WAIT_S or attempt == self.attempts - 1:
                break
            self.sleep(wait)
        self.problems.append(f"github status {state} for {repo}@{sha[:12]} not posted: "
                             f"{last.error or f'HTTP {last.status}'}")
        return False

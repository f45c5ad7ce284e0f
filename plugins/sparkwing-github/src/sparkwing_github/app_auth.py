"""Authenticating as a GitHub App: the App's JWT and cached installation tokens.

The App proves itself with a JWT signed RS256 with its private key
(PyJWT over ``cryptography``): ``iss`` the App id, ``iat`` 60 seconds in
the past (clock drift), ``exp`` nine minutes ahead (GitHub refuses more
than ten). The JWT may only call ``/app/...``; for a repository it is
exchanged for an installation token (``POST
/app/installations/{id}/access_tokens``, valid one hour). The installation
is the configured one, or the one ``GET /repos/{owner}/{repo}/installation``
names.

Installation tokens and looked-up installation ids are kept in
``$SPARKWING_HOME/github/app-tokens.json`` (owner-only), so the runs of one
machine share a token until :data:`REFRESH_MARGIN_S` before it expires.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .api import ApiClient
from .settings import AppSettings

#: ``iat`` is set this far in the past (seconds), against clock drift.
JWT_BACKDATE_S = 60
#: ``exp`` is set this far ahead (seconds); GitHub refuses a JWT living over ten minutes.
JWT_LIFETIME_S = 540
#: A cached installation token is renewed this long before it expires (seconds).
REFRESH_MARGIN_S = 300
#: The cache file under ``$SPARKWING_HOME``.
CACHE_RELPATH = Path("github") / "app-tokens.json"

#: Fallback when the cache file cannot be written: per process, keyed by the file's path.
_MEMORY: dict[str, dict[str, Any]] = {}


class AppKeyError(ValueError):
    """The configured private key cannot sign a JWT (the message never contains the key)."""


def app_jwt(settings: AppSettings, now: float | None = None) -> str:
    """A JWT for *settings*' App, signed RS256 with its private key."""
    import jwt

    issued = int(time.time() if now is None else now)
    claims = {"iat": issued - JWT_BACKDATE_S, "exp": issued + JWT_LIFETIME_S,
              "iss": settings.app_id}
    try:
        return jwt.encode(claims, settings.private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.exceptions.PyJWTError) as exc:
        origin = settings.key_origin or "the configured key"
        raise AppKeyError(f"the GitHub App private key from {origin} is not a usable RSA PEM "
                          f"key ({type(exc).__name__})") from None


def _epoch(stamp: object) -> float:
    """Seconds since the epoch of GitHub's ``2026-01-01T00:00:00Z`` (0.0 when malformed)."""
    if not isinstance(stamp, str):
        return 0.0
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@dataclass(slots=True)
class TokenCache:
    """Installation tokens and installation ids, in a private JSON file (else in memory)."""

    path: Path

    def _load(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.path.read_text())
        except (OSError, ValueError):
            loaded = None
        data: dict[str, Any] = (loaded if isinstance(loaded, dict)
                                else _MEMORY.get(str(self.path)) or {})
        for section in ("tokens", "installations"):
            if not isinstance(data.get(section), dict):
                data[section] = {}
        return data

    def _save(self, data: dict[str, Any], now: float) -> None:
        data["tokens"] = {k: v for k, v in data["tokens"].items()
                          if isinstance(v, dict) and float(v.get("expires_at", 0)) > now}
        from sparkwing.paths import make_private_dir, write_private_text

        try:
            make_private_dir(self.path.parent)
            write_private_text(self.path, json.dumps(data, indent=1, sort_keys=True))
        except OSError:
            _MEMORY[str(self.path)] = data

    def token(self, key: str, now: float) -> tuple[str, float] | None:
        """*key*'s token and expiry if it stays valid past the refresh margin, else ``None``."""
        entry = self._load()["tokens"].get(key)
        if not isinstance(entry, dict) or not entry.get("token"):
            return None
        expires_at = float(entry.get("expires_at", 0))
        if expires_at - REFRESH_MARGIN_S <= now:
            return None
        return str(entry["token"]), expires_at

    def store_token(self, key: str, token: str, expires_at: float, now: float) -> None:
        """Remember *token* for *key* until *expires_at*."""
        data = self._load()
        data["tokens"][key] = {"token": token, "expires_at": expires_at}
        self._save(data, now)

    def forget_token(self, key: str, now: float) -> None:
        """Drop *key*'s token (GitHub refused it)."""
        data = self._load()
        if data["tokens"].pop(key, None) is not None:
            self._save(data, now)

    def installation(self, key: str) -> int | None:
        """The installation id looked up for *key*, if any."""
        value = self._load()["installations"].get(key)
        return int(value) if isinstance(value, int) else None

    def store_installation(self, key: str, installation_id: int | None, now: float) -> None:
        """Remember (or, with ``None``, forget) the installation of *key*."""
        data = self._load()
        if installation_id is None:
            data["installations"].pop(key, None)
        else:
            data["installations"][key] = installation_id
        self._save(data, now)


def default_cache() -> TokenCache:
    """The cache of this machine's ``SPARKWING_HOME``."""
    from sparkwing.paths import sparkwing_home

    return TokenCache(sparkwing_home() / CACHE_RELPATH)


@dataclass(slots=True)
class AppAuth:
    """Installation tokens for a GitHub App, through *client* and *cache*.

    ``clock`` is what cached expiry times are compared with (tests move it);
    JWTs always carry the real time, as GitHub checks them against its own.
    """

    settings: AppSettings
    client: ApiClient
    cache: TokenCache | None = None
    clock: Callable[[], float] = time.time
    #: Tokens this object fetched or read, per cache key (also when there is no cache).
    _held: dict[str, tuple[str, float]] = field(default_factory=dict)

    def _prefix(self) -> str:
        return f"{self.client.base_url.rstrip('/')}|{self.settings.app_id}"

    def jwt_header(self) -> str:
        """``Bearer <JWT>`` (raises :class:`AppKeyError` for a key that cannot sign)."""
        return f"Bearer {app_jwt(self.settings)}"

    def installation_id(self, repo: str) -> int | None:
        """The configured installation, else the one installed on *repo* (looked up once)."""
        if self.settings.installation_id is not None:
            return self.settings.installation_id
        if not repo:
            self.client.problems.append(
                "github app: no installation id configured and no repository to look it up")
            return None
        key = f"{self._prefix()}|repo:{repo.lower()}"
        if self.cache is not None:
            cached = self.cache.installation(key)
            if cached is not None:
                return cached
        resp = self.client.call("GET", f"/repos/{repo}/installation", self.jwt_header())
        found = resp.data.get("id") if resp.ok and isinstance(resp.data, dict) else None
        if not isinstance(found, int):
            self.client.problems.append(
                f"github app: looking up the installation on {repo} failed: {resp.describe()}"
                + (" (is the App installed there?)" if resp.status == 404 else ""))
            return None
        if self.cache is not None:
            self.cache.store_installation(key, found, time.time())
        return found

    def _token_key(self, installation_id: int) -> str:
        return f"{self._prefix()}|installation:{installation_id}"

    def exchange(self, installation_id: int) -> tuple[str, float, int]:
        """A new installation token, its expiry (epoch seconds) and GitHub's HTTP status.

        The token is ``""`` when GitHub gave none (the problem is recorded).
        """
        resp = self.client.call("POST", f"/app/installations/{installation_id}/access_tokens",
                                self.jwt_header(), {})
        token = resp.data.get("token") if resp.ok and isinstance(resp.data, dict) else None
        if not isinstance(token, str) or not token:
            self.client.problems.append(
                f"github app: no token for installation {installation_id}: {resp.describe()}")
            return "", 0.0, resp.status
        return token, _epoch(resp.data.get("expires_at")), resp.status

    def token(self, repo: str) -> str:
        """An installation token that reaches *repo* (``""`` when none could be had)."""
        try:
            return self._token(repo, retry_lookup=True)
        except AppKeyError as exc:
            self.client.problems.append(f"github app: {exc}")
            return ""

    def _token(self, repo: str, *, retry_lookup: bool) -> str:
        installation = self.installation_id(repo)
        if installation is None:
            return ""
        key = self._token_key(installation)
        now = self.clock()
        held = self._held.get(key)
        if held and held[1] - REFRESH_MARGIN_S > now:
            return held[0]
        cached = self.cache.token(key, now) if self.cache is not None else None
        if cached is not None:
            self._held[key] = cached
            return cached[0]
        token, expires_at, status = self.exchange(installation)
        if not token:
            looked_up = self.settings.installation_id is None and repo
            if status == 404 and retry_lookup and looked_up and self.cache is not None:
                # The App may have been reinstalled: look the installation up again, once.
                self.cache.store_installation(f"{self._prefix()}|repo:{repo.lower()}", None,
                                              time.time())
                return self._token(repo, retry_lookup=False)
            return ""
        self._held[key] = (token, expires_at)
        if self.cache is not None and expires_at > 0:
            self.cache.store_token(key, token, expires_at, now)
        return token

    def forget(self, repo: str) -> None:
        """Drop the token used for *repo* (GitHub answered 401 with it)."""
        installation = self.installation_id(repo)
        if installation is None:
            return
        key = self._token_key(installation)
        self._held.pop(key, None)
        if self.cache is not None:
            self.cache.forget_token(key, self.clock())

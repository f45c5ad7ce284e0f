"""Where the plugin's settings come from (the server's or the run's environment).

Secrets are read when used (a rotated one applies at once) and never
printed. Each may be given directly or through a ``..._SOURCE`` variable
naming where to read it, as a profile's ``url_source`` does: ``env:VAR``
or ``file:/path``.

- The webhook secret: ``SPARKWING_GITHUB_WEBHOOK_SECRET``, then
  ``SPARKWING_GITHUB_WEBHOOK_SECRET_SOURCE``, then ``GITHUB_WEBHOOK_SECRET``.
- A token: ``SPARKWING_GITHUB_TOKEN``, then ``SPARKWING_GITHUB_TOKEN_SOURCE``,
  then ``GITHUB_TOKEN``.
- A GitHub App: ``SPARKWING_GITHUB_APP_ID``, its private key (PEM) in
  ``SPARKWING_GITHUB_APP_PRIVATE_KEY`` or through
  ``SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE``, and optionally
  ``SPARKWING_GITHUB_APP_INSTALLATION_ID`` (else looked up per repository).

When both a token and an App are configured, the token is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SECRET_ENV = "SPARKWING_GITHUB_WEBHOOK_SECRET"
SECRET_SOURCE_ENV = "SPARKWING_GITHUB_WEBHOOK_SECRET_SOURCE"
FALLBACK_SECRET_ENV = "GITHUB_WEBHOOK_SECRET"
MAX_BODY_ENV = "SPARKWING_GITHUB_MAX_BODY"
TOKEN_ENV = "SPARKWING_GITHUB_TOKEN"
TOKEN_SOURCE_ENV = "SPARKWING_GITHUB_TOKEN_SOURCE"
FALLBACK_TOKEN_ENV = "GITHUB_TOKEN"
APP_ID_ENV = "SPARKWING_GITHUB_APP_ID"
APP_KEY_ENV = "SPARKWING_GITHUB_APP_PRIVATE_KEY"
APP_KEY_SOURCE_ENV = "SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE"
APP_INSTALLATION_ENV = "SPARKWING_GITHUB_APP_INSTALLATION_ID"
API_URL_ENV = "SPARKWING_GITHUB_API_URL"
FALLBACK_API_URL_ENV = "GITHUB_API_URL"
DASHBOARD_URL_ENV = "SPARKWING_GITHUB_DASHBOARD_URL"
DEFAULT_API_URL = "https://api.github.com"
#: Largest body accepted by default (bytes).
DEFAULT_MAX_BODY = 1024 * 1024


def read_source(source: str) -> str:
    """The value ``env:VAR`` or ``file:/path`` points at (``""`` if unset, unreadable or malformed)."""
    source = source.strip()
    if source.startswith("env:"):
        return os.environ.get(source[4:], "")
    if source.startswith("file:"):
        try:
            return Path(source[5:]).expanduser().read_text().strip()
        except OSError:
            return ""
    return ""


def webhook_secret() -> str:
    """The webhook secret, or ``""`` when none is configured (deliveries then get 503)."""
    return (os.environ.get(SECRET_ENV, "")
            or read_source(os.environ.get(SECRET_SOURCE_ENV, ""))
            or os.environ.get(FALLBACK_SECRET_ENV, ""))


def max_body() -> int:
    """The body limit in bytes (``SPARKWING_GITHUB_MAX_BODY``, default 1 MiB)."""
    raw = os.environ.get(MAX_BODY_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_BODY


def api_token() -> str:
    """The token: ``SPARKWING_GITHUB_TOKEN``, its ``..._SOURCE``, then ``GITHUB_TOKEN``."""
    return (os.environ.get(TOKEN_ENV, "")
            or read_source(os.environ.get(TOKEN_SOURCE_ENV, ""))
            or os.environ.get(FALLBACK_TOKEN_ENV, ""))


def api_url() -> str:
    """The API base URL (GitHub Enterprise: ``https://HOST/api/v3``)."""
    return (os.environ.get(API_URL_ENV) or os.environ.get(FALLBACK_API_URL_ENV)
            or DEFAULT_API_URL).rstrip("/")


def dashboard_url() -> str:
    """The dashboard's address as people reach it (``""`` when not configured)."""
    return os.environ.get(DASHBOARD_URL_ENV, "").rstrip("/")


@dataclass(frozen=True, slots=True)
class AppSettings:
    """A GitHub App's settings; :meth:`problem` says what is missing (the key is never shown)."""

    app_id: str
    private_key: str = field(repr=False)
    #: Where the key came from, for messages (``SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE (file)``).
    key_origin: str = ""
    installation_id: int | None = None
    #: A setting that is malformed (names the variable and what would be valid).
    error: str = ""

    def problem(self) -> str:
        """``""`` when usable, else a one-line reason naming the variable to set."""
        if self.error:
            return self.error
        if not self.app_id:
            return f"{APP_ID_ENV} is not set (the App's numeric id or client id)"
        if not self.private_key:
            return (f"no private key: set {APP_KEY_SOURCE_ENV} to file:/path/to/key.pem "
                    f"or env:VAR ({self.key_origin or 'nothing configured'})")
        return ""


def _key() -> tuple[str, str, str]:
    """The App's key, where it came from, and an error (all strings)."""
    direct = os.environ.get(APP_KEY_ENV, "")
    if direct:
        return direct.replace("\\n", "\n"), APP_KEY_ENV, ""
    source = os.environ.get(APP_KEY_SOURCE_ENV, "").strip()
    if not source:
        return "", "", ""
    kind = source.split(":", 1)[0]
    if kind not in ("env", "file"):
        return "", "", f"{APP_KEY_SOURCE_ENV} must be env:VAR or file:/path (got {kind}:...)"
    origin = f"{APP_KEY_SOURCE_ENV} ({kind})"
    value = read_source(source)
    if not value:
        where = f"variable {source[4:]}" if kind == "env" else f"file {source[5:]}"
        return "", origin, f"{APP_KEY_SOURCE_ENV}: {where} is unset, empty or unreadable"
    return value, origin, ""


def app_configured() -> bool:
    """Whether any GitHub App setting is present (then :func:`app_settings` is meaningful)."""
    return bool(os.environ.get(APP_ID_ENV) or os.environ.get(APP_KEY_ENV)
                or os.environ.get(APP_KEY_SOURCE_ENV))


def app_settings() -> AppSettings:
    """The GitHub App settings as configured now (check :meth:`AppSettings.problem`)."""
    key, origin, error = _key()
    raw_installation = os.environ.get(APP_INSTALLATION_ENV, "").strip()
    installation: int | None = None
    if raw_installation:
        if raw_installation.isdigit():
            installation = int(raw_installation)
        else:
            error = error or f"{APP_INSTALLATION_ENV} must be a number (got {raw_installation!r})"
    return AppSettings(os.environ.get(APP_ID_ENV, "").strip(), key, origin, installation, error)

"""Where the plugin's settings come from: the webhook secret and the body limit.

The secret is read, in order, from ``SPARKWING_GITHUB_WEBHOOK_SECRET``, from
the source that ``SPARKWING_GITHUB_WEBHOOK_SECRET_SOURCE`` names
(``env:VAR`` or ``file:/path``, as a profile's ``url_source``) and from
``GITHUB_WEBHOOK_SECRET``. It is read on every delivery (a rotated
secret applies at once) and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path

SECRET_ENV = "SPARKWING_GITHUB_WEBHOOK_SECRET"
SECRET_SOURCE_ENV = "SPARKWING_GITHUB_WEBHOOK_SECRET_SOURCE"
FALLBACK_SECRET_ENV = "GITHUB_WEBHOOK_SECRET"
MAX_BODY_ENV = "SPARKWING_GITHUB_MAX_BODY"
#: Largest body accepted by default (bytes).
DEFAULT_MAX_BODY = 1024 * 1024


def webhook_secret() -> str:
    """The webhook secret, or ``""`` when none is configured (deliveries then get 503)."""
    direct = os.environ.get(SECRET_ENV, "")
    if direct:
        return direct
    source = os.environ.get(SECRET_SOURCE_ENV, "").strip()
    if source.startswith("env:"):
        return os.environ.get(source[4:], "")
    if source.startswith("file:"):
        try:
            return Path(source[5:]).expanduser().read_text().strip()
        except OSError:
            return ""
    return os.environ.get(FALLBACK_SECRET_ENV, "")


def max_body() -> int:
    """The body limit in bytes (``SPARKWING_GITHUB_MAX_BODY``, default 1 MiB)."""
    raw = os.environ.get(MAX_BODY_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_BODY

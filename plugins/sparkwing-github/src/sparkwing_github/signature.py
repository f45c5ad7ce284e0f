"""GitHub's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``."""

from __future__ import annotations

import hashlib
import hmac

#: The header GitHub signs deliveries with.
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: The prefix of the header's value.
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value GitHub sends for *body* under *secret*."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """Whether *header* is the signature of *body* under *secret* (constant-time compare)."""
    if not secret or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"),
                               header.strip().encode("ascii", "replace"))

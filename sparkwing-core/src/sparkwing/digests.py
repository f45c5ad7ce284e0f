"""Digests without loading OpenSSL: the interpreter's own SHA-256 and BLAKE2 modules.

``import hashlib`` loads OpenSSL's ``libcrypto`` (about 10 M instructions),
a noticeable share of ``sparkwing run``'s start-up when all it needs is a
digest or two of short strings. The results are the same as hashlib's.
"""

from __future__ import annotations

from typing import Any


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of *data* as 64 hex digits."""
    return _sha256()(data).hexdigest()  # type: ignore[no-any-return]


def blake2b_hex(data: bytes, size: int = 20) -> str:
    """The BLAKE2b digest of *data*, *size* bytes long, as hex digits."""
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - an interpreter without the builtin module
        from hashlib import blake2b
    return blake2b(data, digest_size=size).hexdigest()


def _sha256() -> Any:
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12+
        except ImportError:  # pragma: no cover - another interpreter
            from hashlib import sha256
    return sha256

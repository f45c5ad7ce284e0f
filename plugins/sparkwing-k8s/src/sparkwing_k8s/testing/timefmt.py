"""Timestamps as the API server writes them (RFC 3339, UTC)."""

from __future__ import annotations

import time


def rfc3339(ts: float) -> str:
    """``2026-05-01T12:00:00Z`` (seconds, as ``metav1.Time`` serialises)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def rfc3339_nano(ts: float) -> str:
    """``2026-05-01T12:00:00.123456789Z`` (as log timestamps are written)."""
    whole = int(ts)
    nanos = round((ts - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{nanos:09d}Z"

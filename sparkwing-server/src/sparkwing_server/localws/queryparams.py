"""Parsing query-string values of the API (bad values are 400 errors)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from .errors import fail

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def int_param(query: Mapping[str, str], name: str, default: int | None = None, *,
              minimum: int = 0, maximum: int | None = None) -> int | None:
    """Return an integer query value, or *default* when absent; 400 when malformed."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        fail(400, f"{name} must be an integer, got {raw!r}")
    if value < minimum:
        fail(400, f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        value = maximum
    return value


def list_param(query: Mapping[str, str], name: str) -> list[str]:
    """Return a repeatable and/or comma-separated query value as a list."""
    getall = getattr(query, "getall", None)
    raws = getall(name, []) if getall is not None else [query.get(name, "")]
    out: list[str] = []
    for raw in raws:
        out.extend(part.strip() for part in str(raw).split(",") if part.strip())
    return out


def since_param(query: Mapping[str, str], name: str = "since") -> float | None:
    """Return a ``since`` bound: epoch seconds, or a relative age like ``30m``, ``24h``, ``7d``."""
    raw = (query.get(name) or "").strip()
    if not raw:
        return None
    match = _DURATION_RE.match(raw)
    if match:
        return time.time() - float(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        return float(raw)
    except ValueError:
        fail(400, f"{name} must be epoch seconds or an age like 30m, 24h, 7d; got {raw!r}")


def line_range(raw: str) -> tuple[int | None, int | None]:
    """Parse ``A:B`` (1-based, inclusive, either side optional) into a pair."""
    start_text, sep, end_text = raw.partition(":")
    try:
        start = int(start_text) if start_text.strip() else None
        end = int(end_text) if sep and end_text.strip() else (start if not sep else None)
    except ValueError:
        fail(400, f"lines must look like A:B (1-based line numbers), got {raw!r}")
    if (start is not None and start < 1) or (end is not None and end < 1):
        fail(400, f"lines must look like A:B (1-based line numbers), got {raw!r}")
    return start, end

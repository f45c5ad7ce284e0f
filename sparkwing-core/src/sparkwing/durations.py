"""Durations: numbers of seconds or strings such as ``90s``, ``10m``, ``1h30m``, ``500ms``, ``7d``."""

from __future__ import annotations

import re

# Pattern sources, not compiled: ``re`` compiles and caches one on first use (start-up).
_PART = r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: float | int | str, what: str = "duration") -> float:
    """Return *value* in seconds; raise ``ValueError`` naming *what* when it is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{what}: must not be negative, got {value!r}")
        return float(value)
    text = str(value).strip().lower()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number < 0:
            raise ValueError(f"{what}: must not be negative, got {value!r}")
        return number
    pos, total = 0, 0.0
    for m in re.finditer(_PART, text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(
            f"{what}: {value!r} is not a duration (use seconds or e.g. 500ms, 90s, 10m, 1h30m, 7d)"
        )
    return total


def format_duration(seconds: float | None) -> str:
    """Render seconds compactly: ``40ms``, ``12.3s``, ``4m05s``, ``2h03m``."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"

"""Rendering for the read commands: colours, times, tables and log records as text."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from sparkwing import events
from sparkwing.durations import format_duration
from sparkwing.termtext import terminal_safe

if TYPE_CHECKING:
    from sparkwing.storage.records import Run

#: SGR colour codes of run statuses and node outcomes.
STATUS_COLOURS = {
    "success": "32",
    "satisfied": "32",
    "cached": "36",
    "failed": "31",
    "cancelled": "33",
    "superseded": "33",
    "running": "34",
    "pending": "90",
    "approval_pending": "35",
    "paused": "35",
    "skipped": "90",
    "skipped-concurrent": "90",
    "passed": "32",
}

_LEVEL_COLOURS = {"error": "31", "warn": "33", "debug": "90"}


def use_colour(stream: IO[str] | None = None) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set."""
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and bool(getattr(stream, "isatty", lambda: False)())


def paint(text: str, code: str, colour: bool) -> str:
    """Wrap *text* in an SGR sequence when *colour* is on."""
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def status_text(status: str, colour: bool) -> str:
    """A status word, coloured by what it means."""
    return paint(status, STATUS_COLOURS.get(status, ""), colour)


def ago(t: float | None, now: float | None = None) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago`` (``-`` when unknown)."""
    if not t:
        return "-"
    delta = max(0.0, (time.time() if now is None else now) - t)
    if delta < 60:
        return f"{int(delta)}s ago"
    if delta < 3600:
        return f"{int(delta // 60)}m ago"
    if delta < 86400:
        return f"{int(delta // 3600)}h ago"
    return f"{int(delta // 86400)}d ago"


def local_time(t: float | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in local time (``-`` when unknown)."""
    if not t:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def run_duration(run: Run, now: float | None = None) -> float | None:
    """Seconds a run took (or has taken so far, while live)."""
    start = run.started_at or run.created_at
    if not start:
        return None
    end = run.finished_at or (None if run.terminal else (time.time() if now is None else now))
    return None if end is None else max(0.0, end - start)


def span(started: float | None, finished: float | None) -> str:
    """Compact duration between two times (``-`` when not started)."""
    if not started:
        return "-"
    return format_duration(max(0.0, (finished or time.time()) - started))


def git_ref(branch: str, sha: str) -> str:
    """``branch@sha7`` (either part may be missing; ``-`` when both are)."""
    short = (sha or "")[:7]
    if branch and short:
        return f"{branch}@{short}"
    return branch or (f"@{short}" if short else "-")


def flag_value(value: Any) -> str:
    """A value as it is typed after ``--flag=``: lists comma-joined, booleans true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(flag_value(v) for v in value)
    if value == "" or value is None:
        return '""'
    return str(value)


def table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None,
          visible: Sequence[Sequence[str]] | None = None) -> list[str]:
    """Left-aligned columns separated by two spaces.

    *visible* holds the cell text without colour codes (used for widths)
    when *rows* carry ANSI sequences.
    """
    plain = list(visible) if visible is not None else [list(r) for r in rows]
    all_rows = ([list(header)] if header else []) + plain
    if not all_rows:
        return []
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    out: list[str] = []
    if header:
        out.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row, vis in zip(rows, plain, strict=True):
        cells = [c + " " * (w - len(v)) for c, v, w in zip(row, vis, widths, strict=True)]
        out.append("  ".join(cells).rstrip())
    return out


# -- log records ----------------------------------------------------------------


def parse_line(line: str) -> dict[str, Any]:
    """Decode one JSONL record; text that is not a JSON object becomes ``{"msg": line}``."""
    try:
        value = json.loads(line)
    except ValueError:
        return {"msg": line.rstrip("\n")}
    return value if isinstance(value, dict) else {"msg": line.rstrip("\n")}


def record_text(rec: dict[str, Any]) -> str:
    """The human text of a record: its message, or a summary of its event."""
    msg = str(rec.get("msg") or "")
    event = rec.get("event") or ""
    raw_attrs = rec.get("attrs")
    attrs: dict[str, Any] = raw_attrs if isinstance(raw_attrs, dict) else {}
    if event == events.LOG_STEP_START and not msg:
        return f"step {rec.get('step', '')} started"
    if event == events.LOG_STEP_END and not msg:
        outcome = attrs.get("outcome", "")
        dur = attrs.get("duration_ms")
        text = f"step {rec.get('step', '')} {outcome}".rstrip()
        if isinstance(dur, int | float):
            text += f" ({format_duration(dur / 1000)})"
        if attrs.get("error"):
            text += f": {attrs['error']}"
        return text
    if not msg and event:
        return event
    return msg


def _clock(ts: str) -> str:
    # "2026-11-23T17:41:43.123456Z" -> "17:41:43.123" (UTC, as recorded)
    if len(ts) >= 23 and ts[10] == "T":
        return ts[11:23]
    return ts


def format_record(rec: dict[str, Any], fmt: str, *, colour: bool = False,
                  show_node: bool = True, width: int = 0) -> str:
    """Render one record for ``runs logs``: ``pretty`` (time, node, text) or ``plain``.

    ``plain`` is the text alone (prefixed ``[node]`` when *show_node*);
    ``pretty`` adds the UTC time and colours errors, warnings and events.
    The recorded text is made terminal-safe: escape sequences other than
    colours (kept only with *colour*) and control characters are removed.
    """
    text = terminal_safe(record_text(rec), colour)
    node = str(rec.get("node") or "")
    step = str(rec.get("step") or "")
    label = node + (f"#{step}" if step else "")
    if fmt == "plain":
        if show_node:
            return f"[{label or 'run'}] {text}"
        return text
    level = str(rec.get("level") or "info")
    event = str(rec.get("event") or "")
    code = _LEVEL_COLOURS.get(level, "")
    if not code and event and event != events.LOG_EXEC_LINE:
        code = "36" if event == events.LOG_EXEC_START else "1"
    parts = [paint(_clock(str(rec.get("ts") or "")), "90", colour)]
    if show_node:
        shown = label or "run"
        parts.append(paint(shown.ljust(width), "35", colour))
    parts.append(paint(text, code, colour))
    return "  ".join(parts)

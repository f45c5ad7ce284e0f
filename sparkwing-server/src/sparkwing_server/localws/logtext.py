"""Rendering JSON log records as text: raw JSONL, plain, or ANSI-coloured."""

from __future__ import annotations

import json
import re
from typing import Any

from sparkwing import events

#: Output formats of the log endpoints.
FORMATS = ("raw", "plain", "ansi")

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")

_RESET = "\x1b[0m"
_BOLD_CYAN = "\x1b[1;36m"
_DIM = "\x1b[2m"
_RED = "\x1b[31m"
_BOLD_RED = "\x1b[1;31m"
_YELLOW = "\x1b[33m"
_GREEN = "\x1b[32m"


def negotiate_format(query_format: str | None, accept: str | None) -> str:
    """Pick ``raw``, ``ansi`` or ``plain`` from ``?format=`` or else the Accept header."""
    value = (query_format or "").strip().lower()
    if value:
        if value in ("raw", "ndjson", "jsonl", "json"):
            return "raw"
        if value in ("ansi", "color", "colour"):
            return "ansi"
        return "plain"
    accept = (accept or "").lower()
    if "ndjson" in accept or "jsonl" in accept:
        return "raw"
    if "x-ansi" in accept:
        return "ansi"
    return "plain"


def content_type(fmt: str) -> str:
    """Content type of a rendered log body in *fmt*."""
    return "application/x-ndjson" if fmt == "raw" else "text/plain"


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences."""
    return _ANSI_RE.sub("", text)


def parse_record(line: str) -> dict[str, Any]:
    """Decode one JSONL record; a line that is not a JSON object becomes ``{"msg": line}``."""
    try:
        value = json.loads(line)
    except ValueError:
        return {"msg": line}
    return value if isinstance(value, dict) else {"msg": line}


def _seconds(attrs: dict[str, Any]) -> str:
    ms = attrs.get("duration_ms")
    if isinstance(ms, int | float):
        return f" ({ms / 1000:.1f}s)"
    return ""


def record_text(rec: dict[str, Any], *, color: bool = False) -> str:
    """Render one record as one line of text (``color`` adds SGR sequences)."""
    event = str(rec.get("event") or "")
    msg = str(rec.get("msg") or "")
    raw_attrs = rec.get("attrs")
    attrs: dict[str, Any] = raw_attrs if isinstance(raw_attrs, dict) else {}
    step = str(rec.get("step") or attrs.get("step") or "")
    level = str(rec.get("level") or "info")
    if not color:
        msg = strip_ansi(msg)

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    if event == events.LOG_EXEC_LINE:
        return msg
    if event == events.LOG_EXEC_START:
        return paint(_DIM, msg or "$ " + str(attrs.get("cmd", "")))
    if event == events.LOG_STEP_START:
        return paint(_BOLD_CYAN, f"▶ step {step}")
    if event == events.LOG_STEP_END:
        outcome = str(attrs.get("outcome") or "")
        text = f"■ step {step} {outcome}{_seconds(attrs)}".rstrip()
        if attrs.get("error"):
            text += f": {attrs['error']}"
        return paint(_RED if outcome == "failed" else _GREEN if outcome == "success" else _DIM,
                     text)
    if event == events.LOG_STEP_SKIPPED:
        reason = attrs.get("reason")
        return paint(_DIM, f"- step {step} skipped" + (f" ({reason})" if reason else ""))
    if event == events.LOG_NODE_START:
        return paint(_BOLD_CYAN, f"▶ job {rec.get('node') or ''} started".replace("  ", " "))
    if event == events.LOG_NODE_END:
        outcome = str(attrs.get("outcome") or "")
        text = f"■ job {rec.get('node') or ''} {outcome}{_seconds(attrs)}"
        if attrs.get("error"):
            text += f": {attrs['error']}"
        return paint(_BOLD_RED if outcome == "failed" else _GREEN, text)
    if not msg and event:
        extra = {k: v for k, v in attrs.items() if k not in ("nodes",)}
        msg = event + (" " + json.dumps(extra, separators=(",", ":"), default=str) if extra else "")
    if level == "error":
        return paint(_RED, f"error: {msg}")
    if level == "warn":
        return paint(_YELLOW, f"warning: {msg}")
    return msg


def render_line(line: str, fmt: str) -> str:
    """Render one stored record line in *fmt* (raw returns it unchanged)."""
    if fmt == "raw":
        return line
    return record_text(parse_record(line), color=fmt == "ansi")


def search_text(line: str) -> str:
    """The text a search or grep matches against: the plain rendering of the record."""
    return record_text(parse_record(line))

"""The failure excerpt of a failed job: the last lines of output that explain it."""

from __future__ import annotations

from typing import Any

from .context import ServerContext
from .logtext import parse_record, record_text

#: Lines and bytes kept when the excerpt is cut from the node's log.
EXCERPT_LINES = 20
EXCERPT_BYTES = 4096
#: Records read from the end of the log to find the excerpt.
_TAIL_SCAN = 400


async def failure_excerpt(ctx: ServerContext, node: Any) -> dict[str, Any]:
    """Return ``{source, lines, truncated, error, failure_reason, exit_code}`` for *node*.

    The orchestrator's ``node_failure_excerpt`` event is preferred (its text
    is already redacted and bounded); without one, the excerpt is the last
    lines of command output and error records in the node's log.
    """
    base = {
        "error": node.error,
        "failure_reason": node.failure_reason,
        "exit_code": node.exit_code,
    }
    payload = await ctx.state_call(_excerpt_event, ctx.state, node.run_id, node.node_id)
    if payload is not None:
        text = payload.get("log_excerpt")
        lines = (text.splitlines() if isinstance(text, str)
                 else [str(x) for x in text] if isinstance(text, list) else [])
        return {
            **base,
            "source": "event",
            "lines": lines,
            "truncated": bool(payload.get("log_excerpt_truncated")),
            "unavailable": bool(payload.get("log_excerpt_unavailable")) or not lines,
        }
    records = await ctx.logs_call(ctx.logs.tail, node.run_id, node.node_id, _TAIL_SCAN)
    lines = _excerpt_from_log(records)
    return {
        **base,
        "source": "log",
        "lines": lines,
        "truncated": len(records) >= _TAIL_SCAN or len(lines) >= EXCERPT_LINES,
        "unavailable": not lines,
    }


def _excerpt_event(state: Any, run_id: str, node_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = None
    after = 0
    while True:
        events = state.list_events(run_id, after, 1000)
        for event in events:
            if event.kind == "node_failure_excerpt" and event.node_id == node_id:
                found = dict(event.payload or {})
        if len(events) < 1000:
            return found
        after = events[-1].seq


def _excerpt_from_log(records: list[str]) -> list[str]:
    picked: list[str] = []
    for line in records:
        rec = parse_record(line)
        event = rec.get("event") or ""
        if event in ("exec_line", "exec_start") or (not event and rec.get("msg")) or (
            rec.get("level") == "error"
        ):
            picked.append(record_text(rec))
    picked = picked[-EXCERPT_LINES:]
    while picked and sum(len(x) + 1 for x in picked) > EXCERPT_BYTES:
        picked.pop(0)
    return picked

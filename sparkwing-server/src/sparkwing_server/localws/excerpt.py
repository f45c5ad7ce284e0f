"""The failure excerpt of a failed job: the last lines of output that explain it."""

from __future__ import annotations

from typing import Any

from sparkwing import events
from sparkwing.storage.records import Node
from sparkwing.views import excerpt_view

from .context import ServerContext
from .logtext import parse_record, record_text

#: Lines and bytes kept when the excerpt is cut from the node's log.
EXCERPT_LINES = 20
EXCERPT_BYTES = 4096
#: Records read from the end of the log to find the excerpt.
_TAIL_SCAN = 400
#: Log records whose text belongs in an excerpt (besides plain messages and errors).
_OUTPUT_EVENTS = frozenset({events.LOG_EXEC_LINE, events.LOG_EXEC_START})


async def failure_excerpt(ctx: ServerContext, node: Node,
                          payload: dict[str, Any] | None) -> dict[str, Any]:
    """Return ``{source, lines, truncated, unavailable, logs, error, failure_reason, exit_code}``.

    *payload* is the node's ``node_failure_excerpt`` event, preferred when
    there is one (its text is already redacted and bounded; see
    :func:`sparkwing.views.excerpt_view`); without one, the excerpt is the
    last lines of command output and error records in the node's log.
    """
    base = {
        "error": node.error,
        "failure_reason": node.failure_reason,
        "exit_code": node.exit_code,
    }
    if payload is not None:
        return {**base, **excerpt_view(payload)}
    records = await ctx.logs_call(ctx.logs.tail, node.run_id, node.node_id, _TAIL_SCAN)
    lines = _excerpt_from_log(records)
    return {
        **base,
        "source": "log",
        "lines": lines,
        "truncated": len(records) >= _TAIL_SCAN or len(lines) >= EXCERPT_LINES,
        "unavailable": not lines,
        "logs": f"sparkwing runs logs --run {node.run_id} --node {node.node_id}",
    }


def _excerpt_from_log(records: list[str]) -> list[str]:
    picked: list[str] = []
    for line in records:
        rec = parse_record(line)
        event = rec.get("event") or ""
        if event in _OUTPUT_EVENTS or (not event and rec.get("msg")) or (
            rec.get("level") == "error"
        ):
            picked.append(record_text(rec))
    picked = picked[-EXCERPT_LINES:]
    while picked and sum(len(x) + 1 for x in picked) > EXCERPT_BYTES:
        picked.pop(0)
    return picked

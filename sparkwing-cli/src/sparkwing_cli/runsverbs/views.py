"""JSON views of runs and nodes shared by the ``runs`` verbs."""

from __future__ import annotations

from typing import Any

from ..render import run_duration

#: Event kind carrying a failed node's last lines of output.
EXCERPT_EVENT = "node_failure_excerpt"


def run_view(run: Any, *, full: bool = False) -> dict[str, Any]:
    """A run as JSON: every field (the plan only when *full*) plus ``duration_s``."""
    d = run.to_dict()
    if not full:
        d.pop("plan", None)
    dur = run_duration(run)
    d["duration_s"] = None if dur is None else round(dur, 3)
    return d


def excerpts(state: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """Failure excerpts of a run's nodes, from its ``node_failure_excerpt`` events (last wins)."""
    out: dict[str, dict[str, Any]] = {}
    after = 0
    while True:
        batch = state.list_events(run_id, after_seq=after, limit=500)
        for ev in batch:
            if ev.kind == EXCERPT_EVENT and ev.node_id:
                out[ev.node_id] = dict(ev.payload)
        if len(batch) < 500:
            return out
        after = batch[-1].seq


def excerpt_lines(payload: dict[str, Any] | None) -> list[str]:
    """The excerpt's lines (the payload holds one string or a list)."""
    if not payload:
        return []
    text = payload.get("log_excerpt")
    if isinstance(text, str):
        return text.splitlines()
    if isinstance(text, list):
        return [str(x) for x in text]
    return []


def node_views(state: Any, run_id: str, *, with_excerpts: bool = True) -> list[dict[str, Any]]:
    """The run's nodes as JSON, each with its ``steps`` and, when failed, its ``excerpt``."""
    steps: dict[str, list[dict[str, Any]]] = {}
    for step in state.list_steps(run_id):
        steps.setdefault(step.node_id, []).append(step.to_dict())
    found = excerpts(state, run_id) if with_excerpts else {}
    out = []
    for node in state.list_nodes(run_id):
        d = node.to_dict()
        d["duration_s"] = (
            round(node.finished_at - node.started_at, 3)
            if node.started_at and node.finished_at else None
        )
        d["steps"] = steps.get(node.node_id, [])
        payload = found.get(node.node_id)
        d["excerpt"] = None if payload is None else {
            "lines": excerpt_lines(payload),
            "truncated": bool(payload.get("log_excerpt_truncated")),
            "unavailable": bool(payload.get("log_excerpt_unavailable")),
            "logs": payload.get("logs", ""),
        }
        out.append(d)
    return out


def log_path(logs: Any, run_id: str) -> str | None:
    """The directory holding the run's log files, when the log store is on this disk."""
    run_dir = getattr(logs, "run_dir", None)
    if run_dir is None:
        return None
    try:
        path = run_dir(run_id)
    except Exception:
        return None
    return str(path) if path.is_dir() else None

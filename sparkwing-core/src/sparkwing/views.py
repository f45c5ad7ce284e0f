"""JSON views of runs, nodes, steps, events, approvals and pauses: one shape for every reader.

``sparkwing runs ... -o json`` and the dashboard's API both build their
answers here, so a run looks the same wherever it is read:

* :func:`run_view`: the run record's fields, secret inputs masked as
  ``***``, plus ``terminal`` and ``duration_s`` (``null`` until the run
  ended); list rows (:func:`run_rows`) leave out the heavy ``plan`` and
  ``invocation`` and add ``pending_approvals`` and ``paused_nodes``;
* :func:`node_view`: the node's fields plus ``duration_s``, its ``steps``
  (each with ``duration_s``) and ``excerpt``: ``null``, or for a failed job
  the last lines of output its run recorded (:func:`excerpt_view`);
* :func:`run_detail`: ``{run, nodes, approvals, pauses}``.

Every function returns plain dicts ready for ``json.dumps``; nothing here
does I/O beyond the store calls it is handed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .events import NODE_FAILURE_EXCERPT

if TYPE_CHECKING:
    from .storage.contracts import StateStore
    from .storage.records import Approval, Event, Node, Pause, Run, Step

#: A JSON object as the views return it.
JSONObject = dict[str, Any]

#: What a secret value is replaced with on every read surface.
MASK = "***"

#: Run fields left out of list rows (they can be large; the detail view has them).
HEAVY_RUN_FIELDS = ("plan", "invocation")

#: Events read per store call when looking for failure excerpts.
_EVENTS_PAGE = 1000


# -- secrets -------------------------------------------------------------------------------
def _secret_keys(names: Iterable[str]) -> set[str]:
    keys: set[str] = set()
    for name in names:
        base = str(name).lstrip("-")
        keys.update({base, base.replace("-", "_"), base.replace("_", "-")})
    return keys


def redact(value: Any, secret_names: Iterable[str]) -> Any:
    """Return *value* (a JSON value) with every secret input masked.

    Dict entries whose key names a secret input are masked wherever they
    appear; in argv-like lists, ``--name value`` and ``--name=value`` are
    masked too. Containers are copied only when secrets are named.
    """
    keys = _secret_keys(secret_names)
    if not keys:
        return value
    return _redact(value, keys)


def _redact(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if k in keys and v not in (None, "") else _redact(v, keys))
                for k, v in value.items()}
    if isinstance(value, list):
        return _redact_list(value, keys)
    return value


def _redact_list(items: list[Any], keys: set[str]) -> list[Any]:
    out: list[Any] = []
    mask_next = False
    for item in items:
        if mask_next and isinstance(item, str):
            out.append(MASK)
            mask_next = False
            continue
        mask_next = False
        if isinstance(item, str) and item.startswith("-"):
            name, eq, _ = item.lstrip("-").partition("=")
            if name in keys:
                if eq:
                    out.append(item.split("=", 1)[0] + "=" + MASK)
                else:
                    out.append(item)
                    mask_next = True
                continue
        out.append(_redact(item, keys))
    return out


# -- records -------------------------------------------------------------------------------
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _fields(record: Any, skip: Sequence[str] = ()) -> JSONObject:
    """A record's fields as a dict, nested values shared (``asdict`` deep-copies, slowly)."""
    kind = type(record)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(record))
    return {name: getattr(record, name) for name in names if name not in skip}


def duration(start: float | None, end: float | None) -> float | None:
    """Seconds from *start* to *end*, rounded to milliseconds (``None`` unless both are known)."""
    if start is None or end is None:
        return None
    return round(max(0.0, end - start), 3)


def run_view(run: Run, *, full: bool = True) -> JSONObject:
    """A run as JSON; ``full=False`` leaves out ``plan`` and ``invocation`` (list rows).

    Adds ``terminal``, ``duration_s`` (from start, else creation, to the
    end; ``None`` while the run is live) and ``project`` (the root of the
    project it ran in, see :mod:`sparkwing.projectruns`).
    """
    from .projectruns import run_project

    data = _fields(run, () if full else HEAVY_RUN_FIELDS)
    if run.secret_args:
        for name in ("args", *HEAVY_RUN_FIELDS):
            if name in data:
                data[name] = redact(data[name], run.secret_args)
    data["terminal"] = run.terminal
    data["duration_s"] = duration(run.started_at or run.created_at, run.finished_at)
    data["project"] = run_project(run)
    return data


def step_view(step: Step) -> JSONObject:
    """A step as JSON: its fields plus ``duration_s``."""
    data = _fields(step)
    data["duration_s"] = duration(step.started_at, step.finished_at)
    return data


def excerpt_view(payload: dict[str, Any]) -> JSONObject:
    """The excerpt of a ``node_failure_excerpt`` event's payload.

    ``{source: "event", lines, truncated, unavailable, logs}``; ``logs`` is
    the command that prints the job's whole log.
    """
    text = payload.get("log_excerpt")
    lines = (text.splitlines() if isinstance(text, str)
             else [str(x) for x in text] if isinstance(text, list) else [])
    return {
        "source": "event",
        "lines": lines,
        "truncated": bool(payload.get("log_excerpt_truncated")),
        "unavailable": bool(payload.get("log_excerpt_unavailable")) or not lines,
        "logs": str(payload.get("logs") or ""),
    }


def node_view(node: Node, steps: Sequence[Step] = (),
              excerpt: dict[str, Any] | None = None) -> JSONObject:
    """A node as JSON: its fields, ``duration_s``, ``steps`` and ``excerpt``.

    *excerpt* is the payload of the node's ``node_failure_excerpt`` event
    (``excerpt`` is ``None`` without one).
    """
    data = _fields(node)
    data["duration_s"] = duration(node.started_at, node.finished_at)
    data["steps"] = [step_view(s) for s in steps]
    data["excerpt"] = None if excerpt is None else excerpt_view(excerpt)
    return data


def event_view(event: Event) -> JSONObject:
    """An event of a run's stream as JSON: ``{run_id, seq, node_id, kind, ts, payload}``."""
    return {
        "run_id": event.run_id,
        "seq": event.seq,
        "node_id": event.node_id,
        "kind": event.kind,
        "ts": event.ts,
        "payload": event.payload,
    }


def approval_view(approval: Approval, run: Run | None = None) -> JSONObject:
    """An approval as JSON: its fields, ``pending``, and the run's ``pipeline`` and ``run_status``.

    The last two are there only when *run* is given.
    """
    data = _fields(approval)
    data["pending"] = not approval.resolution
    if run is not None:
        data["pipeline"] = run.pipeline
        data["run_status"] = run.status
    return data


def pause_view(pause: Pause) -> JSONObject:
    """A debug pause as JSON: its fields and ``held`` (not released yet)."""
    data = _fields(pause)
    data["held"] = pause.released_at is None
    return data


# -- reading a run from the state store ----------------------------------------------------
def failure_excerpts(state: StateStore, run_id: str) -> dict[str, dict[str, Any]]:
    """Node id -> payload of its ``node_failure_excerpt`` event (the last one wins)."""
    found: dict[str, dict[str, Any]] = {}
    after = 0
    while True:
        batch = state.list_events(run_id, after, _EVENTS_PAGE)
        for event in batch:
            if event.kind == NODE_FAILURE_EXCERPT and event.node_id:
                found[event.node_id] = dict(event.payload or {})
        if len(batch) < _EVENTS_PAGE:
            return found
        after = batch[-1].seq


def node_views(state: StateStore, run_id: str,
               nodes: Sequence[Node] | None = None) -> list[JSONObject]:
    """The run's nodes (read unless given) as JSON, in plan order, with steps and excerpts.

    The event stream is read for excerpts only when a node failed.
    """
    if nodes is None:
        nodes = state.list_nodes(run_id)
    steps: dict[str, list[Step]] = {}
    for step in state.list_steps(run_id):
        steps.setdefault(step.node_id, []).append(step)
    excerpts = (failure_excerpts(state, run_id)
                if any(n.outcome == "failed" for n in nodes) else {})
    return [node_view(n, steps.get(n.node_id, ()), excerpts.get(n.node_id)) for n in nodes]


def run_detail(state: StateStore, run: Run) -> JSONObject:
    """``{run, nodes, approvals, pauses}``: what ``runs status`` and ``GET /api/v1/runs/{id}`` show.

    ``approvals`` are the run's approval gates, resolved or not; ``pauses``
    its debug pauses still held.
    """
    return {
        "run": run_view(run),
        "nodes": node_views(state, run.id),
        "approvals": [approval_view(a, run) for a in state.list_approvals(run.id)],
        "pauses": [pause_view(p) for p in state.list_pauses(run.id, held_only=True)],
    }


def run_rows(state: StateStore, runs: Sequence[Run]) -> list[JSONObject]:
    """List rows of *runs*: :func:`run_view` without the heavy fields, plus what a live run waits on.

    ``pending_approvals`` and ``paused_nodes`` name the gates and held
    pauses of a live run (empty once it ended); approvals and pauses are
    read only when some run is live.
    """
    waiting: dict[str, list[str]] = {}
    paused: dict[str, list[str]] = {}
    if any(not r.terminal for r in runs):
        for a in state.list_approvals(None, pending_only=True):
            waiting.setdefault(a.run_id, []).append(a.node_id)
        for p in state.list_pauses(None, held_only=True):
            paused.setdefault(p.run_id, []).append(p.node_id)
    rows = []
    for run in runs:
        row = run_view(run, full=False)
        live = not run.terminal
        row["pending_approvals"] = waiting.get(run.id, []) if live else []
        row["paused_nodes"] = paused.get(run.id, []) if live else []
        rows.append(row)
    return rows

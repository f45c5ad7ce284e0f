"""JSON views of store records as the API returns them (secret inputs masked)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

#: What a secret value is replaced with on every read surface.
MASK = "***"

#: Run fields left out of list rows (they can be large; the detail view has them).
_HEAVY_RUN_FIELDS = ("plan", "invocation")


def dumps(value: Any) -> str:
    """Compact JSON text of *value* (unknown objects become strings)."""
    return json.dumps(value, separators=(",", ":"), default=str)


def _secret_keys(names: Iterable[str]) -> set[str]:
    keys: set[str] = set()
    for name in names:
        base = str(name).lstrip("-")
        keys.update({base, base.replace("-", "_"), base.replace("_", "-")})
    return keys


def redact(value: Any, secret_names: Iterable[str]) -> Any:
    """Return *value* with every secret input masked.

    Dict entries whose key names a secret input are masked wherever they
    appear; in argv-like lists, ``--name value`` and ``--name=value`` are
    masked too.
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
        out: list[Any] = []
        mask_next = False
        for item in value:
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
    return value


def _shallow(record: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A record's fields as a dict without deep-copying nested values (``asdict`` is slow)."""
    names = _FIELD_NAMES.get(type(record))
    if names is None:
        names = _FIELD_NAMES[type(record)] = tuple(f.name for f in dataclasses.fields(record))
    return {name: getattr(record, name) for name in names if name not in skip}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def run_view(run: Any, *, full: bool = True) -> dict[str, Any]:
    """Return a run as JSON-ready dict; ``full=False`` drops the plan and invocation."""
    data = _shallow(run, () if full else _HEAVY_RUN_FIELDS)
    secrets = list(getattr(run, "secret_args", None) or [])
    if secrets:
        for name in ("args", "invocation", "plan"):
            if name in data:
                data[name] = redact(data[name], secrets)
    data["terminal"] = bool(getattr(run, "terminal", False))
    data["duration_s"] = _duration(data.get("started_at") or data.get("created_at"),
                                   data.get("finished_at"))
    return data


def node_view(node: Any, steps: list[Any] | None = None) -> dict[str, Any]:
    """Return a node as a JSON-ready dict, with its step rows when given."""
    data = _shallow(node)
    data["duration_s"] = _duration(data.get("started_at"), data.get("finished_at"))
    if steps is not None:
        data["steps"] = [step_view(s) for s in steps]
    return data


def step_view(step: Any) -> dict[str, Any]:
    """Return a step as a JSON-ready dict."""
    data = _shallow(step)
    data["duration_s"] = _duration(data.get("started_at"), data.get("finished_at"))
    return data


def event_view(event: Any) -> dict[str, Any]:
    """Return an event as the dict the events endpoints and streams carry."""
    return {
        "run_id": event.run_id,
        "seq": event.seq,
        "node_id": event.node_id,
        "kind": event.kind,
        "ts": event.ts,
        "payload": event.payload,
    }


def approval_view(approval: Any, run: Any = None) -> dict[str, Any]:
    """An approval as JSON: its fields, ``pending``, and the run's pipeline and status if given."""
    data = _shallow(approval)
    data["pending"] = not approval.resolution
    if run is not None:
        data["pipeline"] = run.pipeline
        data["run_status"] = run.status
    return data


def pause_view(pause: Any) -> dict[str, Any]:
    """A debug pause as JSON: its fields and ``held`` (not yet released)."""
    data = _shallow(pause)
    data["held"] = pause.released_at is None
    return data


def _duration(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, end - start), 3)

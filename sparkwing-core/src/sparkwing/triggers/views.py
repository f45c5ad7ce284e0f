"""JSON views of trigger rows and sources, shared by ``sparkwing triggers`` and servers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..plugins.registry import Registry
    from ..storage.records import TriggerRow


def trigger_view(row: TriggerRow) -> dict[str, Any]:
    """A trigger row as JSON: every field, plus the request's ``trigger`` metadata on top."""
    d = row.to_dict()
    meta = (row.request or {}).get("trigger") or {}
    d["actor"] = str(meta.get("actor") or "")
    d["event"] = str(meta.get("event") or "")
    d["delivery_id"] = str(meta.get("delivery_id") or "")
    return d


def source_views(registry: Registry) -> list[dict[str, Any]]:
    """The registered trigger sources: ``{name, provider, description}``, by name."""
    out = []
    for name in registry.types("trigger"):
        backend = registry.get("trigger", name)
        out.append({"name": name, "provider": backend.provider,
                    "description": backend.description})
    return out

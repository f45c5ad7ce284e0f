"""Replaying the whole outbox of a home: what ``sparkwing outbox flush`` does.

Each target in the outbox names the profile and surface its writes were
meant for. :func:`flush_outbox` resolves that profile again (from the
project directory the writes were made in, when it still is one), checks
that the surface's settings are the ones the writes were queued under
(same fingerprint), opens the store through the backend registry (which
replays the target's entries) and reports what is left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import SparkwingError
from .outbox import Outbox, Target, outbox_for


def _open_target(target: Target, home: Path) -> Any:
    from ...config import find_project, load_project, resolve_profile
    from ...plugins.manager import get_host
    from ...plugins.registry import BackendContext
    from .register import target_id

    project = None
    where = Path(target.project)
    if target.project and where.is_dir() and find_project(where) is not None:
        try:
            project = load_project(where)
        except SparkwingError:
            project = None
    resolved = resolve_profile(flag=target.profile, pipeline=None, project=project)
    block = resolved.blocks[target.surface]
    if str(block.get("type")) != target.type or (
        target_id(target.surface, target.type, block) != target.id
    ):
        raise SparkwingError(
            f'profile "{target.profile}": {target.surface}: its settings changed since these '
            "writes were queued; restore them to flush, or delete the outbox entries"
        )
    context = BackendContext(home=home, profile=target.profile)
    return get_host().registry.create(target.surface, block, context,
                                      where=resolved.profile.where(target.surface))


def flush_outbox(home: Path, *, retry_failed: bool = False) -> list[dict[str, Any]]:
    """Replay every target's entries; return one result per target.

    A result is the target's summary plus ``replayed`` (entries sent now),
    ``remaining`` (still waiting: the store is unreachable), ``failed``
    (kept aside after a non-network error) and ``error`` (why a target
    could not be flushed, one line).
    """
    box: Outbox = outbox_for(home)
    results: list[dict[str, Any]] = []
    for target in box.targets():
        if retry_failed:
            box.retry_failed(target.id)
        before = box.pending(target.id)
        failed_before = _failed(box, target.id)
        error = ""
        store: Any = None
        try:
            store = _open_target(target, home)
            link = getattr(store, "link", None)
            if link is not None and box.pending(target.id):
                result = link.drain()
                if result.error:
                    error = result.error
                elif result.busy:
                    error = "another process is replaying the outbox; try again"
        except SparkwingError as exc:
            error = " ".join(str(exc).split())
        finally:
            if store is not None:
                try:
                    store.close()
                except SparkwingError:
                    pass
        summary = next((s for s in box.summary() if s["target"] == target.id), None)
        remaining = summary["pending"] if summary else 0
        failed = summary["failed"] if summary else 0
        results.append({
            "target": target.id, "profile": target.profile, "surface": target.surface,
            "type": target.type,
            "replayed": max(0, before - remaining - (failed - failed_before)),
            "remaining": remaining, "failed": failed,
            "error": error or (summary["last_error"] if summary and remaining else ""),
        })
    return results


def _failed(box: Outbox, target: str) -> int:
    summary = next((s for s in box.summary() if s["target"] == target), None)
    return int(summary["failed"]) if summary else 0

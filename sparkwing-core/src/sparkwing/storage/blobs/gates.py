"""Approvals and debug pauses on a blob store: one compare-and-swapped object each.

Keys (``<run>`` and ``<node>`` escaped into one segment each)::

    approvals/<run>/<node>.json          {"approval": {...}, "host": "<creator host>"}
    approvals-pending/<run>/<node>       marker while the approval is unresolved
    pauses/<run>/<node>.json             {"pause": {...}, "host": ...}
    pauses-held/<run>/<node>             marker while the pause is held

Resolving an approval or releasing a pause is a compare-and-swap, so of an
approver on one machine and the run's own timeout on another exactly one
wins. The markers let ``approvals list`` and the dashboard find what is
pending without reading every approval ever made; a marker left behind by
a crash is removed by the next listing that finds its gate settled.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, Final

from ..records import Approval, Pause
from .cas import KEEP, cas_update, dumps, loads
from .contracts import BlobInfo, BlobStore, PreconditionFailed
from .keys import segment
from .pool import PoolGetter, parallel_map

#: Resolutions an approval accepts.
RESOLUTIONS: Final = frozenset({"approved", "denied", "timed_out"})

#: Seconds after which a marker whose gate does not exist is removed by a listing.
ORPHAN_AFTER_S: Final = 300.0

#: ``guard(feature, creator_host)`` raises when this process may not settle the gate.
Guard = Callable[[str, str], None]


class _Kind:
    """Names of one gate kind: object prefix, marker prefix, document field, record type."""

    def __init__(self, prefix: str, marker: str, field: str, record: type) -> None:
        self.prefix = prefix
        self.marker = marker
        self.field = field
        self.record = record

    def key(self, run_id: str, node_id: str) -> str:
        return f"{self.prefix}/{segment(run_id)}/{segment(node_id)}.json"

    def marker_key(self, run_id: str, node_id: str) -> str:
        return f"{self.marker}/{segment(run_id)}/{segment(node_id)}"


APPROVALS: Final = _Kind("approvals", "approvals-pending", "approval", Approval)
PAUSES: Final = _Kind("pauses", "pauses-held", "pause", Pause)


class GateBook:
    """Approvals and pauses over one blob store."""

    def __init__(self, blobs: BlobStore, pool: PoolGetter, guard: Guard,
                 host: str = "") -> None:
        self.blobs = blobs
        self._pool = pool
        self._guard = guard
        self._host = host or socket.gethostname()

    # -- approvals ---------------------------------------------------------------------
    def create_approval(self, approval: Approval) -> None:
        """Record an approval request; a second request for the same node changes nothing."""
        self.blobs.put(APPROVALS.marker_key(approval.run_id, approval.node_id),
                       dumps({"run_id": approval.run_id, "node_id": approval.node_id}))
        doc = {"approval": approval.to_dict(), "host": self._host}
        try:
            self.blobs.put(APPROVALS.key(approval.run_id, approval.node_id), dumps(doc),
                           if_none_match="*", content_type="application/json")
        except PreconditionFailed:
            pass

    def get_approval(self, run_id: str, node_id: str) -> Approval | None:
        """The approval or ``None``."""
        doc = self._get(APPROVALS.key(run_id, node_id))
        return None if doc is None else Approval(**doc["approval"])

    def resolve_approval(self, run_id: str, node_id: str, resolution: str, approver: str,
                         comment: str, now: float) -> bool:
        """Resolve a pending approval once; ``False`` if missing or already resolved."""
        if resolution not in RESOLUTIONS:
            raise ValueError(
                f"approval resolution must be one of {sorted(RESOLUTIONS)}, got {resolution!r}"
            )
        won: list[bool] = []

        def mutate(doc: Any) -> Any:
            won.clear()
            if doc is None or doc["approval"]["resolution"]:
                return KEEP
            self._guard("approving a run from another machine", str(doc.get("host", "")))
            won.append(True)
            return {**doc, "approval": {**doc["approval"], "resolution": resolution,
                                        "approver": approver, "comment": comment,
                                        "resolved_at": now}}

        cas_update(self.blobs, APPROVALS.key(run_id, node_id), mutate)
        if won:
            self.blobs.delete(APPROVALS.marker_key(run_id, node_id))
        return bool(won)

    def list_approvals(self, run_id: str | None, pending_only: bool) -> list[Approval]:
        """Approvals (oldest request first), optionally of one run / only pending ones."""
        found = [Approval(**d["approval"]) for d in self._docs(APPROVALS, run_id, pending_only)]
        if pending_only:
            found = [a for a in found if not a.resolution]
        found.sort(key=lambda a: (a.requested_at, a.run_id, a.node_id))
        return found

    # -- pauses -------------------------------------------------------------------------
    def create_pause(self, pause: Pause) -> None:
        """Record a pause, replacing an earlier one for the same node."""
        self.blobs.put(PAUSES.marker_key(pause.run_id, pause.node_id),
                       dumps({"run_id": pause.run_id, "node_id": pause.node_id}))
        self.blobs.put(PAUSES.key(pause.run_id, pause.node_id),
                       dumps({"pause": pause.to_dict(), "host": self._host}),
                       content_type="application/json")

    def get_pause(self, run_id: str, node_id: str) -> Pause | None:
        """The node's pause or ``None``."""
        doc = self._get(PAUSES.key(run_id, node_id))
        return None if doc is None else Pause(**doc["pause"])

    def release_pause(self, run_id: str, node_id: str, by: str, kind: str, now: float) -> bool:
        """Release a held pause once; ``False`` if missing or already released."""
        won: list[bool] = []

        def mutate(doc: Any) -> Any:
            won.clear()
            if doc is None or doc["pause"]["released_at"] is not None:
                return KEEP
            self._guard("releasing a debug pause from another machine",
                        str(doc.get("host", "")))
            won.append(True)
            return {**doc, "pause": {**doc["pause"], "released_at": now, "released_by": by,
                                     "release_kind": kind}}

        cas_update(self.blobs, PAUSES.key(run_id, node_id), mutate)
        if won:
            self.blobs.delete(PAUSES.marker_key(run_id, node_id))
        return bool(won)

    def list_pauses(self, run_id: str | None, held_only: bool) -> list[Pause]:
        """Pauses (oldest first), optionally of one run / only those still held."""
        found = [Pause(**d["pause"]) for d in self._docs(PAUSES, run_id, held_only)]
        if held_only:
            found = [p for p in found if p.released_at is None]
        found.sort(key=lambda p: (p.paused_at, p.run_id, p.node_id))
        return found

    # -- both ---------------------------------------------------------------------------
    def delete_run(self, run_id: str) -> None:
        """Delete every approval, pause and marker of *run_id*."""
        keys: list[str] = []
        for kind in (APPROVALS, PAUSES):
            for prefix in (kind.prefix, kind.marker):
                keys.extend(i.key for i in self._list(f"{prefix}/{segment(run_id)}/"))
        self._map(self.blobs.delete, keys)

    def _get(self, key: str) -> Any:
        blob = self.blobs.get(key)
        return None if blob is None else loads(blob.data, key)

    def _docs(self, kind: _Kind, run_id: str | None, open_only: bool) -> list[Any]:
        scope = f"{segment(run_id)}/" if run_id is not None else ""
        if not open_only:
            return [d for d in self._map(self._get, [i.key for i in
                                                     self._list(f"{kind.prefix}/{scope}")])
                    if d is not None]
        markers = self._list(f"{kind.marker}/{scope}")
        keys = [kind.prefix + m.key[len(kind.marker):] + ".json" for m in markers]
        docs = self._map(self._get, keys)
        out: list[Any] = []
        now = time.time()
        for marker, doc in zip(markers, docs, strict=True):
            if doc is None:
                # Markers are written before their gate: only an old one is an orphan.
                if marker.updated and now - marker.updated > ORPHAN_AFTER_S:
                    self.blobs.delete(marker.key)
                continue
            settled = (doc[kind.field]["resolution"] if kind is APPROVALS
                       else doc[kind.field]["released_at"] is not None)
            if settled:
                self.blobs.delete(marker.key)  # left by a crash between settling and unmarking
            else:
                out.append(doc)
        return out

    def _list(self, prefix: str) -> list[BlobInfo]:
        out: list[BlobInfo] = []
        token = ""
        while True:
            page = self.blobs.list_page(prefix, page_token=token)
            out.extend(page.items)
            token = page.next_token
            if not token:
                return out

    def _map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return parallel_map(self._pool, fn, items)

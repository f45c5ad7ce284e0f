"""Trigger rows on a blob store: one object per row, a pointer per idempotency key.

Keys (``<id>`` escaped into one segment)::

    triggers/keys/<sha256 of the key>.json     {"id", "key"}: who owns the key
    triggers/rows/<id>.json                    {"row": {...}}: the row
    triggers/pending/<created_at>~<id>         marker while the row is pending
    triggers/claimed/<id>                      marker while the row is claimed
    triggers/requests/<sha256 of the id>.json  {"id"}: the row a claim request id claimed

Inserting creates the key's pointer create-only, so of several processes
inserting one key exactly one wins; the loser reads the winner's row.
Claiming, renewing, finishing and requeueing are compare-and-swaps on the
row. The markers let a claimer find the oldest pending row and the reaper
the claimed ones without reading every row; a marker whose row says
otherwise is removed by whoever finds it. A claim made with a request id
records it in the row and points the id at the row, so a repeat of the id
finds its claim; the row is what counts (a requeue clears its id). Unlike
the SQL stores' unique index, this does not stop a repeat that races its
own first try from another process from claiming a second row.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from ...errors import StoreError
from ..records import TriggerRow
from .cas import KEEP, cas_update, dumps, loads
from .contracts import BlobInfo, BlobStore, PreconditionFailed
from .keys import segment, unsegment
from .pool import PoolGetter, parallel_map

#: Statuses a finished row may take.
FINISHED: Final = frozenset({"done", "failed"})
#: How long an insert waits for the row of a key another process just took.
WAIT_FOR_ROW_S: Final = 10.0


def key_pointer(idempotency_key: str) -> str:
    """The pointer object of an idempotency key."""
    return f"triggers/keys/{hashlib.sha256(idempotency_key.encode('utf-8')).hexdigest()}.json"


def row_key(trigger_id: str) -> str:
    """The object holding a trigger row."""
    return f"triggers/rows/{segment(trigger_id)}.json"


def pending_marker(row: TriggerRow) -> str:
    """The pending marker of a row (sorts by creation time)."""
    return f"triggers/pending/{row.created_at:020.6f}~{segment(row.id)}"


def claimed_marker(trigger_id: str) -> str:
    """The claimed marker of a row."""
    return f"triggers/claimed/{segment(trigger_id)}"


def request_pointer(request_id: str) -> str:
    """The object naming the row a claim request id claimed."""
    return f"triggers/requests/{hashlib.sha256(request_id.encode('utf-8')).hexdigest()}.json"


class TriggerBook:
    """Trigger rows over one blob store."""

    def __init__(self, blobs: BlobStore, pool: PoolGetter,
                 guard: Callable[[str], None]) -> None:
        self.blobs = blobs
        self._pool = pool
        self._guard = guard

    # -- reading ---------------------------------------------------------------------
    def get(self, trigger_id: str) -> TriggerRow | None:
        """The row or ``None``."""
        blob = self.blobs.get(row_key(trigger_id))
        return None if blob is None else TriggerRow(**loads(blob.data)["row"])

    def _list(self, prefix: str) -> list[BlobInfo]:
        out: list[BlobInfo] = []
        token = ""
        while True:
            page = self.blobs.list_page(prefix, page_token=token)
            out.extend(page.items)
            token = page.next_token
            if not token:
                return out

    def list_rows(self, *, pipeline: str = "", status: str = "", source: str = "",
             limit: int = 20) -> list[TriggerRow]:
        """Rows newest first (created_at, then id, descending), filtered, at most *limit*."""
        infos = self._list("triggers/rows/")
        rows = [r for r in parallel_map(self._pool, lambda i: self.get_at(i.key), infos)
                if r is not None]
        rows = [r for r in rows if (not pipeline or r.pipeline == pipeline)
                and (not status or r.status == status) and (not source or r.source == source)]
        rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return rows[:limit] if limit > 0 else rows

    def get_at(self, key: str) -> TriggerRow | None:
        """The row stored at *key*, or ``None``."""
        blob = self.blobs.get(key)
        return None if blob is None else TriggerRow(**loads(blob.data, key)["row"])

    # -- inserting ------------------------------------------------------------------------
    def insert(self, row: TriggerRow, *, exists_check: bool = False) -> tuple[TriggerRow, bool]:
        """Record *row* unless its key exists (see the contract).

        *exists_check* looks for the key first (for a store that ignores
        create-only writes: narrows, does not close, the race).
        """
        pointer = key_pointer(row.idempotency_key)
        if exists_check and self.blobs.head(pointer) is not None:
            return self._existing(pointer, row), False
        try:
            self.blobs.put(pointer, dumps({"id": row.id, "key": row.idempotency_key}),
                           if_none_match="*", content_type="application/json")
        except PreconditionFailed:
            return self._existing(pointer, row), False
        self._mark(row)
        try:
            self.blobs.put(row_key(row.id), dumps({"row": row.to_dict()}), if_none_match="*",
                           content_type="application/json")
        except PreconditionFailed:
            existing = self.get(row.id)
            if existing is not None and existing.idempotency_key == row.idempotency_key:
                return existing, False  # a replay of an insert that landed
            self.blobs.delete(pointer)
            raise StoreError(
                f"trigger {row.id} already exists under another idempotency key"
            ) from None
        return row, True

    def _existing(self, pointer: str, row: TriggerRow) -> TriggerRow:
        deadline = time.monotonic() + WAIT_FOR_ROW_S
        while True:
            blob = self.blobs.get(pointer)
            owner = str(loads(blob.data, pointer)["id"]) if blob is not None else ""
            if owner == row.id:  # our own earlier insert (a replay)
                found = self.get(row.id)
                if found is not None:
                    return found
            elif owner:
                found = self.get(owner)
                if found is not None:
                    return found
            if time.monotonic() > deadline:
                raise StoreError(f"trigger key {row.idempotency_key!r} is taken by row "
                                 f"{owner or '?'}, which was never written")
            time.sleep(0.05)

    def _mark(self, row: TriggerRow) -> None:
        if row.status == "pending":
            self.blobs.put(pending_marker(row), dumps({"id": row.id}))
        elif row.status == "claimed":
            self.blobs.put(claimed_marker(row.id), dumps({"id": row.id}))

    # -- claiming ----------------------------------------------------------------------
    def claim(self, holder: str, *, lease_s: float, now: float, trigger_id: str = "",
              pipelines: Sequence[str] = (), sources: Sequence[str] = (),
              request_id: str = "") -> TriggerRow | None:
        """Claim the oldest pending row (or *trigger_id*) for *holder*.

        Non-empty *pipelines* / *sources* restrict the candidates. A
        *request_id* whose row still carries it answers that row while
        *holder* holds it, else ``None``.
        """
        self._guard("claiming queued run requests (triggers) from several machines")
        if request_id:
            earlier = self._claimed_under(request_id)
            if earlier is not None:
                mine = earlier.status == "claimed" and earlier.claimed_by == holder
                return earlier if mine else None
        got = self._claim_any(holder, lease_s, now, trigger_id, pipelines, sources, request_id)
        if got is not None and request_id:
            self.blobs.put(request_pointer(request_id), dumps({"id": got.id}),
                           content_type="application/json")
        return got

    def _claimed_under(self, request_id: str) -> TriggerRow | None:
        """The row *request_id* claimed, while the row still carries the id."""
        pointer = self.blobs.get(request_pointer(request_id))
        if pointer is None:
            return None
        row = self.get(str(loads(pointer.data)["id"]))
        return row if row is not None and row.claim_request == request_id else None

    def _claim_any(self, holder: str, lease_s: float, now: float, trigger_id: str,
                   pipelines: Sequence[str], sources: Sequence[str],
                   request_id: str) -> TriggerRow | None:
        wanted = (tuple(pipelines), tuple(sources))
        if trigger_id:
            return self._claim_one(trigger_id, holder, lease_s, now, wanted=wanted,
                                   request_id=request_id)
        candidates: list[tuple[float, str, str]] = []
        for info in self._list("triggers/pending/"):
            name = info.key[len("triggers/pending/"):]
            stamp, _, seg = name.partition("~")
            trigger_id = unsegment(seg) or ""
            try:
                candidates.append((float(stamp), trigger_id, info.key))
            except ValueError:
                continue
        for _, trigger_id, marker in sorted(candidates):
            if not trigger_id:
                continue
            got = self._claim_one(trigger_id, holder, lease_s, now, marker, wanted, request_id)
            if got is not None:
                return got
        return None

    def _claim_one(self, trigger_id: str, holder: str, lease_s: float, now: float,
                   marker: str = "",
                   wanted: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
                   request_id: str = "") -> TriggerRow | None:
        won: list[TriggerRow] = []
        settled: list[bool] = []
        pipelines, sources = wanted

        def mutate(doc: Any) -> Any:
            won.clear()
            settled.clear()
            if doc is None:
                return KEEP  # being inserted (its marker comes first): leave the marker
            if doc["row"]["status"] != "pending":
                settled.append(True)
                return KEEP
            if (pipelines and doc["row"]["pipeline"] not in pipelines) or (
                    sources and doc["row"]["source"] not in sources):
                return KEEP  # not this claimer's kind of work: it stays queued
            row = TriggerRow(**doc["row"])
            row.status, row.claimed_by, row.claimed_at = "claimed", holder, now
            row.lease_expires_at, row.claims = now + lease_s, row.claims + 1
            row.claim_request = request_id or None
            won.append(row)
            return {**doc, "row": row.to_dict()}

        cas_update(self.blobs, row_key(trigger_id), mutate)
        if won:
            self.blobs.put(claimed_marker(trigger_id), dumps({"id": trigger_id}))
        if marker and (won or settled):
            self.blobs.delete(marker)
        return won[0] if won else None

    def renew(self, trigger_id: str, holder: str, lease_expires_at: float,
              claims: int = 0) -> bool:
        """Move the lease of *holder*'s claim; ``False`` when it is not (any more) theirs."""
        return self._update_claimed(trigger_id, holder, {"lease_expires_at": lease_expires_at},
                                    claims)

    def finish(self, trigger_id: str, holder: str, *, status: str, now: float,
               run_id: str = "", error: str = "", claims: int = 0) -> bool:
        """End *holder*'s claim with ``done`` or ``failed``."""
        if status not in FINISHED:
            raise ValueError(f"trigger status must be done or failed, got {status!r}")
        changes = {"status": status, "finished_at": now, "claimed_by": "",
                   "lease_expires_at": None, "run_id": run_id, "error": error}
        done = self._update_claimed(trigger_id, holder, changes, claims)
        if done:
            self.blobs.delete(claimed_marker(trigger_id))
        return done

    def _update_claimed(self, trigger_id: str, holder: str, changes: dict[str, Any],
                        claims: int = 0) -> bool:
        ok: list[bool] = []

        def mutate(doc: Any) -> Any:
            ok.clear()
            if doc is None:
                return KEEP
            row = doc["row"]
            if row["status"] != "claimed" or row["claimed_by"] != holder:
                return KEEP
            if claims and row.get("claims") != claims:
                return KEEP
            ok.append(True)
            return {**doc, "row": {**row, **changes}}

        cas_update(self.blobs, row_key(trigger_id), mutate)
        return bool(ok)

    def requeue_expired(self, now: float) -> list[str]:
        """Put claimed rows whose lease expired back to pending; return their ids, oldest first."""
        requeued: list[TriggerRow] = []
        for info in self._list("triggers/claimed/"):
            trigger_id = unsegment(info.key[len("triggers/claimed/"):])
            if not trigger_id:
                continue
            back: list[TriggerRow] = []
            gone: list[bool] = []

            def mutate(doc: Any, back: list[TriggerRow] = back, gone: list[bool] = gone) -> Any:
                back.clear()
                gone.clear()
                if doc is None:
                    return KEEP  # being inserted: leave the marker
                if doc["row"]["status"] != "claimed":
                    gone.append(True)
                    return KEEP
                row = TriggerRow(**doc["row"])
                if row.lease_expires_at is None or row.lease_expires_at > now:
                    return KEEP
                row.status, row.claimed_by, row.lease_expires_at = "pending", "", None
                row.claim_request = None
                back.append(row)
                return {**doc, "row": row.to_dict()}

            cas_update(self.blobs, row_key(trigger_id), mutate)
            if back:
                self._mark(back[0])
                requeued.append(back[0])
            if back or gone:
                self.blobs.delete(info.key)
        requeued.sort(key=lambda r: (r.created_at, r.id))
        return [r.id for r in requeued]

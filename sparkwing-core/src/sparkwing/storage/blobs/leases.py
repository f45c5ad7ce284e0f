"""Concurrency keys on a blob store: one compare-and-swapped object per key.

``conc/<sha256(key)>.json`` holds the key's live holders and waiters::

    {"key": "g:deploy", "ticket": 7,
     "holders": [{holder_id, run_id, node_id, cost, capacity, arrived_at,
                  claimed_at, lease_expires_at}, ...],
     "waiters": [{... the same, plus "ticket"}, ...]}

:meth:`LeaseBook.acquire` is the same decision the SQLite store makes in
one transaction (reap expired leases, re-grant a holder, grant when the
cost fits and no older waiter that would fit is queued, else queue keeping
the first arrival time), done as one read-modify-write with ``if_match``
and retried on a lost race. A repeated call by a waiter or holder whose
lease would move by less than :func:`renew_step` and that changes nothing
else writes nothing, so pollers do not rewrite the object (GCS takes about
one write per second per object).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Final

from ..records import AcquireResult, Lease
from .cas import DELETE, KEEP, cas_update, read_json
from .contracts import BlobStore

#: Lease fields kept per holder or waiter (plus ``ticket`` for waiters).
_FIELDS: Final = ("holder_id", "run_id", "node_id", "cost", "capacity", "arrived_at",
                  "claimed_at", "lease_expires_at")


def conc_key(key: str) -> str:
    """The object holding concurrency key *key*."""
    return f"conc/{hashlib.sha256(key.encode('utf-8')).hexdigest()}.json"


def renew_step(lease_s: float) -> float:
    """Smallest lease extension worth a write: 1/50 of the lease, at most one second."""
    return min(1.0, max(lease_s, 0.0) / 50)


def _lease(key: str, raw: dict[str, Any]) -> Lease:
    return Lease(key=key, **{k: raw.get(k) for k in _FIELDS})  # type: ignore[arg-type]


class LeaseBook:
    """Concurrency keys over one blob store; remembers which keys each holder touched.

    :meth:`renew` extends the leases of a holder on the keys this object
    acquired them on (a run renews its own leases from its own process).
    """

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self._keys_of: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def _note(self, holder_id: str, key: str) -> None:
        with self._lock:
            self._keys_of.setdefault(holder_id, set()).add(key)

    def acquire(
        self, key: str, holder_id: str, *, capacity: int, cost: int, lease_s: float,
        now: float, run_id: str = "", node_id: str = "",
    ) -> AcquireResult:
        """Take *cost* units of *key* for *holder_id* or queue it (see the module docstring)."""
        expires = now + lease_s
        step = renew_step(lease_s)
        result: list[AcquireResult] = []

        def mutate(doc: Any) -> Any:
            result.clear()
            old = doc or {"key": key, "ticket": 0, "holders": [], "waiters": []}
            holders = [h for h in old["holders"] if h["lease_expires_at"] > now]
            waiters = [w for w in old["waiters"] if w["lease_expires_at"] > now]
            reaped = len(holders) != len(old["holders"]) or len(waiters) != len(old["waiters"])
            holders.sort(key=lambda h: (h["claimed_at"] or 0, h["arrived_at"], h["holder_id"]))
            waiters.sort(key=lambda w: (w["arrived_at"], w["ticket"]))
            ids = [h["holder_id"] for h in holders]
            active = sum(h["cost"] for h in holders)
            new = {"key": key, "ticket": old["ticket"], "holders": holders, "waiters": waiters}
            mine = next((h for h in holders if h["holder_id"] == holder_id), None)
            if mine is not None:
                result.append(AcquireResult(True, active, 0, ids))
                if expires - mine["lease_expires_at"] < step and not reaped:
                    return KEEP
                mine = dict(mine, lease_expires_at=expires)
                new["holders"] = [mine if h["holder_id"] == holder_id else h for h in holders]
                return new
            waiting = next((w for w in waiters if w["holder_id"] == holder_id), None)
            if waiting is None:
                arrived, ticket = now, old["ticket"] + 1
                new["ticket"] = ticket
            else:
                arrived, ticket = waiting["arrived_at"], waiting["ticket"]
            older = [w for w in waiters if w["holder_id"] != holder_id
                     and (w["arrived_at"], w["ticket"]) < (arrived, ticket)]
            fits = active + cost <= capacity
            blocked = any(active + w["cost"] <= capacity for w in older)
            entry = {"holder_id": holder_id, "run_id": run_id, "node_id": node_id, "cost": cost,
                     "capacity": capacity, "arrived_at": arrived}
            if fits and not blocked:
                new["waiters"] = [w for w in waiters if w["holder_id"] != holder_id]
                new["holders"] = [*holders, dict(entry, claimed_at=now, lease_expires_at=expires)]
                result.append(AcquireResult(True, active + cost, 0, [*ids, holder_id]))
                return new
            result.append(AcquireResult(False, active, len(older), ids))
            queued = dict(entry, claimed_at=None, lease_expires_at=expires, ticket=ticket)
            if waiting is not None:
                unchanged = all(waiting.get(k) == queued[k] for k in queued
                                if k != "lease_expires_at")
                if unchanged and expires - waiting["lease_expires_at"] < step and not reaped:
                    return KEEP
                new["waiters"] = [queued if w["holder_id"] == holder_id else w for w in waiters]
            else:
                new["waiters"] = [*waiters, queued]
            return new

        self._note(holder_id, key)
        cas_update(self.blobs, conc_key(key), mutate)
        return result[0]

    def renew(self, holder_id: str, lease_expires_at: float) -> None:
        """Move *holder_id*'s leases (held or waiting) to *lease_expires_at*."""
        with self._lock:
            keys = sorted(self._keys_of.get(holder_id, ()))
        for key in keys:
            if not self._renew_one(key, holder_id, lease_expires_at):
                with self._lock:
                    self._keys_of.get(holder_id, set()).discard(key)

    def _renew_one(self, key: str, holder_id: str, lease_expires_at: float) -> bool:
        """Renew on one key; ``False`` when the holder is no longer on it."""
        found: list[bool] = []

        def mutate(doc: Any) -> Any:
            found.clear()
            if doc is None:
                return KEEP
            changed = False
            new = dict(doc)
            for part in ("holders", "waiters"):
                rows = []
                for row in doc[part]:
                    if row["holder_id"] == holder_id:
                        found.append(True)
                        if row["lease_expires_at"] != lease_expires_at:
                            row = dict(row, lease_expires_at=lease_expires_at)
                            changed = True
                    rows.append(row)
                new[part] = rows
            return new if changed else KEEP

        cas_update(self.blobs, conc_key(key), mutate)
        return bool(found)

    def release(self, key: str, holder_id: str) -> None:
        """Drop *holder_id*'s hold or wait on *key*; the object goes when nobody is left."""

        def mutate(doc: Any) -> Any:
            if doc is None:
                return KEEP
            holders = [h for h in doc["holders"] if h["holder_id"] != holder_id]
            waiters = [w for w in doc["waiters"] if w["holder_id"] != holder_id]
            if len(holders) == len(doc["holders"]) and len(waiters) == len(doc["waiters"]):
                return KEEP
            if not holders and not waiters:
                return DELETE
            return {**doc, "holders": holders, "waiters": waiters}

        cas_update(self.blobs, conc_key(key), mutate)
        with self._lock:
            self._keys_of.get(holder_id, set()).discard(key)

    def state(self, key: str, now: float) -> tuple[list[Lease], list[Lease]]:
        """``(holders, waiters)`` of *key*, unexpired, oldest first."""
        found = read_json(self.blobs, conc_key(key))
        if found is None:
            return [], []
        doc = found[0]
        holders = sorted((h for h in doc["holders"] if h["lease_expires_at"] > now),
                         key=lambda h: (h["claimed_at"] or 0, h["arrived_at"], h["holder_id"]))
        waiters = sorted((w for w in doc["waiters"] if w["lease_expires_at"] > now),
                         key=lambda w: (w["arrived_at"], w["ticket"]))
        return [_lease(key, h) for h in holders], [_lease(key, w) for w in waiters]

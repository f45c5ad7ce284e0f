"""``sparkwing profile --check``: a round trip to each store a profile points at.

Opening the stores already finds bad configuration (a missing bucket, a
refused password, an unknown key). The check then proves each surface
answers: it reads through the store's own contract (a run that does not
exist, a log stream that does not exist, an artifact that does not exist)
and, for stores kept in an object store, writes, reads back and deletes one
small object below the store's prefix. Each surface gets one line, so a
profile with one broken surface still shows what works.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from .resolve import Stores

#: The surfaces of a profile, in the order they are checked and shown.
SURFACES = ("state", "logs", "cache")


@dataclass(frozen=True, slots=True)
class SurfaceCheck:
    """How one surface answered."""

    #: ``state``, ``logs`` or ``cache``.
    surface: str
    #: The store's type (``sqlite``, ``s3``, ...).
    type: str
    #: ``True`` when every step of the round trip worked.
    ok: bool
    #: What was done (``read``, ``read, write, read back, delete``).
    steps: str
    #: Milliseconds the round trip took.
    ms: float
    #: The one-line problem, naming the profile and surface; ``""`` when ok.
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``profile --check -o json``)."""
        return {"surface": self.surface, "type": self.type, "ok": self.ok, "steps": self.steps,
                "ms": round(self.ms, 1), "error": self.error}


def _read(surface: str, store: Any, missing: str) -> None:
    """One read through the surface's contract, of something that does not exist."""
    if surface == "state":
        store.get_run(missing)
    elif surface == "logs":
        store.streams(missing)
    else:
        store.exists(missing)


def _blob_round_trip(blobs: Any, key: str) -> None:
    """Write, read back and delete one object; raise when any step misbehaves."""
    from ..errors import StoreError

    data = f"sparkwing profile --check {key}\n".encode()
    blobs.put(key, data, content_type="text/plain")
    try:
        got = blobs.get(key)
        if got is None or bytes(got.data) != data:
            raise StoreError("an object written was not read back the same")
    finally:
        blobs.delete(key)


def check_stores(stores: Stores) -> list[SurfaceCheck]:
    """Check each surface of *stores*; never raises for a store's failure."""
    from ..storage.blobs.contracts import BlobStore

    profile = stores.resolved.profile
    results: list[SurfaceCheck] = []
    for surface in SURFACES:
        store = getattr(stores, surface)
        kind = str(stores.resolved.blocks.get(surface, {}).get("type", "?"))
        token = uuid.uuid4().hex[:12]
        blobs = getattr(store, "blobs", None)
        steps = "read" + (", write, read back, delete" if isinstance(blobs, BlobStore) else "")
        started = time.perf_counter()
        try:
            _read(surface, store, f"sparkwing-check-{token}")
            if isinstance(blobs, BlobStore):
                _blob_round_trip(blobs, f"meta/check-{token}")
        except Exception as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            detail = detail.replace(f'profile "{profile.name}": ', "")  # named once, below
            results.append(SurfaceCheck(surface, kind, False, steps,
                                        (time.perf_counter() - started) * 1000,
                                        f"{profile.where(surface)}: {detail}"))
            continue
        results.append(SurfaceCheck(surface, kind, True, steps,
                                    (time.perf_counter() - started) * 1000))
    return results

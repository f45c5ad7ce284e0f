"""Run records (*heads*) and the index that lists them newest first without a full scan.

Keys::

    runs/<bucket>/<run>.json   the run's head: {"v", "inc", "host", "run": {...}}
    buckets/<bucket>           one marker per bucket (created once)
    rollups/<bucket>.json      a cache of the bucket's heads: key -> etag and list fields
    live/<run>                 a marker per pending or running run

A run's *bucket* is the first :data:`BUCKET_CHARS` characters of its id:
``run-YYYYMMDD`` for the ids sparkwing makes, so one bucket per day. A
bucket is a prefix of every id in it, so buckets in descending order hold
runs in descending id order, which is the order ``list_runs`` returns.

Listing reads the bucket markers (one listing), then newest bucket first:
the bucket's heads (a listing gives each head's etag), the bucket's rollup
(one object), and only the heads whose etag the rollup does not know. A
listing that had to read :data:`ROLLUP_REWRITE` or more heads writes the
rollup back (compare-and-swap; losing that race is harmless), so a finished
day costs two requests however many runs it holds. It stops at the bucket
that fills the limit. Only the runs returned are read whole.

Heads are written by compare-and-swap: the run's own process updates it
(status, heartbeat) with the etag it last wrote, and a ``runs cancel`` or
a reaper elsewhere re-reads and re-applies only its own fields when it
loses the race. The ``live/`` markers let the reaper and ``--status
running`` find live runs without reading the index.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ...errors import NotFoundError, StoreError
from ..records import Run, RunFilter
from .cas import KEEP, cas_update, dumps, loads
from .contracts import BlobInfo, BlobStore, PreconditionFailed
from .keys import segment, unsegment
from .pool import PoolGetter, parallel_map

#: Characters of a run id that name its bucket (``run-YYYYMMDD``).
BUCKET_CHARS: Final = 12
#: A listing that read this many heads one by one writes the bucket's rollup back.
ROLLUP_REWRITE: Final = 8
#: Heads kept in memory by etag (a dashboard re-lists often).
HEAD_CACHE: Final = 4096
#: Live run statuses.
LIVE: Final = frozenset({"pending", "running"})
#: Fields a rollup keeps for filtering.
LIST_FIELDS: Final = ("id", "pipeline", "status", "git_branch", "git_sha", "error", "created_at")


def bucket_of(run_id: str) -> str:
    """The bucket holding *run_id* (a prefix of it)."""
    return run_id[:BUCKET_CHARS]


def head_key(run_id: str) -> str:
    """The key of a run's head."""
    return f"runs/{segment(bucket_of(run_id))}/{segment(run_id)}.json"


def live_key(run_id: str) -> str:
    """The key of a run's live marker."""
    return f"live/{segment(run_id)}"


@dataclass(slots=True)
class Head:
    """A run record as stored, with its incarnation and version."""

    run: Run
    inc: str
    info: BlobInfo
    host: str = ""
    #: The document as stored (never modified in place), when it was read or written.
    raw: dict[str, Any] | None = None

    def doc(self) -> dict[str, Any]:
        """The stored JSON document."""
        if self.raw is not None:
            return self.raw
        return {"v": 1, "inc": self.inc, "host": self.host, "run": self.run.to_dict()}


def head_from_doc(doc: dict[str, Any], info: BlobInfo) -> Head:
    """Build a :class:`Head` from a stored document."""
    return Head(Run(**doc["run"]), str(doc["inc"]), info, str(doc.get("host", "")), doc)


def _split(values: Iterable[str]) -> tuple[set[str], set[str]]:
    inc: set[str] = set()
    exc: set[str] = set()
    for v in values:
        if v.startswith("!"):
            if v[1:]:
                exc.add(v[1:])
        elif v:
            inc.add(v)
    return inc, exc


class RunMatcher:
    """A :class:`RunFilter` as a predicate over list fields (a dict with :data:`LIST_FIELDS`)."""

    def __init__(self, flt: RunFilter) -> None:
        self.flt = flt
        self.pipes = _split(flt.pipelines)
        self.stats = _split(flt.statuses)
        self.search = flt.search.lower()

    def __call__(self, f: Mapping[str, Any]) -> bool:
        flt = self.flt
        for (inc, exc), value in ((self.pipes, f["pipeline"]), (self.stats, f["status"])):
            if (inc and value not in inc) or value in exc:
                return False
        if flt.branch and f["git_branch"] != flt.branch:
            return False
        if flt.sha_prefix and not str(f["git_sha"]).startswith(flt.sha_prefix):
            return False
        if flt.since is not None and float(f["created_at"] or 0.0) < flt.since:
            return False
        if flt.before_id and not f["id"] < flt.before_id:
            return False
        if self.search:
            hay = (f["id"], f["pipeline"], f["git_branch"], f["git_sha"], f["error"])
            if not any(self.search in str(h).lower() for h in hay):
                return False
        return True

    def live_only(self) -> bool:
        """Whether only live runs can match (so the live markers are enough)."""
        inc = self.stats[0]
        return bool(inc) and inc <= LIVE


def list_fields(run: Run) -> dict[str, Any]:
    """The fields of *run* a rollup keeps."""
    return {name: getattr(run, name) for name in LIST_FIELDS}


class RunIndex:
    """Run heads, bucket markers, rollups and live markers over one blob store."""

    def __init__(self, blobs: BlobStore, pool: PoolGetter) -> None:
        self.blobs = blobs
        self._pool = pool
        self._buckets: set[str] = set()
        self._heads: OrderedDict[tuple[str, str], Head] = OrderedDict()  # (key, etag) -> head
        self._lock = threading.Lock()

    # -- heads -----------------------------------------------------------------
    def get(self, run_id: str) -> Head | None:
        """Read a run's head (``None`` when the run does not exist)."""
        return self._read(head_key(run_id))

    def _read(self, key: str) -> Head | None:
        blob = self.blobs.get(key)
        if blob is None:
            return None
        head = head_from_doc(loads(blob.data, key), blob.info)
        self._remember(key, head)
        return head

    def _remember(self, key: str, head: Head) -> None:
        with self._lock:
            self._heads[(key, head.info.etag)] = head
            self._heads.move_to_end((key, head.info.etag))
            while len(self._heads) > HEAD_CACHE:
                self._heads.popitem(last=False)

    def _known(self, key: str, etag: str) -> Head | None:
        with self._lock:
            return self._heads.get((key, etag))

    def create(self, head: Head, *, exists_check: bool = False) -> Head:
        """Write a new run's markers and head; :class:`StoreError` when the id is taken."""
        run = head.run
        bucket = bucket_of(run.id)
        if bucket not in self._buckets:
            try:
                self.blobs.put(f"buckets/{segment(bucket)}", dumps({"bucket": bucket}),
                               if_none_match="*")
            except PreconditionFailed:
                pass
            self._buckets.add(bucket)
        key = head_key(run.id)
        if exists_check and self.blobs.head(key) is not None:
            raise StoreError(f"run {run.id} already exists")
        if run.status in LIVE:
            self.mark_live(run.id)
        doc = head.doc()
        try:
            info = self.blobs.put(key, dumps(doc), if_none_match="*",
                                  content_type="application/json")
        except PreconditionFailed:
            raise StoreError(f"run {run.id} already exists") from None
        made = Head(run, head.inc, info, head.host, doc)
        self._remember(key, made)
        return made

    def update(
        self,
        run_id: str,
        changes: Mapping[str, Any] | Callable[[dict[str, Any]], Mapping[str, Any] | None],
        seed: Head | None = None,
    ) -> Head | None:
        """Set fields on the head by compare-and-swap; :class:`NotFoundError` when missing.

        *changes* is a mapping, or a function of the stored run (a dict)
        returning one, or ``None`` to leave the run as it is (then ``None`` is
        returned). *seed* is this process's last copy (its etag saves a read
        when no one else wrote since).
        """
        key = head_key(run_id)
        before: list[str] = []

        def mutate(doc: Any) -> Any:
            if doc is None:
                raise NotFoundError(f"run {run_id} not found")
            wanted = changes(doc["run"]) if callable(changes) else changes
            if wanted is None:
                return KEEP
            before[:] = [doc["run"]["status"]]
            return {**doc, "run": {**doc["run"], **wanted}}

        if not callable(changes) and changes.get("status") in LIVE:
            self.mark_live(run_id)
        current = (seed.doc(), seed.info) if seed is not None else None
        doc, info = cas_update(self.blobs, key, mutate, current=current)
        if not before or info is None:
            return None
        head = head_from_doc(doc, info)
        self._remember(key, head)
        if head.run.status not in LIVE and before[0] in LIVE:
            self.unmark_live(run_id)
        elif head.run.status in LIVE and before[0] not in LIVE and callable(changes):
            self.mark_live(run_id)
        return head

    def delete(self, run_id: str) -> None:
        """Delete the head and the live marker."""
        self.blobs.delete(head_key(run_id))
        self.unmark_live(run_id)

    # -- live markers ---------------------------------------------------------------
    def mark_live(self, run_id: str) -> None:
        """Record *run_id* as live."""
        self.blobs.put(live_key(run_id), dumps({"id": run_id}))

    def unmark_live(self, run_id: str) -> None:
        """Forget *run_id* as live."""
        self.blobs.delete(live_key(run_id))

    def live(self) -> list[Head]:
        """Heads of the runs marked live that really are (stale markers are removed)."""
        keys = [i.key for i in self._list("live/")]
        docs = self._map(self._get_json, keys)
        heads: list[Head] = []
        ids = [str(d["id"]) for d in docs if isinstance(d, dict) and "id" in d]
        for run_id, head in zip(ids, self._map(self.get, ids), strict=True):
            if head is None or head.run.status not in LIVE:
                self.unmark_live(run_id)
            else:
                heads.append(head)
        return heads

    # -- listing ------------------------------------------------------------------
    def list_runs(self, flt: RunFilter) -> list[Run]:
        """Runs matching *flt*, newest first by id, at most ``flt.limit`` (``<= 0``: all)."""
        match = RunMatcher(flt)
        limit = flt.limit if flt.limit > 0 else 0
        if match.live_only():
            heads = [h for h in self.live() if match(list_fields(h.run))]
            heads.sort(key=lambda h: h.run.id, reverse=True)
            return [h.run for h in (heads[:limit] if limit else heads)]
        buckets = sorted(self._bucket_names(), reverse=True)
        chosen: list[tuple[str, str]] = []  # (head key, etag)
        for bucket in buckets:
            if flt.before_id and bucket > flt.before_id:
                continue  # every id in it starts with the bucket: all sort after before_id
            rows = [(f["id"], key, etag) for key, etag, f in self._summaries(bucket) if match(f)]
            rows.sort(reverse=True)
            chosen.extend((key, etag) for _, key, etag in rows)
            if limit and len(chosen) >= limit:
                break
        if limit:
            chosen = chosen[:limit]
        heads = self._map(self._head_at, chosen)
        runs = [h.run for h in heads if h is not None and match(list_fields(h.run))]
        runs.sort(key=lambda r: r.id, reverse=True)
        return runs

    def all_bucket_names(self) -> list[str]:
        """Every bucket that has (or had) runs, oldest first."""
        return sorted(self._bucket_names())

    def _head_at(self, pair: tuple[str, str]) -> Head | None:
        key, etag = pair
        return self._known(key, etag) or self._read(key)

    def _bucket_names(self) -> list[str]:
        out: list[str] = []
        for info in self._list("buckets/"):
            name = unsegment(info.key[len("buckets/"):])
            if name is not None:
                out.append(name)
        with self._lock:
            self._buckets.update(out)
        return out

    def _summaries(self, bucket: str) -> list[tuple[str, str, dict[str, Any]]]:
        """``(head key, etag, list fields)`` of every head in *bucket*, reading few objects."""
        listed = self._list(f"runs/{segment(bucket)}/")
        rollup_key = f"rollups/{segment(bucket)}.json"
        rollup_blob = self.blobs.get(rollup_key)
        entries: dict[str, Any] = {}
        if rollup_blob is not None:
            raw = loads(rollup_blob.data, rollup_key)
            if isinstance(raw, dict):
                entries = dict(raw.get("entries", {}))
        out: list[tuple[str, str, dict[str, Any]]] = []
        missing: list[tuple[str, str]] = []
        stale = 0  # heads the rollup does not describe
        for info in listed:
            known = entries.get(info.key)
            if known is not None and known.get("etag") == info.etag:
                out.append((info.key, info.etag, known["f"]))
                continue
            stale += 1
            head = self._known(info.key, info.etag)
            if head is not None:
                out.append((info.key, info.etag, list_fields(head.run)))
            else:
                missing.append((info.key, info.etag))
        for head in self._map(lambda pair: self._read(pair[0]), missing):
            if head is not None:  # else deleted since the listing
                out.append((head_key(head.run.id), head.info.etag, list_fields(head.run)))
        if stale >= ROLLUP_REWRITE:
            self._write_rollup(rollup_key, rollup_blob.info if rollup_blob else None, out)
        return out

    def _write_rollup(self, key: str, old: BlobInfo | None,
                      rows: list[tuple[str, str, dict[str, Any]]]) -> None:
        doc = {"v": 1, "entries": {k: {"etag": e, "f": f} for k, e, f in rows}}
        try:
            if old is None:
                self.blobs.put(key, dumps(doc), if_none_match="*", content_type="application/json")
            else:
                self.blobs.put(key, dumps(doc), if_match=old.etag,
                               content_type="application/json")
        except (PreconditionFailed, StoreError):
            pass  # only a cache: another lister wrote it, or the store refused; next time

    # -- helpers ------------------------------------------------------------------
    def _list(self, prefix: str) -> list[BlobInfo]:
        out: list[BlobInfo] = []
        token = ""
        while True:
            page = self.blobs.list_page(prefix, page_token=token)
            out.extend(page.items)
            token = page.next_token
            if not token:
                return out

    def _get_json(self, key: str) -> Any:
        blob = self.blobs.get(key)
        return None if blob is None else loads(blob.data, key)

    def _map(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        return parallel_map(self._pool, fn, items)

"""The log store over a blob store: one object per uploaded batch of records.

Keys below the profile's ``prefix`` (``<run>`` and ``<node>`` escaped into
one segment each; the run envelope's stream is ``~envelope``)::

    logs/<run>/<node>/<seq:010d>.ndjson   a part: complete JSON lines
    logs/<run>/~streams/<node>            marker: the stream exists ({"node": id})

A writer buffers records and uploads them as the stream's next part,
created with ``if_none_match="*"`` so two writers of one stream never take
the same number (the loser takes the next). :meth:`BlobLogWriter.flush`
uploads at once when the writer's last part is older than
``flush_interval`` seconds (default 1), else within that interval, from a
background thread; a buffer past ``part_bytes`` (default 4 MiB) is
uploaded at once. So a chatty job makes about one object per second, not
one per line.

Offsets are byte offsets into the concatenation of a stream's parts in
order; parts only ever come after the existing ones, so an offset stays
valid. A read lists the stream's parts (sizes and etags) and fetches only
the parts at and after the offset; fetched parts are cached by etag.

When the store is unreachable and an outbox is configured, parts are
queued there in order and uploaded when it returns; a replayed part that
already landed (same bytes among the stream's last parts) is not uploaded
again.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from ...errors import StoreError
from ...ids import validate_node_id
from ..contracts import ENVELOPE, LogChunk
from ..fs_logs import validate_run_id
from ..logwriter import RecordBytesWriter, check_framed
from .contracts import BlobInfo, BlobStore, BlobUnavailable, PreconditionFailed
from .keys import segment, unsegment
from .link import Link
from .outbox import Entry

ENVELOPE_STREAM: Final = "~envelope"
STREAMS_DIR: Final = "~streams"
#: Bytes of part content kept in memory by etag (reads of a followed stream).
PART_CACHE_BYTES: Final = 32 * 1024 * 1024
#: A replayed part is compared with this many of the stream's last parts.
REPLAY_LOOKBACK: Final = 64


def stream_name(node_id: str) -> str:
    """The key segment of a node's stream (validating the node id)."""
    if node_id == ENVELOPE:
        return ENVELOPE_STREAM
    validate_node_id(node_id)
    return segment(node_id)


class BlobLogWriter(RecordBytesWriter):
    """An append handle on one stream; safe to share between threads."""

    def __init__(self, store: BlobLogStore, run_id: str, node_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.node_id = node_id
        self._buf: list[bytes] = []
        self._size = 0
        self._last_upload = float("-inf")
        self._due = False
        self._closed = False
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self.next_seq = 0  # 0: find it on first upload

    def write_bytes(self, data: bytes) -> None:
        """Append already-framed records encoded as UTF-8 (``\\n``-terminated JSON lines)."""
        if not data:
            return
        check_framed(data)
        with self._lock:
            self._raise_pending()
            if self._closed:
                raise StoreError(f"log writer for {self.run_id}/{self.node_id} is closed")
            self._buf.append(data)
            self._size += len(data)
            if self._size >= self.store.part_bytes:
                self._upload_locked()

    def flush(self) -> None:
        """Upload now, or within ``flush_interval`` of the previous upload (see the module)."""
        with self._lock:
            self._raise_pending()
            if not self._buf:
                return
            wait = self._last_upload + self.store.flush_interval - time.monotonic()
            if wait <= 0:
                self._upload_locked()
            elif not self._due:
                self._due = True
                self.store._schedule(self, wait)

    def close(self) -> None:
        """Upload what is buffered and close; later writes raise :class:`StoreError`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._upload_locked()
            self._raise_pending()

    def __enter__(self) -> BlobLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _upload_due(self) -> None:
        """Called by the store's flusher thread when a deferred flush is due."""
        with self._lock:
            if self._closed or not self._buf:
                self._due = False
                return
            wait = self._last_upload + self.store.flush_interval - time.monotonic()
            if wait > 0:  # a direct upload came first: keep to one part per interval
                self.store._schedule(self, wait)
                return
            self._due = False
            try:
                self._upload_locked()
            except BaseException as exc:  # reported by the next call on this writer
                self._error = exc

    def _raise_pending(self) -> None:
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc

    def _upload_locked(self) -> None:
        if not self._buf:
            return
        data = b"".join(self._buf)
        self._buf.clear()
        self._size = 0
        self._last_upload = time.monotonic()
        self.store._write_part(self, data)


class BlobLogStore:
    """:class:`~sparkwing.storage.contracts.LogStore` over any blob store.

    Safe to use from several threads, processes and machines. Run ids are
    checked like the filesystem store's (:class:`~sparkwing.errors.UsageError`),
    node ids with :func:`~sparkwing.ids.validate_node_id`
    (:class:`~sparkwing.errors.PlanError`).
    """

    def __init__(self, blobs: BlobStore, *, link: Link | None = None,
                 flush_interval: float = 1.0, part_bytes: int = 4 * 1024 * 1024) -> None:
        self.blobs = blobs
        self.link = link or Link.direct("logs")
        self.link.replayer = self._replay
        self.flush_interval = flush_interval
        self.part_bytes = part_bytes
        self._writers: weakref.WeakSet[BlobLogWriter] = weakref.WeakSet()
        self._marked: set[tuple[str, str]] = set()
        self._next_seq: dict[tuple[str, str], int] = {}
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._cache_bytes = 0
        self._lock = threading.Lock()
        self._due: dict[BlobLogWriter, float] = {}
        self._wake = threading.Condition(self._lock)
        self._flusher: threading.Thread | None = None
        self._stopping = False
        self._pool: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"BlobLogStore({self.blobs!r})"

    # -- keys ------------------------------------------------------------------------
    @staticmethod
    def run_prefix(run_id: str) -> str:
        """Prefix of every object of a run's logs."""
        return f"logs/{segment(validate_run_id(run_id))}/"

    def stream_prefix(self, run_id: str, node_id: str) -> str:
        """Prefix of one stream's parts."""
        return f"{self.run_prefix(run_id)}{stream_name(node_id)}/"

    # -- writing -----------------------------------------------------------------------
    def writer(self, run_id: str, node_id: str) -> BlobLogWriter:
        """Open an append handle on a stream (its first part is written on first flush)."""
        self.stream_prefix(run_id, node_id)  # validates both ids
        writer = BlobLogWriter(self, run_id, node_id)
        self._writers.add(writer)
        return writer

    def append(self, run_id: str, node_id: str, lines: Iterable[str]) -> None:
        """Append records to a stream in one part."""
        batch = list(lines)
        self.stream_prefix(run_id, node_id)
        if not batch:
            return
        writer = self.writer(run_id, node_id)
        try:
            writer.write(batch)
        finally:
            writer.close()

    def _write_part(self, writer: BlobLogWriter, data: bytes) -> None:
        run_id, node_id = writer.run_id, writer.node_id
        if self.link.usable():
            try:
                writer.next_seq = self._put_part(run_id, node_id, data, writer.next_seq)
                return
            except BlobUnavailable as exc:
                if not self.link.buffering:
                    raise
                self.link.failed(exc)
        self.link.queue("log", "part", {"run_id": run_id, "node_id": node_id}, body=data,
                        key=f"{run_id}/{node_id}")
        writer.next_seq = 0  # others may write meanwhile: look again after the outage

    def _put_part(self, run_id: str, node_id: str, data: bytes, seq: int) -> int:
        """Upload *data* as the stream's next part; return the number after it.

        *seq* is the writer's guess (0: none); this store's last number for
        the stream is the next guess, a listing the last resort. A wrong
        guess only costs a refused create-only write.
        """
        prefix = self.stream_prefix(run_id, node_id)
        if seq <= 0:
            seq = self._next_seq.get((run_id, node_id), 0)
        if seq <= 0:
            seq = self._last_seq(prefix) + 1
        for attempt in range(1000):
            try:
                self.blobs.put(f"{prefix}{seq:010d}.ndjson", data, if_none_match="*",
                               content_type="application/x-ndjson")
                break
            except PreconditionFailed:
                seq = self._last_seq(prefix) + 1 if attempt % 8 == 7 else seq + 1
        else:
            raise StoreError(f"log stream {run_id}/{node_id}: no free part number")
        self._next_seq[(run_id, node_id)] = seq + 1
        if (run_id, node_id) not in self._marked:
            self.blobs.put(f"{self.run_prefix(run_id)}{STREAMS_DIR}/{stream_name(node_id)}",
                           json.dumps({"node": node_id}).encode("utf-8"))
            self._marked.add((run_id, node_id))
        return seq + 1

    def _last_seq(self, prefix: str) -> int:
        """The highest part number of a stream (0 when it has none)."""
        last = 0
        for info in self._parts(prefix):
            name = info.key[len(prefix):].removesuffix(".ndjson")
            if name.isdigit():
                last = max(last, int(name))
        return last

    def _replay(self, entry: Entry) -> None:
        run_id, node_id = entry.args["run_id"], entry.args["node_id"]
        parts = self._parts(self.stream_prefix(run_id, node_id))
        for info in parts[-REPLAY_LOOKBACK:]:
            if info.size == len(entry.body) and self._part(info) == entry.body:
                return  # landed before the store went away
        self._put_part(run_id, node_id, entry.body, 0)

    # -- the flusher thread ---------------------------------------------------------------
    def _schedule(self, writer: BlobLogWriter, wait: float) -> None:
        with self._wake:
            self._due[writer] = time.monotonic() + wait
            if self._flusher is None or not self._flusher.is_alive():
                self._stopping = False
                self._flusher = threading.Thread(target=self._flush_loop, daemon=True,
                                                 name="sw-log-flusher")
                self._flusher.start()
            self._wake.notify()

    def _flush_loop(self) -> None:
        while True:
            with self._wake:
                while True:
                    if self._due:
                        now = time.monotonic()
                        ready = [w for w, at in self._due.items() if at <= now]
                        if ready:
                            for w in ready:
                                del self._due[w]
                            break
                        self._wake.wait(min(self._due.values()) - now)
                    elif self._stopping or (not self._wake.wait(5.0) and not self._due):
                        self._flusher = None
                        return
            for w in ready:
                w._upload_due()

    # -- reading -------------------------------------------------------------------------
    def _parts(self, prefix: str) -> list[BlobInfo]:
        out: list[BlobInfo] = []
        token = ""
        while True:
            page = self.blobs.list_page(prefix, page_token=token)
            out.extend(i for i in page.items if i.key.endswith(".ndjson"))
            token = page.next_token
            if not token:
                return out

    def _part(self, info: BlobInfo) -> bytes:
        ident = (info.key, info.etag)
        with self._lock:
            data = self._cache.get(ident)
            if data is not None:
                self._cache.move_to_end(ident)
                return data
        blob = self.blobs.get(info.key)
        if blob is None:
            raise _Changed()
        if blob.info.etag != info.etag:
            raise _Changed()
        with self._lock:
            self._cache[ident] = blob.data
            self._cache_bytes += len(blob.data)
            while self._cache_bytes > PART_CACHE_BYTES and self._cache:
                _, old = self._cache.popitem(last=False)
                self._cache_bytes -= len(old)
        return blob.data

    def _with_parts(self, run_id: str, node_id: str,
                    fn: Callable[[list[BlobInfo]], Any]) -> Any:
        prefix = self.stream_prefix(run_id, node_id)
        for _ in range(5):
            try:
                return fn(self._parts(prefix))
            except _Changed:
                continue  # a part was replaced or deleted since the listing: list again
        raise StoreError(f"log stream {run_id}/{node_id} keeps changing under the reader")

    def read(self, run_id: str, node_id: str, offset: int = 0,
             limit: int | None = None) -> LogChunk:
        """Return complete records from byte *offset*, at most *limit* (blank lines skipped)."""
        if offset < 0:
            raise StoreError(f"log offset must not be negative, got {offset}")
        self.stream_prefix(run_id, node_id)
        if limit is not None and limit <= 0:
            return LogChunk([], offset)

        def scan(parts: list[BlobInfo]) -> LogChunk:
            lines: list[str] = []
            pos = 0
            next_offset = offset
            for info in parts:
                end = pos + info.size
                if end <= offset:
                    pos = end
                    continue
                data = self._part(info)
                at = max(0, offset - pos)
                while at < len(data):
                    cut = data.find(b"\n", at)
                    stop = len(data) if cut < 0 else cut + 1
                    raw = data[at:cut if cut >= 0 else len(data)]
                    at = stop
                    next_offset = pos + at
                    if raw:
                        lines.append(raw.decode("utf-8", "replace"))
                        if limit is not None and len(lines) >= limit:
                            return LogChunk(lines, next_offset)
                pos = end
                next_offset = max(next_offset, pos)
            return LogChunk(lines, max(next_offset, offset))

        chunk: LogChunk = self._with_parts(run_id, node_id, scan)
        return chunk

    def tail(self, run_id: str, node_id: str, n: int) -> list[str]:
        """Return the last *n* complete records, reading parts from the end."""
        self.stream_prefix(run_id, node_id)
        if n <= 0:
            return []

        def scan(parts: list[BlobInfo]) -> list[str]:
            found: list[str] = []
            for info in reversed(parts):
                data = self._part(info)
                lines = [r.decode("utf-8", "replace") for r in data.split(b"\n") if r]
                found = lines + found
                if len(found) >= n:
                    break
            return found[-n:]

        result: list[str] = self._with_parts(run_id, node_id, scan)
        return result

    def streams(self, run_id: str) -> list[str]:
        """Return the node ids with a stream in this run, sorted (``""`` is the envelope)."""
        prefix = f"{self.run_prefix(run_id)}{STREAMS_DIR}/"
        found: list[str] = []
        for info in self._parts_any(prefix):
            name = info.key[len(prefix):]
            if name == ENVELOPE_STREAM:
                found.append(ENVELOPE)
                continue
            node = unsegment(name)
            if node is None:
                blob = self.blobs.get(info.key)
                if blob is None:
                    continue
                node = str(json.loads(blob.data)["node"])
            found.append(node)
        return sorted(found)

    def _parts_any(self, prefix: str) -> list[BlobInfo]:
        out: list[BlobInfo] = []
        token = ""
        while True:
            page = self.blobs.list_page(prefix, page_token=token)
            out.extend(page.items)
            token = page.next_token
            if not token:
                return out

    def delete_run(self, run_id: str) -> None:
        """Delete every stream of a run (a missing run is not an error)."""
        keys = [i.key for i in self._parts_any(self.run_prefix(run_id))]
        with self._lock:
            self._marked = {m for m in self._marked if m[0] != run_id}
            self._next_seq = {k: v for k, v in self._next_seq.items() if k[0] != run_id}
            if self._pool is None:
                self._pool = ThreadPoolExecutor(8, thread_name_prefix="sw-logs")
            pool = self._pool
        list(pool.map(self.blobs.delete, keys))

    def close(self) -> None:
        """Close writers opened here that are still open, stop the flusher, close the store."""
        for writer in list(self._writers):
            writer.close()
        self._writers = weakref.WeakSet()
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self.link.queued:
            self.link.drain()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.blobs.close()

    def __enter__(self) -> BlobLogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Changed(Exception):
    """A listed part changed before it was read."""

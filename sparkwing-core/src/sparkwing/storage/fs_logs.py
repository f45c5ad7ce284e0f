"""The filesystem log store: one JSON-lines file per node.

Layout under the store's root::

    <runID>/<file>.log         one node's records (``file`` derived from the node id)
    <runID>/_envelope.ndjson   the run-level (envelope) records, node id ``""``
    <runID>/_streams.ndjson    index: which node id each ``.log`` file holds, and the
                               records of small streams kept in the index itself

File names come from :func:`sparkwing.ids.node_filename`, which replaces
characters that are unsafe in file names and is therefore lossy
(``build/linux`` and ``build__linux`` share a name). The index keeps the
mapping reversible: every writer appends one claim line ``{"node": id}``
(with ``O_APPEND``, so no lock is needed) before its file is created, and
every reader derives the same assignment from the ordered claims: the first
claimant of a name (compared case-insensitively, for macOS and Windows
file systems) gets the plain name, later ones get ``<name>~<8 hex>``.
A writer claims its name when it first writes to its file.

Small streams live in the index: a writer closed with at most
:data:`INLINE_BYTES` of records that it never flushed (a job that only
logged its start and end) writes them as its claim line,
``{"node": id, "text": records}``, instead of creating a file, which saves
a file per such job. It does so only for a node with no claim yet, under an
exclusive ``flock`` on the index, so a stream has at most one such part. A
later writer of the same node appends to its file as usual; readers see the
stream as the index part followed by the file, with offsets counted across
both.

Appends and concurrency: a writer buffers text and hands it to the kernel
in one ``write(2)`` per flush on a file opened with ``O_APPEND``. On local
Linux file systems (ext4, xfs, btrfs, tmpfs) such a write lands whole at
the end of the file, so any number of writers in any number of processes
can append to one stream without interleaving inside a line. The limits:
network file systems (NFS, SMB) do not make ``O_APPEND`` atomic, and a
write cut short by a full disk or a signal is completed by a second call,
which another writer may precede. A write is at most the buffer size
(256 KiB by default) plus the text of one ``write_raw`` call.

A full disk: the store keeps a small reserve file in its root
(:mod:`sparkwing.storage.spacereserve`) and frees it on the first write that
fails for lack of space. That write's text is dropped (a cut-off line is
ended, so later records stay readable) and :class:`StoreError` says
"no space left on device"; the freed room lets the records that report the
failure still be written.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring as _encode_str  # C-accelerated in CPython
from pathlib import Path
from typing import BinaryIO

from ..errors import StoreError, UsageError
from ..ids import has_control_char, node_filename, validate_node_id
from ..paths import make_private_dir, open_private
from ..slotted import Slotted
from .contracts import ENVELOPE, LogChunk
from .logwriter import RecordBytesWriter, check_framed
from .spacereserve import NO_SPACE, ensure_reserve, is_out_of_space, release_reserve

ENVELOPE_FILE = "_envelope.ndjson"
INDEX_FILE = "_streams.ndjson"
LOG_SUFFIX = ".log"

_BLOCK = 1 << 20  # read size for forward reads
_TAIL_BLOCK = 1 << 16  # read size for backward reads
_MAX_STEM_BYTES = 180  # leaves room for "~<hash>.log" under the usual 255-byte limit
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
#: Bytes kept free in the store's root for the records written after the disk fills.
RESERVE_BYTES = 64 * 1024
#: Largest stream a closing writer keeps in the index instead of a file of its own.
INLINE_BYTES = 2048


def validate_run_id(run_id: str) -> str:
    """Check that *run_id* is usable as one path segment and return it.

    Raises :class:`~sparkwing.errors.UsageError` for an empty id, ``.``,
    ``..``, path separators, control characters or more than 200 characters.
    """
    if (
        not isinstance(run_id, str)
        or run_id in ("", ".", "..")
        or "/" in run_id
        or "\\" in run_id
        or len(run_id) > 200
        or has_control_char(run_id)
    ):
        raise UsageError(f"run id {run_id!r} is not valid")
    return run_id


def _base_stem(node_id: str) -> str:
    """The file stem of a node id its callers validated."""
    stem = node_filename(node_id, validated=True)
    if len(stem.encode("utf-8")) <= _MAX_STEM_BYTES:
        return stem
    cut = stem.encode("utf-8")[:_MAX_STEM_BYTES].decode("utf-8", "ignore")
    return f"{cut}~{_short_hash(node_id)}"


def _claim_line(node_id: str, text: str | None) -> str:
    """``{"node": ..., "text": ...}`` (no ``text`` when ``None``) as one JSON line."""
    if text is None:
        return '{"node": ' + _encode_str(node_id) + "}"
    return '{"node": ' + _encode_str(node_id) + ', "text": ' + _encode_str(text) + "}"


def _short_hash(text: str) -> str:
    import hashlib  # rarely needed: only for long or colliding names

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


class _Index(Slotted):
    """What a run's ``_streams.ndjson`` says, as far as it has been read."""

    __slots__ = ("consumed", "ident", "inline", "nodes", "stems")

    def __init__(self, ident: tuple[int, int] = (0, 0)) -> None:
        self.ident = ident
        self.consumed = 0
        self.stems: dict[str, str] = {}  # node id -> stem
        self.nodes: dict[str, str] = {}  # casefolded stem -> node id
        self.inline: dict[str, bytes] = {}  # node id -> records kept in the index

    def claim(self, node_id: str, text: object = None) -> None:
        """Take one claim line: its node gets a stem, and its ``text`` (when the line is the
        node's first claim and has one) is the part of the stream kept in the index."""
        if node_id in self.stems:
            return
        if isinstance(text, str):
            self.inline[node_id] = text.encode("utf-8", "replace")
        base = _base_stem(node_id)
        stem, attempt = base, 0
        while stem.casefold() in self.nodes:
            attempt += 1
            stem = base + "~" + _short_hash(f"{node_id}\0{attempt}")
        self.stems[node_id] = stem
        self.nodes[stem.casefold()] = node_id


def _read_forward(f: BinaryIO, offset: int, limit: int | None) -> LogChunk:
    """Read complete lines from *offset* of an open file (see ``read``)."""
    lines: list[str] = []
    pos = offset
    f.seek(offset)
    pending = b""
    while limit is None or len(lines) < limit:
        block = f.read(_BLOCK)
        if not block:
            break
        buf = pending + block if pending else block
        cut = buf.rfind(b"\n") + 1
        pending = buf[cut:]
        if not cut:
            continue
        if limit is None or len(lines) + buf.count(b"\n", 0, cut) <= limit:
            text = buf[: cut - 1].decode("utf-8", "replace")
            lines.extend(s for s in text.split("\n") if s)
            pos += cut
            continue
        for raw in buf[: cut - 1].split(b"\n"):
            pos += len(raw) + 1
            if raw:
                lines.append(raw.decode("utf-8", "replace"))
                if len(lines) == limit:
                    break
    return LogChunk(lines, pos)


def _read_tail(f: BinaryIO, n: int) -> list[str]:
    """Return the last *n* complete non-blank lines of an open file, reading backwards."""
    pos = os.fstat(f.fileno()).st_size
    blocks: list[bytes] = []  # newest first
    newlines = 0
    # n complete records need n + 1 newlines (or the start of the file)
    # in view: one ending the record before them, and one ending each.
    target = n + 1
    while True:
        while pos > 0 and newlines < target:
            step = min(_TAIL_BLOCK, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step)
            newlines += block.count(b"\n")
            blocks.append(block)
        data = b"".join(reversed(blocks))
        cut = data.rfind(b"\n")
        if cut < 0:
            return []
        parts = data[:cut].split(b"\n")
        if pos > 0:
            parts = parts[1:]  # may be the cut-off end of an earlier record
        records = [p for p in parts if p]
        if len(records) >= n or pos == 0:
            return [p.decode("utf-8", "replace") for p in records[-n:]]
        target += n - len(records)  # blank lines were in view: read further


class FilesystemLogWriter(RecordBytesWriter):
    """An append handle on one stream file; safe to share between threads.

    Records are buffered as UTF-8 bytes and written with one ``write(2)`` per
    flush; the file is created by the first flush that has something to write.
    """

    def __init__(self, path: Path, buffer_bytes: int, reserve_dir: Path | None = None, *,
                 claim: Callable[[], Path] | None = None,
                 keep_inline: Callable[[str], bool] | None = None) -> None:
        """Prepare to append to *path* (its directory must exist).

        *reserve_dir* holds the space reserve freed when the disk is full.
        *claim*, when given, is called before the file is first opened and
        returns the file to use instead of *path*. *keep_inline*, when given,
        is offered the text of a writer closed with at most
        :data:`INLINE_BYTES` that never flushed; it returns ``True`` when it
        kept the text (no file is then created).
        """
        self.path = path
        self._claim = claim
        self._keep_inline = keep_inline
        self._reserve_dir = reserve_dir
        self._limit = buffer_bytes
        self._fd: int | None = None
        self._buf: list[bytes] = []
        self._size = 0
        self._closed = False
        self._lock = threading.Lock()

    def write_bytes(self, data: bytes) -> None:
        """Append already-framed records encoded as UTF-8 (``\\n``-terminated JSON lines)."""
        if not data:
            return
        check_framed(data)
        with self._lock:
            if self._closed:
                raise StoreError(f"log writer for {self.path} is closed")
            self._buf.append(data)
            self._size += len(data)
            if self._size >= self._limit:
                self._flush_locked()

    def flush(self) -> None:
        """Write buffered text to the file, making it visible to readers."""
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        """Flush and close the file; later writes raise :class:`StoreError`."""
        with self._lock:
            if self._closed:
                return
            try:
                if (self._keep_inline is not None and self._fd is None and self._buf
                        and self._size <= INLINE_BYTES):
                    text = b"".join(self._buf).decode("utf-8", "replace")
                    if self._keep_inline(text):
                        self._buf.clear()
                        self._size = 0
                self._flush_locked()
            finally:
                self._closed = True
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None

    def __enter__(self) -> FilesystemLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _flush_locked(self) -> None:
        if not self._buf:
            return
        if self._fd is None and self._claim is not None:
            self.path = self._claim()  # a failure keeps the buffer for a later flush
            self._claim = None
        data = self._buf[0] if len(self._buf) == 1 else b"".join(self._buf)
        self._buf.clear()
        self._size = 0
        view = memoryview(data)
        try:
            if self._fd is None:
                self._fd = open_private(self.path, _OPEN_FLAGS)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            if is_out_of_space(exc):
                self._out_of_space(len(data) - len(view), len(view))
            raise StoreError(f"cannot append to log {self.path}: {exc.strerror}") from exc

    def _out_of_space(self, written: int, dropped: int) -> None:
        """Free the reserve, end a cut-off line, and raise the one-line error."""
        if self._reserve_dir is not None:
            release_reserve(self._reserve_dir)
        if written and self._fd is not None:
            try:  # the file now ends inside a record: end it so the next one parses
                os.write(self._fd, b"\n")
            except OSError:
                pass
        raise StoreError(
            f"{NO_SPACE}: cannot append to log {self.path} ({dropped} bytes of output dropped)"
        )


class FilesystemLogStore:
    """:class:`~sparkwing.storage.contracts.LogStore` keeping one file per node under *root*.

    Safe to use from several threads and processes. Run ids are checked with
    :func:`validate_run_id` (:class:`~sparkwing.errors.UsageError`), node ids
    with :func:`sparkwing.ids.validate_node_id`
    (:class:`~sparkwing.errors.PlanError`).
    """

    def __init__(self, root: Path, *, buffer_bytes: int = 256 * 1024) -> None:
        """Open the store at *root* (created when the first stream is written)."""
        self.root = Path(root)
        self.buffer_bytes = buffer_bytes
        self._indexes: dict[str, _Index] = {}
        self._index_fds: dict[str, int] = {}  # run id -> open append fd of its index
        self._made: set[Path] = set()  # run directories known to exist
        self._run_dirs: dict[str, Path] = {}  # checked run id -> its directory
        self._lock = threading.Lock()
        self._writers: weakref.WeakSet[FilesystemLogWriter] = weakref.WeakSet()

    # -- paths and the stream index -------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        """Return the directory holding a run's streams."""
        path = self._run_dirs.get(run_id)
        if path is None:
            path = self._run_dirs[run_id] = self.root / validate_run_id(run_id)
        return path

    def path_for(self, run_id: str, node_id: str) -> Path | None:
        """Return the file of a stream, or ``None`` when the node has no stream yet.

        The part of a stream kept in the index (see the module docs) comes
        before this file's records; :meth:`read` and :meth:`tail` join both.
        """
        return self._locate(run_id, node_id)[1]

    def _locate(self, run_id: str, node_id: str) -> tuple[bytes, Path | None]:
        """A stream's part kept in the index and its file (``None``: no file can hold it)."""
        run_dir = self.run_dir(run_id)
        if node_id == ENVELOPE:
            return b"", run_dir / ENVELOPE_FILE
        validate_node_id(node_id)
        with self._lock:
            index = self._refresh(run_id, run_dir)
            inline = index.inline.get(node_id, b"")
            stem = index.stems.get(node_id)
            if stem is None:
                # No claim: a file written without the index (by hand or an older
                # version) is still found under the plain name, unless that name
                # belongs to another node.
                plain = _base_stem(node_id)
                if plain.casefold() in index.nodes:
                    return inline, None
                stem = plain
        return inline, run_dir / (stem + LOG_SUFFIX)

    def _ensure_dir(self, run_dir: Path) -> None:
        """Create *run_dir* once per store (caller holds the lock)."""
        if run_dir not in self._made:
            make_private_dir(run_dir)
            self._made.add(run_dir)
            ensure_reserve(self.root, RESERVE_BYTES)

    def _refresh(self, run_id: str, run_dir: Path) -> _Index:
        """Bring the cached index of a run up to date with its file (caller holds the lock)."""
        index = self._indexes.get(run_id)
        fd = self._index_fds.get(run_id)
        try:  # the index this store appends to (it is open), else whatever is at the path
            st = os.fstat(fd) if fd is not None else os.stat(run_dir / INDEX_FILE)
        except FileNotFoundError:
            self._indexes[run_id] = index = _Index()
            return index
        ident = (st.st_dev, st.st_ino)
        if index is None or index.ident != ident or st.st_size < index.consumed:
            index = _Index(ident=ident)
            self._indexes[run_id] = index
        if st.st_size == index.consumed:
            return index
        with open(run_dir / INDEX_FILE, "rb") as f:
            f.seek(index.consumed)
            data = f.read()
        end = data.rfind(b"\n") + 1
        index.consumed += end
        for raw in data[:end].split(b"\n"):
            if not raw:
                continue
            try:
                entry = json.loads(raw)
                node_id = entry["node"]
                validate_node_id(node_id)
            except Exception:  # a damaged line must not make the run unreadable
                continue
            index.claim(node_id, entry.get("text"))
        return index

    def _claim(self, run_id: str, node_id: str) -> Path:
        """Record *node_id* in the run's index if needed and return its stream file."""
        run_dir = self.run_dir(run_id)
        with self._lock:
            index = self._refresh(run_id, run_dir)
            if node_id not in index.stems:
                index = self._append_claim(run_id, run_dir, node_id, None, index)
            stem = index.stems.get(node_id)
            if stem is None:
                raise StoreError(f"log index {run_dir / INDEX_FILE} did not take node {node_id!r}")
        return run_dir / (stem + LOG_SUFFIX)

    def _keep_inline(self, run_id: str, node_id: str, text: str) -> bool:
        """Write a small closed stream as its claim line; ``False`` when the node has a claim.

        Holds an exclusive ``flock`` on the index from reading it to appending,
        so two processes cannot both keep a part of one stream in the index.
        """
        run_dir = self.run_dir(run_id)
        with self._lock:
            fd = self._index_fd(run_id, run_dir)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                return False  # a file system without locks: the stream gets its file
            try:
                index = self._refresh(run_id, run_dir)
                if node_id in index.stems:
                    return False
                index = self._append_claim(run_id, run_dir, node_id, text, index)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return node_id in index.inline

    def _index_fd(self, run_id: str, run_dir: Path) -> int:
        """The open append descriptor of a run's index (caller holds the lock)."""
        fd = self._index_fds.get(run_id)
        if fd is None:
            try:
                self._ensure_dir(run_dir)
                fd = open_private(run_dir / INDEX_FILE, _OPEN_FLAGS)
            except OSError as exc:
                what = NO_SPACE if is_out_of_space(exc) else str(exc)
                raise StoreError(f"cannot write log index in {run_dir}: {what}") from exc
            self._index_fds[run_id] = fd
        return fd

    def _append_claim(self, run_id: str, run_dir: Path, node_id: str, text: str | None,
                      index: _Index) -> _Index:
        """Append one claim line and return the index with it (caller holds the lock)."""
        # The leading newline ends a line some crashed writer left unfinished,
        # so that line cannot swallow this claim (blank lines are skipped).
        line = "\n" + _claim_line(node_id, text) + "\n"
        data = line.encode("utf-8", "replace")
        fd = self._index_fd(run_id, run_dir)
        try:
            self._write_index(fd, data)
            st = os.fstat(fd)
        except OSError as exc:
            what = NO_SPACE if is_out_of_space(exc) else str(exc)
            raise StoreError(f"cannot write log index in {run_dir}: {what}") from exc
        if index.ident == (st.st_dev, st.st_ino) and st.st_size == index.consumed + len(data):
            # Nobody appended since our last read: our line is the last one.
            index.consumed = st.st_size
            index.claim(node_id, text)
            return index
        return self._refresh(run_id, run_dir)

    def _write_index(self, fd: int, data: bytes) -> None:
        """Append a claim line; on a full disk free the reserve and try once more."""
        try:
            os.write(fd, data)
        except OSError as exc:
            if not is_out_of_space(exc) or not release_reserve(self.root):
                raise
            os.write(fd, data)

    # -- the LogStore contract --------------------------------------------------
    def writer(self, run_id: str, node_id: str) -> FilesystemLogWriter:
        """Open an append handle on a stream.

        A node's stream is claimed in the index and its file created on the
        first flush; a small stream closed unflushed stays in the index.
        """
        run_dir = self.run_dir(run_id)
        if node_id != ENVELOPE:
            validate_node_id(node_id)
        if run_dir not in self._made:  # made once per store (read without the lock: a set)
            try:
                with self._lock:
                    self._ensure_dir(run_dir)
            except OSError as exc:
                raise StoreError(f"cannot create log directory {run_dir}: {exc}") from exc
        if node_id == ENVELOPE:
            writer = FilesystemLogWriter(run_dir / ENVELOPE_FILE, self.buffer_bytes, self.root)
        else:
            writer = FilesystemLogWriter(
                run_dir, self.buffer_bytes, self.root,  # the file once claimed
                claim=lambda: self._claim(run_id, node_id),
                keep_inline=lambda text: self._keep_inline(run_id, node_id, text))
        self._writers.add(writer)
        return writer

    def append(self, run_id: str, node_id: str, lines: Iterable[str]) -> None:
        """Append records to a stream in one call."""
        batch = list(lines)
        if not batch:
            return
        writer = self.writer(run_id, node_id)
        try:
            writer.write(batch)
            writer.flush()  # to the stream's file, never kept in the index
        finally:
            writer.close()

    def read(
        self, run_id: str, node_id: str, offset: int = 0, limit: int | None = None
    ) -> LogChunk:
        """Return complete records from byte *offset*, at most *limit*.

        A trailing line without its newline (still being written) is not
        returned and ``next_offset`` stops before it. Blank lines are skipped.
        """
        if offset < 0:
            raise StoreError(f"log offset must not be negative, got {offset}")
        if limit is not None and limit <= 0:
            return LogChunk([], offset)
        inline, path = self._locate(run_id, node_id)
        head = LogChunk([], offset)
        if inline:
            if offset < len(inline):
                head = _read_forward(io.BytesIO(inline), offset, limit)
                if limit is not None and len(head.lines) >= limit:
                    return head
                if limit is not None:
                    limit -= len(head.lines)
            offset = max(0, offset - len(inline))
        if path is None:
            return head
        try:
            with open(path, "rb") as f:
                body = _read_forward(f, offset, limit)
        except FileNotFoundError:
            return head
        return LogChunk(head.lines + body.lines, len(inline) + body.next_offset)

    def tail(self, run_id: str, node_id: str, n: int) -> list[str]:
        """Return the last *n* complete records, reading the file backwards in blocks."""
        if n <= 0:
            return []
        inline, path = self._locate(run_id, node_id)
        lines: list[str] = []
        if path is not None:
            try:
                with open(path, "rb") as f:
                    lines = _read_tail(f, n)
            except FileNotFoundError:
                pass
        if inline and len(lines) < n:
            head = [x.decode("utf-8", "replace") for x in inline.split(b"\n") if x]
            lines = head[len(lines) - n:] + lines
        return lines

    def streams(self, run_id: str) -> list[str]:
        """Return the node ids with a stream in this run, sorted (``""`` is the envelope)."""
        run_dir = self.run_dir(run_id)
        try:
            names = os.listdir(run_dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        with self._lock:
            index = self._refresh(run_id, run_dir)
            by_stem = dict(index.nodes)
            found: set[str] = set(index.inline)
        for name in names:
            if name == ENVELOPE_FILE:
                found.add(ENVELOPE)
            elif name.endswith(LOG_SUFFIX):
                stem = name[: -len(LOG_SUFFIX)]
                found.add(by_stem.get(stem.casefold(), stem))
        return sorted(found)

    def delete_run(self, run_id: str) -> None:
        """Delete every stream of a run (a missing run is not an error)."""
        import shutil

        run_dir = self.run_dir(run_id)
        with self._lock:
            self._indexes.pop(run_id, None)
            self._made.discard(run_dir)
            fd = self._index_fds.pop(run_id, None)
            if fd is not None:
                os.close(fd)
            try:
                shutil.rmtree(run_dir)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StoreError(f"cannot delete logs of run {run_id}: {exc}") from exc

    def close(self) -> None:
        """Close writers opened through this store that are still open."""
        for writer in list(self._writers):
            writer.close()
        self._writers = weakref.WeakSet()
        with self._lock:
            self._indexes.clear()
            for fd in self._index_fds.values():
                os.close(fd)
            self._index_fds.clear()
            self._made.clear()
            self._run_dirs.clear()

    def __enter__(self) -> FilesystemLogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

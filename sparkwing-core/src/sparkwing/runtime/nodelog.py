"""A node's log: records into the log store, masked, tee'd to the terminal reporter.

Most records are flushed as they are written, so readers (the dashboard,
``runs logs -f``) see them at once. A record written with ``flush=False``
(a job's start, a command's ``$ line``) waits: for the node's next flushed
record, for its close, or at most :data:`LAZY_FLUSH_S` for a background
flush. A quick job whose commands print nothing is then closed with its few
records never flushed, and the filesystem log store keeps them in its index
instead of a file of their own (see :mod:`sparkwing.storage.fs_logs`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ..storage.contracts import LogWriter
from ..storage.logrecord import (
    format_output_bytes,
    format_output_lines,
    format_output_text,
    make_record,
)
from .linesplit import decode_lines, decoded_tail, tail_lines
from .secrets import Masker

#: How many trailing output lines a node keeps for its failure excerpt.
EXCERPT_LINES = 20
EXCERPT_BYTES = 4096

_EXEC_LINE = '"event":"exec_line"'
#: Seconds a record written without a flush waits at most before readers see it.
LAZY_FLUSH_S = 0.1


class _LazyFlusher:
    """Flushes, :data:`LAZY_FLUSH_S` after it was handed over, a logger holding unflushed records.

    One daemon thread, started with the first logger handed over (again in a
    forked child); it sleeps on an event while no logger waits, so handing
    over a logger costs a list append, and waking the thread happens at most
    once per :data:`LAZY_FLUSH_S`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._waiting: list[NodeLogger] = []
        self._started = False
        os.register_at_fork(after_in_child=self._forget)

    def add(self, logger: NodeLogger) -> None:
        """Flush *logger* soon (a no-op then if it was flushed or closed meanwhile)."""
        with self._lock:
            self._waiting.append(logger)
            first = len(self._waiting) == 1
            if not self._started:
                self._started = True
                threading.Thread(target=self._loop, name="sw-log-flush", daemon=True).start()
        if first:
            self._wake.set()

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._waiting = []
        self._started = False

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(LAZY_FLUSH_S)
            with self._lock:
                self._wake.clear()
                due, self._waiting = self._waiting, []
            for logger in due:
                logger.flush()


_LAZY = _LazyFlusher()


class NodeLogger:
    """Writes one node's records; remembers its last output lines and last activity.

    Records are encoded once, as UTF-8 (a lone surrogate as ``?``), and the
    same bytes go to the writer and to *tee*.
    """

    def __init__(
        self,
        writer: LogWriter,
        node_id: str,
        masker: Masker,
        tee: Callable[[bytes], None] | None = None,
    ) -> None:
        self.writer = writer
        self.node_id = node_id
        self.masker = masker
        self.tee = tee
        self.last_lines: deque[str] = deque(maxlen=EXCERPT_LINES)
        self.last_activity = time.monotonic()
        self._lock = threading.Lock()
        self.closed = False
        #: Records were written without a flush and the lazy flusher holds this logger.
        self._unflushed = False

    def _emit(self, text: str, flush: bool = True) -> None:
        self._emit_bytes(text.encode("utf-8", "replace"), flush)

    def _emit_bytes(self, data: bytes, flush: bool = True) -> None:
        with self._lock:
            if self.closed:
                return
            self.writer.write_bytes(data)
            # Readers (the dashboard, log following) see each batch as soon as it is written.
            if flush:
                self.writer.flush()
                self._unflushed = False
            elif not self._unflushed:
                self._unflushed = True
                _LAZY.add(self)
            if self.tee is not None:
                self.tee(data)
        self.last_activity = time.monotonic()

    def record(
        self,
        msg: str = "",
        *,
        level: str = "info",
        event: str = "",
        step: str = "",
        attrs: Mapping[str, Any] | None = None,
        flush: bool = True,
    ) -> None:
        """Write one record (the message is masked).

        ``flush=False`` lets the record wait for the next flush, at most
        :data:`LAZY_FLUSH_S` (see the module docstring).
        """
        if self.masker.active:
            msg = self.masker.mask(msg)
        self._emit(
            make_record(msg, level=level, node=self.node_id, step=step, event=event, attrs=attrs)
            + "\n",
            flush,
        )

    def output(self, lines: list[str], step: str = "", level: str = "info") -> None:
        """Write command output lines as ``exec_line`` records, in one batch."""
        if not lines:
            return
        if self.masker.active:
            lines = [self.masker.mask(x) for x in lines]
        self.last_lines.extend(lines[-EXCERPT_LINES:])
        self._emit(format_output_lines(self.node_id, step, lines, time.time(), level))

    def output_bytes(self, data: bytes, step: str = "", level: str = "info") -> None:
        """Write command output lines, as read (see :class:`~.linesplit.LineSplitter`), as records.

        The same records as :meth:`output` of the lines of
        :func:`~.linesplit.decode_lines` of *data*, made without splitting it
        and, when no secret is registered and the output is plain ASCII,
        without decoding it (see
        :func:`~sparkwing.storage.logrecord.format_output_bytes`).
        """
        ts = time.time()
        masked = self.masker.active
        framed = None if masked else format_output_bytes(self.node_id, step, data, ts, level)
        if framed is not None:
            self.last_lines.extend(decoded_tail(data, EXCERPT_LINES))
            self._emit_bytes(framed)
            return
        text = decode_lines(data)
        if masked:
            text = self.masker.mask_lines(text)
        self.last_lines.extend(tail_lines(text, EXCERPT_LINES))
        self._emit(format_output_text(self.node_id, step, text, ts, level))

    def forward(self, text: str) -> None:
        """Write records another process framed (complete JSON lines), masked.

        The output lines among them (``exec_line`` records) feed the failure
        excerpt like :meth:`output` does; the rest is copied as it is.
        """
        if not text:
            return
        if self.masker.active:
            text = self.masker.mask(text)
        if _EXEC_LINE in text:
            found: list[str] = []
            for line in reversed(text.splitlines()):
                if _EXEC_LINE in line:
                    try:
                        found.append(str(json.loads(line).get("msg", "")))
                    except ValueError:
                        continue
                    if len(found) >= EXCERPT_LINES:
                        break
            self.last_lines.extend(reversed(found))
        self._emit(text)

    def excerpt(self) -> tuple[str, bool]:
        """Return the last output lines (at most 20 lines / 4 KiB) and whether they were cut."""
        lines = list(self.last_lines)
        text = "\n".join(lines)
        cut = len(lines) >= EXCERPT_LINES
        if len(text) > EXCERPT_BYTES:
            text, cut = text[-EXCERPT_BYTES:], True
        return text, cut

    def flush(self) -> None:
        """Make written records visible to readers."""
        with self._lock:
            if not self.closed:
                self.writer.flush()
                self._unflushed = False

    def close(self) -> None:
        """Flush and close the underlying writer."""
        with self._lock:
            if not self.closed:
                self.closed = True
                self.writer.close()

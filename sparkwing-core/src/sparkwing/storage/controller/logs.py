"""``logs: {type: controller, url, token_env}``: a :class:`LogStore` kept by a controller.

Records go to the controller's logs service
(``sparkwing_server.controller.logs_api``), which keeps them in its own
profile's log store; offsets are that store's. A writer buffers records
and sends them on :meth:`~_ControllerLogWriter.flush` (at most one
request per :data:`FLUSH_INTERVAL_S`; the rest follows from a timer) or
once :data:`FLUSH_BYTES` are buffered, each request at most
:data:`PIECE_BYTES` of records cut at line ends. Ids are checked here, as
every log store checks them, before anything is sent. Safe to share
between threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from ...errors import StoreError
from ...ids import validate_node_id
from ..contracts import ENVELOPE, LogChunk
from .client import ControllerClient, seg

#: Buffered bytes (about) that make a writer send without waiting for ``flush``.
FLUSH_BYTES = 256 * 1024
#: Seconds between two sends of one writer when ``flush`` is called more often.
FLUSH_INTERVAL_S = 0.25
#: Most characters of records one append request carries.
PIECE_BYTES = 384 * 1024
#: Records per page when reading a whole stream, and the most ``tail`` may ask.
READ_PAGE = 10_000


def _check(run_id: str, node_id: str | None = None) -> None:
    from ..fs_logs import validate_run_id

    validate_run_id(run_id)
    if node_id is not None and node_id != ENVELOPE:
        validate_node_id(node_id)


def _pieces(text: str) -> list[str]:
    """*text* (complete lines) cut at line ends into pieces of at most about PIECE_BYTES.

    Sizes are UTF-8 bytes; JSON-encoding a piece for the request at most
    doubles it (quotes and backslashes), which stays under the body limit.
    A single line longer than a piece is sent whole.
    """
    if len(text) * 4 <= PIECE_BYTES or len(text.encode("utf-8")) <= PIECE_BYTES:
        return [text]
    half = len(text) // 2
    cut = text.rfind("\n", 0, half)
    if cut < 0:
        cut = text.find("\n", half)
    if cut < 0 or cut == len(text) - 1:
        return [text]
    return _pieces(text[:cut + 1]) + _pieces(text[cut + 1:])


class _ControllerLogWriter:
    """A buffered append handle on one stream of a :class:`ControllerLogStore`.

    :meth:`flush` sends at once when the writer's last request is older than
    :data:`FLUSH_INTERVAL_S`, else within that interval from a timer thread
    (so a job printing line by line costs a few requests a second, not one
    per line); :meth:`close` sends what is left before it returns. A failed
    deferred send is raised by the writer's next call.
    """

    def __init__(self, store: ControllerLogStore, run_id: str, node_id: str) -> None:
        self._store = store
        self._run_id = run_id
        self._node_id = node_id
        self._parts: list[str] = []
        self._size = 0
        self._last_send = float("-inf")
        self._timer: threading.Timer | None = None
        self._closed = False
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def write(self, lines: Iterable[str]) -> None:
        """Buffer records (each without its newline)."""
        text = "".join(f"{line}\n" for line in lines)
        if text:
            self._add(text)

    def write_raw(self, text: str) -> None:
        """Buffer already-framed, newline-terminated records."""
        if text:
            self._add(text)

    def write_bytes(self, data: bytes) -> None:
        """Buffer already-framed, newline-terminated records encoded as UTF-8 (sent as text)."""
        if data:
            self._add(data.decode("utf-8", "replace"))

    def _add(self, text: str) -> None:
        with self._lock:
            self._raise_pending()
            if self._closed:
                raise StoreError(f"log writer for {self._run_id}/{self._node_id} is closed")
            self._parts.append(text)
            self._size += len(text)
            if self._size >= FLUSH_BYTES:
                self._send_locked()

    def flush(self) -> None:
        """Send now, or within :data:`FLUSH_INTERVAL_S` of the previous send."""
        with self._lock:
            self._raise_pending()
            if not self._parts:
                return
            wait = self._last_send + FLUSH_INTERVAL_S - time.monotonic()
            if wait <= 0:
                self._send_locked()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._send_due)
                self._timer.daemon = True
                self._timer.start()

    def close(self) -> None:
        """Send what is buffered; later writes raise :class:`~sparkwing.errors.StoreError`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._send_locked()
            self._raise_pending()

    def _send_due(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed or not self._parts:
                return
            try:
                self._send_locked()
            except BaseException as exc:  # raised by the next call on this writer
                self._error = exc

    def _send_locked(self) -> None:
        if not self._parts:
            return
        text, self._parts, self._size = "".join(self._parts), [], 0
        self._last_send = time.monotonic()
        self._store.send(self._run_id, self._node_id, text)

    def _raise_pending(self) -> None:
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc


class ControllerLogStore:
    """The log store of a controller at *url* (see the module docstring)."""

    def __init__(self, url: str, *, token: str = "", token_env: str = "",
                 client: ControllerClient | None = None) -> None:
        self.client = client or ControllerClient(url, token=token, token_env=token_env)

    def __repr__(self) -> str:
        return f"ControllerLogStore({self.client.url!r})"

    def send(self, run_id: str, node_id: str, text: str) -> None:
        """Append framed *text* to a stream, in pieces the controller accepts."""
        for piece in _pieces(text):
            self.client.request("POST", f"/logs/{seg(run_id)}/lines",
                                {"node": node_id, "text": piece})

    def writer(self, run_id: str, node_id: str) -> _ControllerLogWriter:
        """Open a buffered append handle on a stream."""
        _check(run_id, node_id)
        return _ControllerLogWriter(self, run_id, node_id)

    def append(self, run_id: str, node_id: str, lines: Iterable[str]) -> None:
        """Append records in one call."""
        _check(run_id, node_id)
        text = "".join(f"{line}\n" for line in lines)
        if text:
            self.send(run_id, node_id, text)

    def read(self, run_id: str, node_id: str, offset: int = 0,
             limit: int | None = None) -> LogChunk:
        """Return complete records from *offset*, at most *limit* (``None``: all, paged)."""
        _check(run_id, node_id)
        lines: list[str] = []
        while True:
            page = READ_PAGE if limit is None else min(READ_PAGE, limit - len(lines))
            data: Any = self.client.request("GET", f"/logs/{seg(run_id)}/lines", query={
                "node": node_id, "offset": offset, "limit": page})
            got = data["lines"]
            lines.extend(got)
            offset = int(data["next_offset"])
            if len(got) < page or (limit is not None and len(lines) >= limit):
                return LogChunk(lines, offset)

    def tail(self, run_id: str, node_id: str, n: int) -> list[str]:
        """Return the last *n* complete records of a stream."""
        _check(run_id, node_id)
        if n <= 0:
            return []
        data = self.client.request("GET", f"/logs/{seg(run_id)}/tail",
                                   query={"node": node_id, "n": min(n, READ_PAGE)})
        return list(data["lines"])

    def streams(self, run_id: str) -> list[str]:
        """Return the node ids with a stream in this run (``""``: the envelope)."""
        _check(run_id)
        return list(self.client.request("GET", f"/logs/{seg(run_id)}")["streams"])

    def delete_run(self, run_id: str) -> None:
        """Delete every stream of a run."""
        _check(run_id)
        self.client.request("DELETE", f"/logs/{seg(run_id)}")

    def close(self) -> None:
        """Close the kept-alive connections."""
        self.client.close()

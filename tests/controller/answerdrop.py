"""A TCP proxy in front of a controller that can lose the controller's answers.

The idempotent-claim tests need a call the controller committed but whose
answer the client never got (the controller died mid-answer, or the
client's call timed out). Killing the controller at that exact moment
cannot be timed, so this proxy forwards each HTTP/1.1 request to the
controller, reads the whole answer and then, for the exchanges its *drop*
predicate picks, closes the client's connection instead of relaying it:
the controller did the work, the client sees its connection drop after
sending.

Only ``Content-Length`` framing is handled (the controller's JSON answers
and the clients' requests use it); every exchange is recorded.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Exchange:
    """One request the proxy forwarded and the controller's answer to it."""

    method: str
    path: str
    body: bytes
    status: int
    answer: bytes
    dropped: bool = False


def _read_head(stream: BinaryIO) -> bytes | None:
    """The request or status line and headers, up to the blank line; ``None`` at EOF."""
    lines: list[bytes] = []
    while True:
        line = stream.readline(65536)
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class AnswerDropProxy:
    """Forwards to *upstream* (``http://host:port``); drops the answers *drop* picks.

    *drop* sees each :class:`Exchange` (with ``dropped`` false) after the
    controller answered it. :attr:`url` is the proxy's address;
    :attr:`exchanges` what went through, in order.
    """

    def __init__(self, upstream: str, drop: Callable[[Exchange], bool]) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname and parts.port, upstream
        self._upstream = (parts.hostname, parts.port)
        self._drop = drop
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._open: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="answer-drop-proxy").start()

    def close(self) -> None:
        """Stop accepting and close every connection."""
        with self._lock:
            self._closed = True
            sockets = list(self._open)
        self._server.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self) -> AnswerDropProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, *sockets: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._open.update(sockets)
            return True

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._upstream)
        except OSError:
            client.close()
            return
        if not self._track(client, upstream):
            client.close()
            upstream.close()
            return
        from_client = client.makefile("rb")
        from_upstream = upstream.makefile("rb")
        try:
            while True:
                head = _read_head(from_client)
                if head is None:
                    return
                body = from_client.read(_length(head)) if _length(head) else b""
                upstream.sendall(head + body)
                answer_head = _read_head(from_upstream)
                if answer_head is None:
                    return
                size = _length(answer_head)
                answer = from_upstream.read(size) if size else b""
                method, path = head.split(b" ", 2)[:2]
                exchange = Exchange(method.decode(), path.decode(), body,
                                    int(answer_head.split(b" ", 2)[1]), answer)
                dropped = self._drop(exchange)
                with self._lock:
                    self.exchanges.append(
                        Exchange(**{**exchange.__dict__, "dropped": dropped}))
                if dropped:
                    return  # the controller answered; the client never hears it
                client.sendall(answer_head + answer)
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(client)
                self._open.discard(upstream)
            from_client.close()
            from_upstream.close()
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

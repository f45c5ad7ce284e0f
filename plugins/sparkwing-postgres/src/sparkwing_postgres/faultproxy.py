"""A TCP proxy in front of PostgreSQL that can lose a commit's acknowledgement, for tests.

:class:`LostAckProxy` forwards connections from a loopback port to the
server. Once :meth:`~LostAckProxy.arm`-ed, the next transaction that ends
on any of its connections (the server's ``ReadyForQuery`` with status
*idle*, sent after the commit) is not passed on: the proxy closes both
sides instead. The server has committed; the client sees its connection
drop without a result, which is what a network failure or a crash of the
server's host right after a commit looks like to it.

It reads the server's side of the wire protocol only as far as message
boundaries (a type byte and a 32-bit length); it never changes a byte.
Nothing here is used by the store itself.

Example::

    with LostAckProxy(cluster.port) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
        ...
        proxy.arm()       # the next commit's acknowledgement is lost
        store.append_event(...)
        assert proxy.dropped == 1
"""

from __future__ import annotations

import socket
import struct
import threading

#: Request codes a client may send before its startup message; the server answers
#: each with a single untyped byte.
_SSL_REQUEST, _GSSENC_REQUEST = 80877103, 80877104


class _Link:
    """One proxied connection: client socket, server socket, and the server-side parser."""

    def __init__(self, proxy: LostAckProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.untyped_replies = 0  # single-byte answers to SSL/GSS requests still to come
        self.started = False  # the startup phase ended (first ReadyForQuery seen)
        self.closed = False
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def client_to_server(self) -> None:
        first = True
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                if first and len(data) >= 8:
                    code = struct.unpack("!I", data[4:8])[0]
                    if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                        self.untyped_replies += 1
                        first = True  # the startup message (or another request) follows
                    else:
                        first = False
                self.server.sendall(data)
        except OSError:
            pass
        finally:
            self.close()

    def server_to_client(self) -> None:
        buf = b""
        held = b""  # complete messages of the current response, passed on at its end
        try:
            while True:
                data = self.server.recv(65536)
                if not data:
                    break
                buf += data
                while True:
                    if self.untyped_replies and buf:
                        self.untyped_replies -= 1
                        self.client.sendall(buf[:1])
                        buf = buf[1:]
                        continue
                    if len(buf) < 5:
                        break
                    kind = buf[:1]
                    size = struct.unpack("!I", buf[1:5])[0]
                    if len(buf) < 1 + size:
                        break
                    message, buf = buf[:1 + size], buf[1 + size:]
                    if not self.started:
                        self.client.sendall(message)
                        self.started = kind == b"Z"
                        continue
                    held += message
                    if kind != b"Z":
                        continue
                    if message[5:6] == b"I" and self.proxy._take_arm():
                        self.close()  # committed on the server; the client never hears of it
                        return
                    self.client.sendall(held)
                    held = b""
        except OSError:
            pass
        finally:
            self.close()


class LostAckProxy:
    """Forwards ``127.0.0.1:port`` to a PostgreSQL server on ``127.0.0.1:target_port``.

    :meth:`arm` makes it drop the connection of the next transaction to
    end, after the server committed it and before the client learns so;
    :attr:`dropped` counts the connections it dropped that way.
    """

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self.dropped = 0
        self._armed = 0
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="lost-ack-proxy", daemon=True)
        self._thread.start()

    def __enter__(self) -> LostAckProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def arm(self, times: int = 1) -> None:
        """Lose the acknowledgement of the next *times* transactions to end."""
        with self._lock:
            self._armed += times

    @property
    def armed(self) -> int:
        """How many acknowledgements are still to be lost."""
        with self._lock:
            return self._armed

    def _take_arm(self) -> bool:
        with self._lock:
            if not self._armed:
                return False
            self._armed -= 1
            self.dropped += 1
            return True

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, client, server)
            with self._lock:
                if self._closed:
                    link.close()
                    return
                self._links.append(link)
            for target in (link.client_to_server, link.server_to_client):
                threading.Thread(target=target, name="lost-ack-proxy-link", daemon=True).start()

    def close(self) -> None:
        """Stop accepting and close every proxied connection."""
        with self._lock:
            self._closed = True
            links, self._links = self._links, []
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        for link in links:
            link.close()
        self._thread.join(timeout=5)

"""A local S3 server for tests and benchmarks: moto's threaded server on loopback.

Needs the ``test`` extra (``pip install 'sparkwing-s3[test]'``)::

    with MotoS3() as s3:
        s3.create_bucket("team-ci")
        profile_block = {"type": "s3", "bucket": "team-ci", "endpoint_url": s3.endpoint_url}

moto accepts any credentials; :data:`CREDENTIALS` are the ones the tests put
in the environment. The server runs in threads of the calling process.
:meth:`MotoS3.pause` and :meth:`MotoS3.resume` take it off the network and
bring it back on the same port with the same objects (outage tests).

moto checks ``If-Match`` / ``If-None-Match`` and then stores the object
without holding a lock, so two conditional writes racing each other can
both succeed (seen: a compare-and-swap counter losing updates). S3 itself
decides such races atomically; to behave like it, this server lets one
writing request (PUT, POST, DELETE) run at a time. Reads stay concurrent.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparkwing.storage.blobs.artifacts import BlobArtifactStore
    from sparkwing.storage.blobs.logs import BlobLogStore
    from sparkwing.storage.blobs.state import BlobStateStore

    from .settings import S3Settings
    from .store import S3BlobStore

#: Environment for boto3 talking to the local server (moto accepts any keys).
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "sparkwing-test",
    "AWS_SECRET_ACCESS_KEY": "sparkwing-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


_WRITES = frozenset({"PUT", "POST", "DELETE", "PATCH"})


class _OneWriterAtATime:
    """WSGI middleware: writing requests take a lock, so moto's check-then-store is atomic."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") not in _WRITES:
            return self.app(environ, start_response)
        with self.lock:
            # Drain the response inside the lock: the write happens while it is built.
            return list(self.app(environ, start_response))


class _OpenConnections:
    """The client sockets a server is talking to, so an outage can cut them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()

    def add(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.add(sock)

    def discard(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(sock)

    def close_all(self) -> None:
        """Shut down every open connection (the handler threads then end)."""
        with self.lock:
            open_now = list(self.sockets)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _tracking_handler(base: type[Any], connections: _OpenConnections) -> type[Any]:
    """*base* (a request handler class) that records its connection while it is open."""

    class TrackedHandler(base):  # type: ignore[misc]
        def setup(self) -> None:
            super().setup()
            connections.add(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                connections.discard(self.connection)

    return TrackedHandler


class MotoS3:
    """moto's S3 server on ``127.0.0.1`` (a free port); a context manager."""

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self._connections = _OpenConnections()
        self.port = 0
        self.endpoint_url = ""

    def start(self) -> MotoS3:
        """Start the server on a free port; raise when it does not come up."""
        # werkzeug logs every request at INFO; the tests' output stays readable without it.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self._app = _OneWriterAtATime(DomainDispatcherApplication(create_backend_app))
        self._serve(0)
        return self

    def _serve(self, port: int) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        handler = _tracking_handler(MotoRequestHandler, self._connections)
        server = make_server("127.0.0.1", port, self._app, threaded=True,
                             request_handler=handler)
        self._thread = threading.Thread(target=server.serve_forever, name="moto-s3",
                                        daemon=True)
        self._thread.start()
        self._server = server
        self.port = int(server.server_address[1])
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def pause(self) -> None:
        """Make the server unreachable, keeping its buckets: a real outage for clients.

        The listening socket is closed (new connections are refused) and every
        open connection is shut down (a kept-alive client connection fails on
        its next request). The objects stay in moto's in-process backend;
        :meth:`resume` serves them again on the same port.
        """
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        self._connections.close_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def resume(self) -> None:
        """Serve again after :meth:`pause`, on the same port and with the same objects."""
        if self._server is None:
            self._serve(self.port)

    def client(self) -> Any:
        """A boto3 client for the server (for setting up buckets)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str) -> str:
        """Create bucket *name* and return it."""
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        finally:
            client.close()
        return name

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        self.pause()

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- sparkwing's stores over this backend, as picklable factories ------------------------
# (functools.partial(state_store, settings) can be sent to the spawned processes of
# the conformance suites' multi-process tests).


def blob_store(settings: S3Settings) -> S3BlobStore:
    """A :class:`~sparkwing_s3.store.S3BlobStore` (imports the SDK)."""
    from .store import S3BlobStore

    return S3BlobStore(settings)


def state_store(settings: S3Settings) -> BlobStateStore:
    """sparkwing's state store over this backend."""
    from sparkwing.storage.blobs.state import BlobStateStore

    return BlobStateStore(blob_store(settings))


def log_store(settings: S3Settings, **options: Any) -> BlobLogStore:
    """sparkwing's log store over this backend (*options*: part size, flush interval)."""
    from sparkwing.storage.blobs.logs import BlobLogStore

    return BlobLogStore(blob_store(settings), **options)


def artifact_store(settings: S3Settings) -> BlobArtifactStore:
    """sparkwing's artifact store over this backend."""
    from sparkwing.storage.blobs.artifacts import BlobArtifactStore

    return BlobArtifactStore(blob_store(settings))

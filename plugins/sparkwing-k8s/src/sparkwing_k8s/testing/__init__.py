"""A fake Kubernetes API server for tests and for trying the ``k8s`` executor without a cluster.

It speaks the REST paths the executor uses (Jobs, Pods, pod logs, Secrets,
``/version``) with complete objects the official client accepts, and runs
each Job's pod as a local subprocess, so logs and exit codes are real. It
can simulate OOM kills, image pull failures, evictions, lost nodes, slow
scheduling and deadlines (see :mod:`.simulate`).

From Python::

    with FakeKubernetes(image_root=project_dir) as fake:
        fake.write_kubeconfig(tmp / "kubeconfig")
        ...

From a shell: ``python -m sparkwing_k8s.testing serve --port 8001 --kubeconfig ./kubeconfig``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from .cluster import FakeCluster
from .simulate import ANNOTATION, ANNOTATION_AFTER, FAILURES
from .store import HISTORY

__all__ = ["ANNOTATION", "ANNOTATION_AFTER", "FAILURES", "FakeCluster", "FakeKubernetes",
           "kubeconfig_text"]

T = TypeVar("T")

#: Bearer token the fake expects by default (written into the kubeconfig).
DEFAULT_TOKEN = "sparkwing-fake-token"


def kubeconfig_text(server: str, token: str, namespace: str = "default",
                    ca_pem: bytes | None = None) -> str:
    """A kubeconfig (YAML) with one context pointing at *server* (trusting *ca_pem* for TLS)."""
    import base64

    import yaml

    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "sparkwing-fake", "cluster": cluster}],
        "users": [{"name": "sparkwing-fake", "user": {"token": token}}],
        "contexts": [{"name": "sparkwing-fake", "context": {
            "cluster": "sparkwing-fake", "user": "sparkwing-fake", "namespace": namespace}}],
        "current-context": "sparkwing-fake",
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


class FakeKubernetes:
    """The fake API server on its own thread and event loop (start/stop from any thread)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, token: str = DEFAULT_TOKEN,
                 image_root: Path | None = None, image_env: Mapping[str, str] | None = None,
                 missing_images: list[str] | None = None, tls: bool = False,
                 history: int = HISTORY) -> None:
        self.host = host
        self.history = history
        self.tls = tls
        self.cert_pem: bytes | None = None
        self.port = port
        self.token = token
        self.image_root = image_root
        self.image_env = image_env
        self.missing_images = list(missing_images or [])
        self.cluster: FakeCluster | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """``http[s]://host:port`` of the running server."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeKubernetes:
        """Start serving; returns once the port is bound."""
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, args=(ready,), daemon=True,
                                        name="fake-kubernetes")
        self._thread.start()
        ready.result(timeout=30)
        return self

    def _main(self, ready: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # report start-up failures to start()
            if not ready.done():
                ready.set_exception(exc)
        finally:
            loop.close()

    async def _serve(self, ready: Future[None]) -> None:
        await self.serve_until_stopped(lambda: ready.set_result(None))

    async def serve_until_stopped(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve on the current event loop until :meth:`stop` (or :meth:`request_stop`)."""
        from aiohttp import web

        from .server import make_app

        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self.cluster = FakeCluster(image_root=self.image_root, image_env=self.image_env,
                                   missing_images=self.missing_images, history=self.history)
        app = make_app(self.cluster, self.token)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.25)
        await self._runner.setup()
        ssl_context = None
        if self.tls:
            from .tls import self_signed

            ssl_context, self.cert_pem = await asyncio.to_thread(self_signed, self.host)
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True,
                           ssl_context=ssl_context)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        if on_ready is not None:
            on_ready()
        try:
            await self._stopped.wait()
        finally:
            await self._runner.cleanup()

    def request_stop(self) -> None:
        """Ask the server to stop (thread-safe, returns at once)."""
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)

    def stop(self) -> None:
        """Stop the server, kill every pod's process, join the thread."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def __enter__(self) -> FakeKubernetes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers --------------------------------------------------------------------------
    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """Write a kubeconfig pointing at this server; return *path*."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(kubeconfig_text(self.url, self.token, namespace, self.cert_pem),
                        encoding="utf-8")
        return path

    def run(self, fn: Callable[[FakeCluster], T]) -> T:
        """Call ``fn(cluster)`` on the server's loop (thread-safe) and return its result."""
        assert self._loop is not None and self.cluster is not None, "server not started"
        cluster = self.cluster

        async def call() -> T:
            return fn(cluster)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=30)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API (``/fake/v1/...``) and return the decoded JSON (or ``None``)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        context = None
        if self.cert_pem is not None:
            import ssl

            context = ssl.create_default_context(cadata=self.cert_pem.decode())
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def calls(self) -> list[dict[str, str]]:
        """The API calls recorded so far (verb, group, resource, subresource, ...)."""
        return list(self.admin("GET", "/fake/v1/calls")["calls"])

    def simulate(self, failure: str, *, selector: str = "", image: str = "",
                 after_s: float | None = None, count: int | None = None) -> dict[str, Any]:
        """Add a simulation rule (see :mod:`.simulate`)."""
        body: dict[str, Any] = {"failure": failure, "selector": selector, "image": image}
        if after_s is not None:
            body["after_s"] = after_s
        if count is not None:
            body["count"] = count
        return dict(self.admin("POST", "/fake/v1/simulations", body))

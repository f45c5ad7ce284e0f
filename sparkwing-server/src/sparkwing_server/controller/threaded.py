"""A controller served from a background thread of this process (tests, embedding).

``sparkwing controller serve`` is the way to run a controller; this serves
the same application (:func:`~.app.make_app`) on a loopback port from a
thread with its own event loop, so a test can talk to a real controller
with real stores without a subprocess per test.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web
    from sparkwing.config import Stores

    from .leases import LeaseSettings
    from .tokens import TokenStore

#: Seconds to wait for the server thread to start or stop.
START_TIMEOUT_S = 60.0


class ThreadedController:
    """Serve *stores* (with *tokens*) on ``127.0.0.1`` from a thread; use as a context manager.

    :attr:`url` is set once :meth:`start` returns, which is after the reaper's
    first tick (what a test writes next is not swept until the next one). The stores and the token
    store stay the caller's to close.
    """

    def __init__(self, stores: Stores, tokens: TokenStore, *, require_auth: bool = False,
                 leases: LeaseSettings | None = None, port: int = 0) -> None:
        self.stores = stores
        self.tokens = tokens
        self.require_auth = require_auth
        #: Lease length and reaper tick (``None``: the defaults of ``controller serve``).
        self.leases = leases
        #: The loopback port to listen on (0: any free one).
        self.port = port
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self) -> str:
        """Start serving; return the base URL."""
        self._thread = threading.Thread(target=self._main, name="sw-controller", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the threaded controller did not start")
        if self._error is not None:
            raise RuntimeError(f"the threaded controller failed: {self._error}")
        return self.url

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start() or swallowed at stop
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from aiohttp import web

        from ..requestguard import RequestPolicy
        from .app import make_app
        from .context import ControllerContext

        ctx = ControllerContext(self.stores, self.tokens, RequestPolicy.for_listener("127.0.0.1"),
                                require_auth=self.require_auth)
        if self.leases is not None:
            ctx.leases = self.leases
        runner: web.AppRunner = web.AppRunner(make_app(ctx), handle_signals=False,
                                              access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        sock.setblocking(False)
        await web.SockSite(runner, sock).start()
        # Ready once the start-up sweep is done: a run a test creates with an old heartbeat must
        # not meet it (the next tick is a whole reaper interval away).
        await asyncio.wait_for(ctx.swept.wait(), START_TIMEOUT_S)
        port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(START_TIMEOUT_S)
        self._loop = None

    def __enter__(self) -> ThreadedController:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

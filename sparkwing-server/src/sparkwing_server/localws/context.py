"""What every dashboard handler shares: the stores, the settings, and how store calls run."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from aiohttp import web

from ..offload import run_in_pool
from .changes import Changes

if TYPE_CHECKING:
    from sparkwing.config import Stores
    from sparkwing.storage.contracts import LogStore, StateStore
    from sparkwing.triggers.contracts import RunRequest
    from sparkwing.triggers.request import DispatchResult

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(slots=True)
class ServerOptions:
    """Tunables of the dashboard (defaults suit interactive use)."""

    #: How often an events stream looks for new events (seconds).
    events_poll_s: float = 0.25
    #: How often a log stream looks for new lines (seconds).
    logs_poll_s: float = 0.05
    #: How often the runs-list stream re-reads the list (seconds).
    runs_poll_s: float = 0.5
    #: Seconds of silence after which a stream sends a ``: keepalive`` comment.
    keepalive_s: float = 15.0
    #: Events read per store call while streaming.
    events_page: int = 500
    #: Largest page of runs one request may ask for.
    max_runs_limit: int = 500
    #: Run store calls on dedicated worker threads (else on the event loop).
    threaded_stores: bool = True
    #: How often orphaned runs are reconciled (seconds; 0 disables; never when read-only).
    reconcile_every_s: float = 5.0
    #: How long ``POST .../retry`` waits for the new run to be recorded before answering.
    retry_start_wait_s: float = 15.0
    #: How often the project's ``on.schedule`` entries are checked (seconds; each minute
    #: is ticked once; 0 disables; never when read-only or without a project).
    schedule_every_s: float = 15.0
    #: With a live change feed (PostgreSQL LISTEN/NOTIFY), streams re-read at least this often.
    notify_poll_s: float = 5.0


@dataclass
class ServerContext:
    """The dashboard's stores and settings; plugins receive it in ``sparkwing_add_server_routes``.

    ``stores`` are the opened :class:`sparkwing.config.Stores`. Store methods are
    synchronous; handlers call them through :meth:`state_call` and
    :meth:`logs_call`, which run them on one worker thread per store so the
    event loop never waits on SQLite or the disk.
    """

    stores: Stores
    read_only: bool = False
    options: ServerOptions = field(default_factory=ServerOptions)
    #: The project the dashboard was started in: its schedules are ticked (``None``: none).
    project_root: Path | None = None
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    #: Wake-ups from the state store's change feed (see :mod:`.changes`).
    changes: Changes = field(default_factory=Changes)
    _state_pool: ThreadPoolExecutor | None = None
    _logs_pool: ThreadPoolExecutor | None = None

    @property
    def state(self) -> StateStore:
        """The :class:`~sparkwing.storage.contracts.StateStore`."""
        return self.stores.state

    @property
    def logs(self) -> LogStore:
        """The :class:`~sparkwing.storage.contracts.LogStore`."""
        return self.stores.logs

    @property
    def profile_name(self) -> str:
        """Name of the resolved profile the stores came from ("" when unknown)."""
        return self.stores.resolved.name

    def start(self) -> None:
        """Create the worker threads and start the change feed (when the application starts)."""
        if self.options.threaded_stores and self._state_pool is None:
            self._state_pool = ThreadPoolExecutor(1, thread_name_prefix="sw-state")
            self._logs_pool = ThreadPoolExecutor(2, thread_name_prefix="sw-logs")
        self.changes.start(self.state)

    def stop(self) -> None:
        """Stop the change feed and the worker threads (when the application shuts down)."""
        self.changes.stop()
        for pool in (self._state_pool, self._logs_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._state_pool = self._logs_pool = None

    async def dispatch(self, request: RunRequest) -> DispatchResult:
        """Queue *request* under its idempotency key and start a process to run it.

        The row is recorded ``pending`` in this server's state store (a key
        seen before returns the first request's row and starts nothing);
        a new row is then claimed and run by a detached ``sparkwing
        triggers run --id ID`` in the request's directory (else the
        dashboard's project), so the run outlives the HTTP request.
        """
        from sparkwing.triggers.dispatch import dispatch

        result = await self.state_call(dispatch, request, queue=True, state=self.state)
        if result.created:
            await self.logs_call(self.start_worker, request, result.row.id)
        return result

    def start_worker(self, request: RunRequest, trigger_id: str) -> None:
        """Start ``sparkwing triggers run --id ID`` detached (nothing when the CLI is missing)."""
        from .launcher import cli_available, sparkwing_argv, start_detached

        if not cli_available():
            return
        args = ["triggers", "run", "--id", trigger_id, "-o", "json"]
        if self.profile_name:
            args += ["--profile", self.profile_name]
        cwd = request.workdir or self.project_root or Path.cwd()
        start_detached(sparkwing_argv(*args), str(cwd)).release()

    async def state_call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one state-store call off the event loop and return its result."""
        return await run_in_pool(self._state_pool, functools.partial(fn, *args, **kwargs))

    async def logs_call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one log-store call (or other file work) off the event loop."""
        return await run_in_pool(self._logs_pool, functools.partial(fn, *args, **kwargs))


#: Application key under which the :class:`ServerContext` is stored.
CONTEXT_KEY: web.AppKey[ServerContext] = web.AppKey("sparkwing_context", ServerContext)


def context_of(request: web.Request) -> ServerContext:
    """Return the :class:`ServerContext` of the application serving *request*."""
    return request.app[CONTEXT_KEY]

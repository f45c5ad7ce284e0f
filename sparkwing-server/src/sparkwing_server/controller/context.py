"""What every controller handler shares: the stores, the token table, the auth mode, counters."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from aiohttp import web

from ..offload import run_in_pool
from ..requestguard import RequestPolicy
from .leases import LeaseSettings
from .loginlimit import LoginLimiter
from .metrics import Metrics
from .secretstore import SecretStore
from .tokens import TokenStore
from .users import DEFAULT_SESSION_TTL_S, UserStore

if TYPE_CHECKING:
    from sparkwing.config import Stores
    from sparkwing.storage.contracts import LogStore, StateStore
    from sparkwing.storage.nodequeue import NodeQueue
    from sparkwing.triggers.contracts import RunRequest
    from sparkwing.triggers.dispatch import DispatchResult

T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class ControllerContext:
    """The controller's stores and settings (a :class:`sparkwing.plugins.context.ServerContext`).

    Auth is **enforced** when the controller was started with
    ``--require-auth`` or when its store holds a live token or a login
    user; a controller started open becomes enforcing on the first request
    after a token or user is created, and never goes back to open while it
    runs.
    """

    stores: Stores
    tokens: TokenStore
    policy: RequestPolicy
    require_auth: bool = False
    #: ``{"logs": URL, "cache_pod": URL}`` for ``GET /api/v1/services`` (empty: 404).
    services: dict[str, str] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    #: How long a login session lasts (seconds).
    session_ttl_s: float = DEFAULT_SESSION_TTL_S
    #: Mark the session cookie ``Secure`` even on plain-HTTP requests (behind a TLS proxy).
    secure_cookies: bool = False
    #: Failed logins per user and per address (see :mod:`.loginlimit`).
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    #: Login users and sessions, over the token table's database handle.
    users: UserStore = field(init=False)
    #: The node claim queue in the state database (``None``: the node queue routes answer 503).
    nodes: NodeQueue | None = None
    #: Lease length, reaper tick and queue timeout (:mod:`.leases`).
    leases: LeaseSettings = field(default_factory=LeaseSettings)
    #: The secrets table (``None`` or without a keyring: the secrets routes answer 503).
    secrets: SecretStore | None = None
    #: Set once the reaper's first tick has run (or failed): what was stale at start-up is swept.
    swept: asyncio.Event = field(default_factory=asyncio.Event)
    _enforcing: bool = False
    _state_pool: ThreadPoolExecutor | None = None
    _token_pool: ThreadPoolExecutor | None = None
    _queue_pool: ThreadPoolExecutor | None = None
    _blob_pool: ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        self.users = UserStore(self.tokens.db)

    @property
    def state(self) -> StateStore:
        """The state store of the controller's profile."""
        return self.stores.state

    @property
    def logs(self) -> LogStore:
        """The log store of the controller's profile."""
        return self.stores.logs

    @property
    def profile_name(self) -> str:
        """The profile the controller serves."""
        return self.stores.resolved.name

    def start(self) -> None:
        """Create the worker threads store calls run on."""
        self._state_pool = ThreadPoolExecutor(1, thread_name_prefix="sw-ctl-state")
        self._token_pool = ThreadPoolExecutor(2, thread_name_prefix="sw-ctl-tokens")
        self._queue_pool = ThreadPoolExecutor(2, thread_name_prefix="sw-ctl-queue")
        self._blob_pool = ThreadPoolExecutor(4, thread_name_prefix="sw-ctl-blobs")
        self._enforcing = self.require_auth or self._has_credentials()

    def stop(self) -> None:
        """Stop the worker threads."""
        for pool in (self._state_pool, self._token_pool, self._queue_pool, self._blob_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._state_pool = self._token_pool = self._queue_pool = self._blob_pool = None

    async def auth_enforced(self) -> bool:
        """Whether requests must carry a valid token or session (latches on, see the class)."""
        if not self._enforcing:
            self._enforcing = await self.token_call(self._has_credentials)
        return self._enforcing

    def _has_credentials(self) -> bool:
        return self.tokens.has_live() or self.users.has_any()

    @property
    def auth_mode(self) -> str:
        """``enabled`` or ``disabled``, as ``/api/v1/health`` reports it."""
        return "enabled" if self._enforcing else "disabled"

    async def dispatch(self, request: RunRequest) -> DispatchResult:
        """Record *request* under its idempotency key as a ``pending`` trigger row for a runner."""
        from sparkwing.triggers.dispatch import dispatch

        return await self.state_call(dispatch, request, queue=True, state=self.state)

    async def state_call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one state-store call off the event loop."""
        return await run_in_pool(self._state_pool, functools.partial(fn, *args, **kwargs))

    async def queue_call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one node-queue call off the event loop."""
        return await run_in_pool(self._queue_pool, functools.partial(fn, *args, **kwargs))

    async def blob_call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one artifact-store call off the event loop (its own threads: a large
        upload to an object store does not hold up state calls)."""
        return await run_in_pool(self._blob_pool, functools.partial(fn, *args, **kwargs))

    async def token_call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one token- or secrets-table call (argon2 included) off the event loop."""
        return await run_in_pool(self._token_pool, functools.partial(fn, *args, **kwargs))


#: Application key of the :class:`ControllerContext`.
CONTEXT_KEY: web.AppKey[ControllerContext] = web.AppKey("sparkwing_controller", ControllerContext)


def context_of(request: web.Request) -> ControllerContext:
    """The :class:`ControllerContext` of the application serving *request*."""
    return request.app[CONTEXT_KEY]

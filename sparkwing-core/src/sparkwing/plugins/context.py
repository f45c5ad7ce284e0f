"""The protocol servers hand to plugins: what a route added by a plugin may use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..storage.contracts import LogStore, StateStore
    from ..triggers.request import DispatchResult, RunRequest


@runtime_checkable
class ServerContext(Protocol):
    """A running sparkwing server (the local dashboard or the controller) as plugins see it."""

    @property
    def state(self) -> StateStore:
        """The server's state store (calls are synchronous; run them off the event loop)."""
        ...

    @property
    def logs(self) -> LogStore:
        """The server's log store."""
        ...

    @property
    def profile_name(self) -> str:
        """The profile the server was started with."""
        ...

    async def dispatch(self, request: RunRequest) -> DispatchResult:
        """Hand a run request to the one dispatch function (idempotent by its key)."""
        ...

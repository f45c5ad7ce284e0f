"""The trigger contract: a source turns an outside event into a :class:`RunRequest`.

Every request reaches one function, :func:`sparkwing.triggers.dispatch.dispatch`,
which records it in the state store's ``triggers`` table under its
idempotency key (a key seen before starts nothing and returns the first
request's row) and then starts the run through
:func:`sparkwing.runs.start.start_run` or leaves it queued for a runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .request import RunRequest, TriggerMeta

if TYPE_CHECKING:
    from aiohttp import web

    from ..plugins.context import ServerContext

__all__ = ["RunRequest", "TriggerContext", "TriggerMeta", "TriggerSource"]


@runtime_checkable
class TriggerSource(Protocol):
    """A source of run requests (a webhook receiver, a scheduler, the CLI)."""

    #: The name it is registered under; becomes ``TriggerMeta.source``.
    name: str

    def add_routes(self, app: web.Application, context: ServerContext) -> None:
        """Add this source's HTTP routes to a server application (may add none).

        Route handlers build :class:`RunRequest` values and hand them to
        ``context.dispatch(request)``.
        """
        ...


@dataclass(slots=True)
class TriggerContext:
    """What a trigger source factory may need."""

    home: Path
    profile: str = "laptop"

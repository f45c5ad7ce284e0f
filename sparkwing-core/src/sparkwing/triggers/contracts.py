"""The trigger contract: a source turns an outside event into a :class:`RunRequest`.

Every request reaches one function, :func:`sparkwing.triggers.dispatch.dispatch`,
which records it in the state store's ``triggers`` table under its
idempotency key (a key seen before starts nothing and returns the first
request's row) and then starts the run through
:func:`sparkwing.runs.start.start_run` or leaves it queued for a runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aiohttp import web

    from ..plugins.context import ServerContext


@dataclass(slots=True)
class TriggerMeta:
    """Who and what started a run (stored on the run and on its trigger row)."""

    #: The source's registered name: ``manual``, ``git-hook``, ``schedule``, ``github``, ...
    source: str = "manual"
    actor: str = ""
    #: The source's own event name (``push``, ``pull_request``, ``pre_push``, ``cron``).
    event: str = ""
    #: The delivery's own id when the source has one (GitHub's ``X-GitHub-Delivery``).
    delivery_id: str = ""
    #: Anything else the source wants recorded (PR number, head repo, schedule expression).
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


@dataclass(slots=True)
class RunRequest:
    """A request to run one pipeline: what a trigger produces and ``start_run`` consumes."""

    pipeline: str
    #: Pipeline inputs by flag name, as strings or typed values; validated against
    #: the pipeline's inputs class when the run starts.
    inputs: Mapping[str, Any] = field(default_factory=dict)
    git_ref: str = ""
    git_sha: str = ""
    trigger: TriggerMeta = field(default_factory=TriggerMeta)
    #: Idempotency key: a second request with the same key starts no run.
    #: Empty means "always a new request" (the CLI).
    idempotency_key: str = ""
    #: Project directory (holding ``.sparkwing/``); empty: the current directory.
    workdir: Path | None = None
    #: Profile name; empty: resolved as ``sparkwing run`` resolves it.
    profile: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the ``request`` column of a trigger row)."""
        d = asdict(self)
        d["workdir"] = str(self.workdir) if self.workdir is not None else ""
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunRequest:
        """Rebuild a request from :meth:`to_dict`'s output."""
        trig = d.get("trigger") or {}
        return cls(
            pipeline=str(d["pipeline"]),
            inputs=dict(d.get("inputs") or {}),
            git_ref=str(d.get("git_ref") or ""),
            git_sha=str(d.get("git_sha") or ""),
            trigger=TriggerMeta(**trig),
            idempotency_key=str(d.get("idempotency_key") or ""),
            workdir=Path(d["workdir"]) if d.get("workdir") else None,
            profile=str(d.get("profile") or ""),
        )


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

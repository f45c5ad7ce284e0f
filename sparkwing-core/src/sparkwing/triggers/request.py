"""A run request: what a trigger produces and ``start_run`` consumes (plain data).

Also what :func:`sparkwing.triggers.dispatch.dispatch` answers
(:class:`DispatchResult`). Kept apart from :mod:`sparkwing.triggers.contracts`
(which re-exports the request classes) and from the dispatch module so that
what only needs these, such as the server context plugins get, imports
neither the trigger source contract nor the dispatcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..slotted import Slotted

if TYPE_CHECKING:
    from ..storage.records import Run, TriggerRow


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


class DispatchResult(Slotted):
    """What :func:`dispatch` did with one request.

    ``row`` is the trigger row as recorded (for a duplicate: the first
    request's row); ``created`` is ``True`` when this call recorded the
    request, ``False`` when its key was seen before; ``run`` is the finished
    run when this call started (and ran) one.
    """

    __slots__ = ("created", "row", "run")

    def __init__(self, row: TriggerRow, created: bool, run: Run | None = None) -> None:
        self.row = row
        self.created = created
        self.run = run

    @property
    def duplicate(self) -> bool:
        """The key was seen before: nothing was started."""
        return not self.created

    def describe(self) -> str:
        """One line for people: what happened to the request."""
        row = self.row
        if self.duplicate:
            what = f"run {row.run_id}" if row.run_id else f"status {row.status}"
            return (f"duplicate request (key {row.idempotency_key}) already recorded as trigger "
                    f"{row.id} ({what}); no run started")
        if self.run is not None:
            return f"trigger {row.id} started run {self.run.id} ({self.run.status})"
        return f"trigger {row.id} queued ({row.status})"

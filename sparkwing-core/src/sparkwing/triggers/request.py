"""A run request: what a trigger produces and ``start_run`` consumes (plain data).

Kept apart from :mod:`sparkwing.triggers.contracts` (which re-exports both
classes) so that what only needs the request, such as the server context
plugins get, does not import the trigger source contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


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

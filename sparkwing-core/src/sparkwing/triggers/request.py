"""A run request: what a trigger produces and ``start_run`` consumes (plain data).

Also what :func:`sparkwing.triggers.dispatch.dispatch` answers
(:class:`DispatchResult`). Kept apart from :mod:`sparkwing.triggers.contracts`
(which re-exports the request classes) and from the dispatch module so that
what only needs these, such as the server context plugins get, imports
neither the trigger source contract nor the dispatcher.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..slotted import Slotted

if TYPE_CHECKING:
    from ..storage.records import Run, TriggerRow


def current_user() -> str:
    """Who is acting on this machine: ``$USER`` (or ``$LOGNAME``), else the login name, else ``unknown``."""
    for var in ("USER", "LOGNAME"):
        user = os.environ.get(var, "").strip()
        if user:
            return user
    try:  # pwd, not getpass: getpass loads termios, a cost on every `sparkwing run`
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return "unknown"


class TriggerMeta(Slotted):
    """Who and what started a run (stored on the run and on its trigger row)."""

    __slots__ = ("actor", "delivery_id", "event", "extra", "source")

    def __init__(
        self,
        source: str = 'manual',
        actor: str = "",
        event: str = "",
        delivery_id: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        #: The source's registered name: ``manual``, ``git-hook``, ``schedule``, ``github``, ...
        self.source = source
        self.actor = actor
        #: The source's own event name (``push``, ``pull_request``, ``pre_push``, ``cron``).
        self.event = event
        #: The delivery's own id when the source has one (GitHub's ``X-GitHub-Delivery``).
        self.delivery_id = delivery_id
        #: Anything else the source wants recorded (PR number, head repo, schedule expression).
        self.extra: dict[str, Any] = {} if extra is None else extra

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``extra`` copied deeply)."""
        return {"source": self.source, "actor": self.actor, "event": self.event,
                "delivery_id": self.delivery_id, "extra": deepcopy(self.extra)}


class RunRequest(Slotted):
    """A request to run one pipeline: what a trigger produces and ``start_run`` consumes."""

    __slots__ = (
        "git_ref",
        "git_sha",
        "idempotency_key",
        "inputs",
        "pipeline",
        "profile",
        "trigger",
        "workdir",
    )

    def __init__(
        self,
        pipeline: str,
        inputs: Mapping[str, Any] | None = None,
        git_ref: str = "",
        git_sha: str = "",
        trigger: TriggerMeta | None = None,
        idempotency_key: str = "",
        workdir: Path | None = None,
        profile: str = "",
    ) -> None:
        self.pipeline = pipeline
        #: Pipeline inputs by flag name, as strings or typed values; validated against
        #: the pipeline's inputs class when the run starts.
        self.inputs: Mapping[str, Any] = {} if inputs is None else inputs
        self.git_ref = git_ref
        self.git_sha = git_sha
        self.trigger: TriggerMeta = TriggerMeta() if trigger is None else trigger
        #: Idempotency key: a second request with the same key starts no run.
        #: Empty means "always a new request" (the CLI).
        self.idempotency_key = idempotency_key
        #: Project directory (holding ``.sparkwing/``); empty: the current directory.
        self.workdir = workdir
        #: Profile name; empty: resolved as ``sparkwing run`` resolves it.
        self.profile = profile

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the ``request`` column of a trigger row)."""
        return {"pipeline": self.pipeline, "inputs": deepcopy(dict(self.inputs)),
                "git_ref": self.git_ref, "git_sha": self.git_sha,
                "trigger": self.trigger.to_dict(), "idempotency_key": self.idempotency_key,
                "workdir": str(self.workdir) if self.workdir is not None else "",
                "profile": self.profile}

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

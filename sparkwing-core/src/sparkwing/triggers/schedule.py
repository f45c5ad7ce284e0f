"""The ``schedule`` trigger: ``on.schedule`` cron entries turned into run requests.

A tick looks at one UTC minute: every ``{cron: EXPR}`` of every pipeline
of a project whose expression matches that minute (croniter decides) gives
one :class:`~sparkwing.triggers.contracts.RunRequest` with source
``schedule``, event ``cron`` and the idempotency key
:func:`~sparkwing.triggers.keys.schedule_key` (project, pipeline,
expression, minute). Dispatching them therefore starts each scheduled run
once, however many ticks look at that minute: ``sparkwing triggers tick``
from a system timer, the dashboard's loop, or both.

Schedules are evaluated in UTC. A minute nobody ticked is not caught up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import SparkwingError, UsageError
from .contracts import RunRequest, TriggerMeta
from .keys import schedule_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..config import ProjectConfig
    from ..runs.start import StartOptions


def parse_now(text: str) -> datetime:
    """Parse an ISO-8601 time (``2026-01-05T03:00``, ``...Z``, ``...+02:00``); naive means UTC."""
    raw = text.strip()
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise UsageError(
            f"--now {text!r} is not an ISO-8601 time (e.g. 2026-01-05T03:00:00Z)") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def minute_of(when: datetime) -> datetime:
    """*when* in UTC with seconds and microseconds dropped."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(second=0, microsecond=0)


def schedules(project: ProjectConfig) -> list[tuple[str, str]]:
    """Every ``(pipeline, cron expression)`` the project declares, in file order."""
    return [
        (entry.name, str(item["cron"]))
        for entry in project.pipelines
        for item in (entry.on or {}).get("schedule") or ()
    ]


def matches(expr: str, minute: datetime) -> bool:
    """Whether cron *expr* fires at *minute* (UTC)."""
    from croniter import croniter

    return bool(croniter.match(expr, minute_of(minute)))


def due_requests(
    project: ProjectConfig, now: datetime, pipelines: Iterable[str] = (), profile: str = "",
) -> list[RunRequest]:
    """The run requests of the schedules that fire in *now*'s minute (only *pipelines* if given).

    *profile* is the requests' profile (empty: chosen as ``sparkwing run`` chooses).
    """
    minute = minute_of(now)
    wanted = set(pipelines)
    stamp = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
    out: list[RunRequest] = []
    for pipeline, expr in schedules(project):
        if wanted and pipeline not in wanted:
            continue
        if not matches(expr, minute):
            continue
        out.append(RunRequest(
            pipeline=pipeline,
            trigger=TriggerMeta(source="schedule", event="cron",
                                extra={"cron": expr, "minute": stamp}),
            idempotency_key=schedule_key(project.root, pipeline, expr, minute),
            workdir=project.root,
            profile=profile,
        ))
    return out


@dataclass(slots=True)
class TickOutcome:
    """What a tick did with one due schedule."""

    pipeline: str
    cron: str
    key: str
    #: ``started`` (a run was started), ``duplicate`` (this minute's run was already
    #: requested) or ``failed`` (the run could not start; see ``error``).
    outcome: str
    trigger_id: str = ""
    run_id: str = ""
    #: The started run's final status (``success``, ``failed``, ...).
    run_status: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {"pipeline": self.pipeline, "cron": self.cron, "key": self.key,
                "outcome": self.outcome, "trigger_id": self.trigger_id, "run_id": self.run_id,
                "run_status": self.run_status, "error": self.error}


def tick(
    project: ProjectConfig,
    now: datetime,
    *,
    pipelines: Iterable[str] = (),
    profile: str = "",
    options: Callable[[], StartOptions] | None = None,
) -> list[TickOutcome]:
    """Dispatch every schedule of *project* due in *now*'s minute; runs start here, one by one.

    *options* builds the :class:`~sparkwing.runs.start.StartOptions` of each
    run (default: quiet). A schedule whose run cannot start is reported as
    ``failed`` and the others still run.
    """
    from ..runs.start import StartOptions
    from .dispatch import dispatch

    out: list[TickOutcome] = []
    wanted = list(pipelines)
    known = {e.name for e in project.pipelines}
    for name in wanted:
        if name not in known:
            project.pipeline(name)  # raises the one-line "unknown pipeline" error
    for request in due_requests(project, now, wanted, profile):
        cron = str(request.trigger.extra["cron"])
        done = TickOutcome(request.pipeline, cron, request.idempotency_key, "started")
        try:
            result = dispatch(request, options() if options else StartOptions())
        except SparkwingError as exc:
            done.outcome, done.error = "failed", str(exc)
            out.append(done)
            continue
        done.trigger_id, done.run_id = result.row.id, result.row.run_id
        if result.duplicate:
            done.outcome = "duplicate"
        elif result.run is not None:
            done.run_status = result.run.status
        out.append(done)
    return out

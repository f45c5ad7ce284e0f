"""Concurrency groups: named budgets jobs (or whole runs) take units of while they run."""

from __future__ import annotations

from dataclasses import dataclass

from ..durations import parse_duration
from ..errors import PlanError

SCOPES = ("run", "box", "global")
ON_LIMIT = ("queue", "fail", "skip", "cancel_others")


@dataclass(frozen=True, slots=True)
class ConcurrencyGroup:
    """A named capacity shared by every job that joins it (see :func:`concurrency_group`)."""

    name: str
    capacity: int = 1
    scope: str = "run"
    on_limit: str = "queue"
    queue_timeout_s: float = 0.0

    def key(self, run_id: str, host: str) -> str:
        """The store key of this group for a run on a host."""
        if self.scope == "run":
            return f"r:{run_id}:{self.name}"
        if self.scope == "box":
            return f"b:{host}:{self.name}"
        return f"g:{self.name}"


def concurrency_group(
    name: str,
    *,
    capacity: int = 1,
    scope: str = "run",
    on_limit: str = "queue",
    queue_timeout: float | str = 0,
) -> ConcurrencyGroup:
    """Declare a concurrency group.

    *scope*: ``run`` (within one run), ``box`` (all runs on this host sharing
    a state store) or ``global`` (everyone sharing the state store).
    *on_limit*: ``queue`` (wait, oldest first; *queue_timeout* 0 = forever),
    ``fail``, ``skip`` (outcome ``skipped-concurrent``) or ``cancel_others``
    (evict the oldest holders, who end ``superseded``).
    """
    if not name:
        raise PlanError("concurrency_group() needs a name")
    if scope not in SCOPES:
        raise PlanError(f"concurrency group {name!r}: scope must be one of {', '.join(SCOPES)}")
    if on_limit not in ON_LIMIT:
        raise PlanError(
            f"concurrency group {name!r}: on_limit must be one of {', '.join(ON_LIMIT)}"
        )
    try:
        timeout = parse_duration(queue_timeout, "queue_timeout")
    except ValueError as exc:
        raise PlanError(f"concurrency group {name!r}: {exc}") from None
    return ConcurrencyGroup(name, max(1, int(capacity)), scope, on_limit, timeout)

"""What makes ``GET /api/v1/health`` say ``degraded`` (cluster.md §2.1).

Two checks, read through the state store contract (any backend):

* a trigger row ``claimed`` for more than :data:`STUCK_CLAIM_S` (30 min)
  without being finished: a runner holds it and keeps heartbeating but never
  ends it (a lost runner's claim is put back by the reaper long before);
* the success rate of the runs finished in the last :data:`RATE_WINDOW_S`
  (24 h, by creation time) below :data:`MIN_SUCCESS_RATE` (80 %) over at
  least :data:`MIN_RATED_RUNS` (20) runs. ``success`` counts as a success,
  ``failed`` as a failure; cancelled runs are not counted (a person stopped
  them).

Each problem is one line; no problem means ``ok``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparkwing.storage.records import RunFilter

if TYPE_CHECKING:
    from sparkwing.storage.contracts import StateStore

#: A trigger claimed longer than this (seconds) without being finished is a problem.
STUCK_CLAIM_S = 30 * 60.0
#: The window of the success rate (seconds).
RATE_WINDOW_S = 24 * 3600.0
#: Below this share of successful runs the controller is degraded ...
MIN_SUCCESS_RATE = 0.8
#: ... once at least this many runs finished in the window.
MIN_RATED_RUNS = 20
#: Most runs of the window read for the rate.
MAX_RATED_RUNS = 10000


def stuck_claims(state: StateStore, now: float) -> list[str]:
    """One problem line if any trigger is claimed for more than :data:`STUCK_CLAIM_S`."""
    stuck = sorted((t.claimed_at, t.id) for t in state.list_triggers(status="claimed", limit=0)
                   if t.claimed_at is not None and now - t.claimed_at > STUCK_CLAIM_S)
    if not stuck:
        return []
    oldest_at, oldest = stuck[0]
    return [f"{len(stuck)} trigger(s) claimed for more than {STUCK_CLAIM_S / 60:.0f} min "
            f"without finishing (oldest {oldest}, {(now - oldest_at) / 60:.0f} min)"]


def low_success_rate(state: StateStore, now: float) -> list[str]:
    """One problem line if the last 24 h's success rate is below the threshold."""
    runs = state.list_runs(RunFilter(statuses=["success", "failed"], since=now - RATE_WINDOW_S,
                                     limit=MAX_RATED_RUNS))
    if len(runs) < MIN_RATED_RUNS:
        return []
    passed = sum(1 for r in runs if r.status == "success")
    rate = passed / len(runs)
    if rate >= MIN_SUCCESS_RATE:
        return []
    return [f"success rate {rate:.0%} over the last {RATE_WINDOW_S / 3600:.0f} h "
            f"({passed} of {len(runs)} runs) is below {MIN_SUCCESS_RATE:.0%}"]


def problems(state: StateStore, now: float) -> list[str]:
    """Every problem of *state* at *now* (empty: healthy). Store errors propagate."""
    return stuck_claims(state, now) + low_success_rate(state, now)

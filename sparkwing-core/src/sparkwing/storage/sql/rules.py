"""Small rules both SQL state stores enforce the same way.

* which run statuses are live (reaped when their heartbeat goes stale);
* which approval resolutions are accepted (:func:`check_resolution`);
* the error text a reaped run and its nodes get (:func:`lost_error`).
"""

from __future__ import annotations

import time

#: Live run statuses (reaped when their heartbeat goes stale).
LIVE_RUN_STATUSES = ("pending", "running")

#: Resolutions ``resolve_approval`` accepts.
APPROVAL_RESOLUTIONS = frozenset({"approved", "denied", "timed_out"})


def check_resolution(resolution: str) -> None:
    """Raise :class:`ValueError` unless *resolution* is one of :data:`APPROVAL_RESOLUTIONS`."""
    if resolution not in APPROVAL_RESOLUTIONS:
        raise ValueError(
            f"approval resolution must be one of {sorted(APPROVAL_RESOLUTIONS)}, "
            f"got {resolution!r}"
        )


def lost_error(stale_before: float) -> str:
    """The error of a run reaped because nothing heartbeated since *stale_before*."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stale_before))
    return f"run process lost: no heartbeat since {stamp}"


def lost_node_error(stale_before: float) -> str:
    """The error an unfinished node of a reaped run gets (when it had none)."""
    return "cancelled: " + lost_error(stale_before)

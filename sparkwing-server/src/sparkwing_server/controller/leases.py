"""The three numbers of the controller's lease protocol, and how runners are told them.

* ``lease_s``: how long a claim (trigger or node attempt) lives without a
  heartbeat (default 180 s, the Go controller's 3 minutes);
* the heartbeat interval a runner should keep: ``lease_s / 8`` (22.5 s by
  default), so a claim survives about seven lost heartbeats;
* ``reaper_interval_s``: how often the reaper sweeps (default 10 s), so a
  dead holder's attempt fails at most ``lease_s + reaper_interval_s``
  after its last heartbeat;

plus ``queue_timeout_s``: how long a ready node attempt may wait for a
runner with matching labels before it fails with ``queue_timeout``
(default 15 min; 0 turns the sweep off), and ``stale_run_s``: how long a
``running`` run may go without a heartbeat from its orchestrator before
the reaper orphans it (default 3 min; see :mod:`.sweeps`).

Claims answer with ``lease_secs`` and ``heartbeat_secs``, so runners
follow the controller's settings instead of hard-coding their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparkwing.errors import UsageError

#: Defaults (seconds).
DEFAULT_LEASE_S = 180.0
DEFAULT_REAPER_INTERVAL_S = 10.0
DEFAULT_QUEUE_TIMEOUT_S = 900.0
DEFAULT_STALE_RUN_S = 180.0
#: A heartbeat every lease / RENEW_DIVISOR.
RENEW_DIVISOR = 8
#: Bounds of a lease a claimer may ask for (``lease_secs`` in a claim body).
MIN_LEASE_S = 1.0
MAX_LEASE_S = 86400.0
#: A holder counts as active while its claim heartbeated within this window (the gauge).
ACTIVE_WINDOW_S = 120.0


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """Lease length, reaper tick, queue timeout and run-heartbeat limit of one controller (s)."""

    lease_s: float = DEFAULT_LEASE_S
    reaper_interval_s: float = DEFAULT_REAPER_INTERVAL_S
    queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S
    stale_run_s: float = DEFAULT_STALE_RUN_S

    def __post_init__(self) -> None:
        if not MIN_LEASE_S <= self.lease_s <= MAX_LEASE_S:
            raise UsageError(f"--lease-secs {self.lease_s:g}: must be from {MIN_LEASE_S:g} to "
                             f"{MAX_LEASE_S:g}")
        if not 0 < self.reaper_interval_s <= 3600:
            raise UsageError(f"--reaper-interval {self.reaper_interval_s:g}: must be more than "
                             "0 and at most 3600 seconds")
        if self.queue_timeout_s < 0:
            raise UsageError(f"--queue-timeout {self.queue_timeout_s:g}: must be 0 (off) or "
                             "more")
        if self.stale_run_s <= 0:
            raise UsageError(f"stale run limit {self.stale_run_s:g}: must be more than 0 "
                             "seconds")

    def heartbeat_s(self, lease_s: float | None = None) -> float:
        """How often a holder of a lease of *lease_s* (default: ours) should heartbeat."""
        return round((self.lease_s if lease_s is None else lease_s) / RENEW_DIVISOR, 3)

    def advice(self, lease_s: float | None = None) -> dict[str, float]:
        """``{lease_secs, heartbeat_secs}`` for a claim answer."""
        lease = self.lease_s if lease_s is None else lease_s
        return {"lease_secs": lease, "heartbeat_secs": self.heartbeat_s(lease)}

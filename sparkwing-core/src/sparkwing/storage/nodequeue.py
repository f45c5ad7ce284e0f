"""The node claim queue: ready node attempts that runners claim under a lease, with a fence.

One row per node *attempt* (``run_id``, ``node_id``, ``attempt``). Its life::

    ready --claim--> claimed --finish--> finished (outcome from the runner)
      ^  \\                \\--lease expired (reaper)--> finished, failed, ``agent_lost``
      |   \\--revoke--> revoked --enqueue again--> ready (same FIFO place)
      |    \\--waited longer than the queue timeout (reaper)--> finished, failed, ``queue_timeout``
      \\--release (the holder gives it back)-- claimed

* **Cancel** (one attempt, :meth:`NodeQueue.cancel`): a ready or revoked
  attempt ends ``finished``/``cancelled`` at once; a claimed one is marked
  (``cancel_requested_at``), its holder's heartbeat says so and the holder
  stops and finishes it.
* **FIFO.** Claims take the oldest ``queued_at`` first. ``queued_at`` is
  set once, by the first enqueue: revoking and enqueueing again keeps the
  attempt's place. ``ready_at`` is when it last became ready: the queue
  timeout counts from it.
* **Labels.** A claim only takes an attempt whose ``needs_labels`` the
  runner's labels satisfy (:func:`labels_match`). A runner that does not
  match leaves the attempt where it is, untouched (no ``ready_at`` bump, so
  a skipped attempt still times out).
* **Lease and fence.** Each claim adds one to the row's ``claim_seq``; the
  holder sends ``(holder, claim_seq)`` with every heartbeat and its finish,
  and the queue refuses both once that pair is not the row's current claim
  (finished, reaped, released and claimed again). A late heartbeat of the
  current holder after its lease ran out but before the reaper came is
  still accepted: the claim was not taken from it yet.
* **Idempotent claims.** A claimer may send a fresh random *request id*
  with a claim and repeat it when it retries that claim because no answer
  came (the controller died or the call timed out after the claim
  committed). While the claim made under that id is current (``claimed``
  by the same holder), the repeat answers that claim again, unchanged
  (same attempt, same ``claim_seq``, same lease) instead of claiming
  another attempt. The id stays with the row: once that claim ended
  (finished or reaped), a repeat claims nothing (``None``); a release
  forgets the id, so a repeat after it is an ordinary new claim. A request
  id is unique in the queue, so a retry racing its own first try still
  makes one claim.
* **Lost holders fail the attempt** (``agent_lost``); they are not
  requeued. Whether to run another attempt is the orchestrator's retry
  policy, which sees the reason.

Implementations live with the controller (``sparkwing_server.controller.
nodequeue``: SQLite and PostgreSQL, in the state database); the behaviour
every one must show is pinned by :mod:`sparkwing.testing.suites.nodequeue`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

#: Statuses of an attempt in the queue.
READY, REVOKED, CLAIMED, FINISHED = "ready", "revoked", "claimed", "finished"
STATUSES = (READY, REVOKED, CLAIMED, FINISHED)
#: Failure reason of an attempt whose holder stopped renewing its lease.
AGENT_LOST = "agent_lost"
#: Failure reason of an attempt nobody claimed within the queue timeout.
QUEUE_TIMEOUT = "queue_timeout"
#: Outcome and failure reason of an attempt cancelled on its own (:meth:`NodeQueue.cancel`).
CANCELLED = "cancelled"


@dataclass(slots=True)
class QueuedAttempt:
    """One row of the node claim queue (see the module docstring for its life)."""

    run_id: str
    node_id: str
    attempt: int = 1
    needs_labels: list[str] = field(default_factory=list)
    status: str = READY
    queued_at: float = 0.0
    ready_at: float | None = None
    claimed_by: str = ""
    claim_seq: int = 0
    claimed_at: float | None = None
    lease_expires_at: float | None = None
    heartbeat_at: float | None = None
    finished_at: float | None = None
    outcome: str = ""
    exit_code: int | None = None
    error: str = ""
    failure_reason: str = ""
    #: The request id the claim was made with (``None``: none given, or released).
    claim_request: str | None = None
    #: When someone cancelled this attempt alone (:meth:`NodeQueue.cancel`).
    cancel_requested_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-serialisable dict."""
        return asdict(self)


def parse_needs(needs_labels: Iterable[str]) -> list[list[str]]:
    """Each term of *needs_labels* as its alternatives: ``["a", "b,c"]`` -> ``[["a"], ["b", "c"]]``.

    Blank alternatives and blank terms are dropped.
    """
    out: list[list[str]] = []
    for term in needs_labels:
        alts = [a.strip() for a in str(term).split(",") if a.strip()]
        if alts:
            out.append(alts)
    return out


def labels_match(needs_labels: Iterable[str], labels: Iterable[str]) -> bool:
    """Whether a runner with *labels* may take work needing *needs_labels*.

    Every term must match (AND); a term with commas matches when any one of
    its alternatives is among the runner's labels (OR). Labels are opaque
    strings (``os=linux`` is one label). No needs match every runner.
    """
    have = {str(label).strip() for label in labels}
    return all(any(alt in have for alt in alts) for alts in parse_needs(needs_labels))


@runtime_checkable
class NodeQueue(Protocol):
    """The claim queue of node attempts. Every write is committed before the call returns.

    Times are explicit (``now``, seconds since the epoch) so callers and tests
    control the clock. Safe to use from several threads and processes at once.
    """

    where: str

    def close(self) -> None:
        """Release the connection (not an engine someone else owns)."""

    def enqueue(self, run_id: str, node_id: str, attempt: int, *,
                needs_labels: Sequence[str] = (), now: float) -> QueuedAttempt:
        """Make the attempt claimable; return its row.

        A new attempt is inserted ``ready`` with ``queued_at = ready_at = now``;
        a ``revoked`` one becomes ``ready`` again at ``ready_at = now`` with
        its ``queued_at`` (FIFO place) kept and *needs_labels* replaced; one
        that is ``ready``, ``claimed`` or ``finished`` is returned unchanged.
        """

    def revoke(self, run_id: str, node_id: str, attempt: int, *, now: float) -> bool:
        """Take a ``ready`` attempt off the queue (``revoked``); ``False`` when not ready."""

    def cancel(self, run_id: str, node_id: str, attempt: int, *, now: float,
               error: str = "") -> QueuedAttempt:
        """Cancel one attempt; return its row.

        A ``ready`` or ``revoked`` attempt ends at once: ``finished`` with
        outcome ``cancelled``, ``failure_reason`` ``cancelled`` and *error*.
        A ``claimed`` one gets ``cancel_requested_at`` (kept from the first
        cancel): its holder's heartbeat answers ``cancel_requested`` and the
        holder stops the work and finishes it. An attempt never queued is
        inserted already ``finished`` and cancelled, so its later
        :meth:`enqueue` returns it finished and no runner claims it. A
        finished attempt is left as it is.
        """

    def claim(self, holder: str, labels: Sequence[str], *, lease_s: float,
              now: float, request_id: str = "") -> QueuedAttempt | None:
        """Claim the oldest ``ready`` attempt *labels* satisfy, for *holder*; ``None`` if none.

        The row becomes ``claimed`` by *holder* with ``claim_seq`` one more,
        ``claimed_at = heartbeat_at = now``, ``lease_expires_at = now +
        lease_s`` and ``claim_request`` *request_id* (``None`` when empty).
        Concurrent claimers never get the same attempt.

        With *request_id*: when a row already carries it, nothing is claimed
        and that row is returned unchanged if it is still ``claimed`` by
        *holder* (the same claim, answered again), else ``None`` (that claim
        ended; another holder's id is never answered).
        """

    def heartbeat(self, run_id: str, node_id: str, attempt: int, holder: str, seq: int, *,
                  lease_s: float, now: float) -> QueuedAttempt | None:
        """Extend the claim ``(holder, seq)`` to ``now + lease_s``; ``None`` when it is not current."""

    def release(self, run_id: str, node_id: str, attempt: int, holder: str, seq: int, *,
                now: float) -> bool:
        """Give the claim ``(holder, seq)`` back: ``ready`` again, FIFO place kept, its
        ``claim_request`` forgotten."""

    def finish(self, run_id: str, node_id: str, attempt: int, holder: str, seq: int, *,
               outcome: str, now: float, exit_code: int | None = None, error: str = "",
               failure_reason: str = "") -> QueuedAttempt | None:
        """Record the result of the claim ``(holder, seq)``; ``None`` when it is not current.

        The row becomes ``finished`` with the outcome, exit code, error and
        reason given; ``claimed_by`` and ``claim_seq`` stay (who ran it), the
        lease is cleared.
        """

    def get(self, run_id: str, node_id: str, attempt: int) -> QueuedAttempt | None:
        """The row, or ``None``."""

    def latest(self, run_id: str, node_id: str) -> QueuedAttempt | None:
        """The node's row with the highest attempt, or ``None``."""

    def list_attempts(self, *, run_id: str = "", status: str = "", holder: str = "",
             limit: int = 100) -> list[QueuedAttempt]:
        """Rows in queue order (``queued_at``, then key), filtered; ``limit <= 0``: all."""

    def reap_lost(self, now: float, *, limit: int = 500) -> list[QueuedAttempt]:
        """Fail claimed attempts whose lease ran out (``lease_expires_at <= now``): ``agent_lost``.

        Each becomes ``finished`` with outcome ``failed``, ``failure_reason``
        ``agent_lost`` and an error naming the holder; returns them.
        """

    def reap_queue_timeouts(self, now: float, timeout_s: float, *,
                            limit: int = 500) -> list[QueuedAttempt]:
        """Fail ready attempts waiting since ``ready_at <= now - timeout_s``: ``queue_timeout``.

        ``timeout_s <= 0`` disables the sweep (returns ``[]``).
        """

    def stats(self, now: float, *, active_window_s: float) -> dict[str, int]:
        """``{"ready", "claimed", "holders"}``: holders are distinct ``claimed_by`` of claims
        heartbeating within *active_window_s*."""

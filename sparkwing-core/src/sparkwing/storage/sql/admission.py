"""Who gets a concurrency key's units: the FIFO admission rule both SQL stores apply.

:func:`admit` is pure: a store reads the key's live holders and waiters
inside one serialised transaction (SQLite's write lock, a PostgreSQL
advisory lock on the key), asks :func:`admit` what to do, then writes the
decision. The rule (the contract of
:meth:`~sparkwing.storage.contracts.StateStore.concurrency_acquire`):

* a holder that already holds the key is re-granted (lease renewed);
* otherwise the caller is a waiter, keeping its first arrival time and
  ticket on repeat calls, and is granted only when the holders' cost plus
  its cost fits in the capacity and no older waiter that would fit now is
  ahead of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

#: ``Admission.action`` values.
REGRANT, GRANT, QUEUE = "regrant", "grant", "queue"


class Holder(NamedTuple):
    """A live holder of the key: who, and how many units it takes."""

    holder_id: str
    cost: int


class Waiter(NamedTuple):
    """A live waiter: who, its cost, and its place (arrival time, then ticket)."""

    holder_id: str
    cost: int
    arrived_at: float
    ticket: int


class Admission(NamedTuple):
    """What to do with one acquire call."""

    action: str  # REGRANT | GRANT | QUEUE
    active: int  # holders' total cost after the decision
    ahead: int  # older waiters still ahead (0 unless queued)
    holders: list[str]  # holder ids after the decision, oldest first
    arrived_at: float  # the caller's arrival time (kept from an earlier wait)
    ticket: int  # the caller's ticket (kept from an earlier wait)
    was_waiting: bool  # the caller already had a waiter row


def admit(
    holders: Sequence[Holder], waiters: Sequence[Waiter], holder_id: str, *, cost: int,
    capacity: int, now: float,
) -> Admission:
    """Decide one acquire of *holder_id* from the key's live *holders* and *waiters*.

    *holders* are oldest first; *waiters* in queue order. Expired rows must
    already be gone.
    """
    holder_ids = [h.holder_id for h in holders]
    active = sum(h.cost for h in holders)
    if holder_id in holder_ids:
        return Admission(REGRANT, active, 0, holder_ids, now, 0, False)
    mine = next((w for w in waiters if w.holder_id == holder_id), None)
    if mine is None:
        arrived, ticket = now, max((w.ticket for w in waiters), default=0) + 1
    else:
        arrived, ticket = mine.arrived_at, mine.ticket
    older = [w for w in waiters
             if w.holder_id != holder_id and (w.arrived_at, w.ticket) < (arrived, ticket)]
    fits = active + cost <= capacity
    blocked = any(active + w.cost <= capacity for w in older)
    if fits and not blocked:
        return Admission(GRANT, active + cost, 0, [*holder_ids, holder_id], arrived, ticket,
                         mine is not None)
    return Admission(QUEUE, active, len(older), holder_ids, arrived, ticket, mine is not None)

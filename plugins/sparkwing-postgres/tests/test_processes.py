"""Several processes coordinating through one PostgreSQL database: event sequence numbers,
runs, concurrency leases (capacity, FIFO hand-over, dead holders), approvals and pauses."""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import psycopg
import pytest
from sparkwing.storage.records import Approval, Node, Pause, Run
from sparkwing.testing.suites.coordination import (
    hold_key,
    queue_then_report,
    release_pause_once,
    resolve_approval_once,
    take_and_exit,
)
from sparkwing.testing.suites.state import append_events, run_in_processes, write_runs
from sparkwing_postgres.store import PostgresStateStore

Factory = Any


def _factory(pg_config: dict[str, Any]) -> Factory:
    return functools.partial(PostgresStateStore.from_config, pg_config)


def test_processes_appending_to_one_run_get_gap_free_seqs(pg_config: dict[str, Any]) -> None:
    factory = _factory(pg_config)
    with factory() as store:
        store.create_run(Run(id="run-shared", pipeline="p"))
    per, procs = 120, 4
    results = run_in_processes(
        append_events, [(factory, "run-shared", per, f"w{w}") for w in range(procs)],
    )
    every = sorted(s for seqs in results for s in seqs)
    assert every == list(range(1, procs * per + 1))  # no duplicate, no gap
    for seqs in results:
        assert seqs == sorted(seqs)
    with factory() as store:
        events = store.list_events("run-shared", limit=0)
    assert [e.seq for e in events] == list(range(1, procs * per + 1))
    by_tag: dict[str, list[int]] = {}
    for e in events:
        by_tag.setdefault(e.payload["tag"], []).append(e.payload["i"])
    assert by_tag == {f"w{w}": list(range(per)) for w in range(procs)}


def test_processes_write_runs_into_one_database(pg_config: dict[str, Any]) -> None:
    factory = _factory(pg_config)
    procs, per = 4, 60
    assert run_in_processes(write_runs, [(factory, w, per, 3) for w in range(procs)]) == \
        [per] * procs
    with psycopg.connect(pg_config["url"]) as conn:
        conn.execute(f"SET search_path TO {pg_config['schema']}")

        def count(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]

        assert count("SELECT COUNT(*) FROM runs WHERE status = 'success'") == procs * per
        assert count("SELECT COUNT(*) FROM nodes") == procs * per * 3
        assert count("SELECT COUNT(*) FROM events WHERE seq = 1") == procs * per
        assert count("SELECT COUNT(*) FROM events") == procs * per


# -- concurrency leases across processes ------------------------------------------------


def test_a_global_group_never_exceeds_its_capacity(pg_config: dict[str, Any]) -> None:
    factory = _factory(pg_config)
    results = run_in_processes(
        hold_key, [(factory, f"p{i}", "deploy", 2, 0.05, 5) for i in range(4)],
    )
    marks = sorted([(s, 1) for spans in results for s, _ in spans]
                   + [(e, -1) for spans in results for _, e in spans])
    live = peak = 0
    for _, delta in marks:
        live += delta
        peak = max(peak, live)
    assert peak == 2  # full use of the capacity, never more
    assert sum(len(s) for s in results) == 20


def test_waiters_in_other_processes_are_granted_in_arrival_order(
    pg_config: dict[str, Any],
) -> None:
    factory = _factory(pg_config)
    out: list[Any] = []
    with factory() as store:
        assert store.concurrency_acquire("fifo", "first", capacity=1, cost=1, lease_s=60,
                                         now=time.time()).granted
        args = [(factory, "fifo", f"w{i}", i) for i in range(4)]  # w0 queues first, then w1...
        th = threading.Thread(target=lambda: out.append(run_in_processes(queue_then_report, args)))
        th.start()
        waiters: list[Any] = []
        deadline = time.monotonic() + 240
        while len(waiters) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
            _, waiters = store.concurrency_state("fifo", time.time())
        assert [w.holder_id for w in waiters] == ["w0", "w1", "w2", "w3"]
        store.concurrency_release("fifo", "first")
        th.join(timeout=300)
    grants = out[0]
    assert grants == sorted(grants)  # w0, then w1, then w2, then w3


def test_a_dead_holders_units_come_back_when_its_lease_expires(
    pg_config: dict[str, Any],
) -> None:
    factory = _factory(pg_config)
    (expiry,) = run_in_processes(take_and_exit, [(factory, "deploy", 3.0)])
    with factory() as store:
        asked = time.time()
        first = store.concurrency_acquire("deploy", "next", capacity=1, cost=1, lease_s=60,
                                          now=asked)
        if asked < expiry:  # the departed process still holds it
            assert (first.granted, first.holders) == (False, ["departed"])
        while True:
            res = store.concurrency_acquire("deploy", "next", capacity=1, cost=1, lease_s=60,
                                            now=time.time())
            if res.granted:
                break
            time.sleep(0.05)
        granted_at = time.time()
    assert granted_at >= expiry and res.holders == ["next"]


# -- approvals and pauses resolve once ---------------------------------------------------


def test_approval_and_pause_resolve_exactly_once_across_processes(
    pg_config: dict[str, Any],
) -> None:
    factory = _factory(pg_config)
    with factory() as store:
        store.create_run(Run(id="run-gate", pipeline="p"))
        store.create_nodes("run-gate", [Node("run-gate", "gate", kind="approval")])
        store.create_approval(Approval("run-gate", "gate", requested_at=time.time()))
        store.create_pause(Pause("run-gate", "gate", "pause-before", time.time(),
                                 time.time() + 600))
    won = run_in_processes(resolve_approval_once,
                           [(factory, "run-gate", "gate", f"p{i}") for i in range(4)])
    assert sorted(won) == [False, False, False, True]
    released = run_in_processes(release_pause_once,
                                [(factory, "run-gate", "gate", f"p{i}") for i in range(4)])
    assert sorted(released) == [False, False, False, True]
    with factory() as store:
        got = store.get_approval("run-gate", "gate")
        winner = f"p{won.index(True)}"
        assert got is not None and got.approver == winner and got.comment == f"by {winner}"
        pause = store.get_pause("run-gate", "gate")
        assert pause is not None and pause.released_by == f"p{released.index(True)}"


# -- the trigger queue ----------------------------------------------------------------------


def test_a_claim_skips_a_row_another_claimer_has_locked(pg_config: dict[str, Any]) -> None:
    """FOR UPDATE SKIP LOCKED: a claimer never waits behind another one's row."""
    from sparkwing.storage.records import TriggerRow

    factory = _factory(pg_config)
    with factory() as store:
        for i in range(3):
            store.insert_trigger(TriggerRow(id=f"t{i}", idempotency_key=f"k{i}", pipeline="p",
                                            created_at=1000.0 + i))
        with psycopg.connect(pg_config["url"]) as other:  # a claimer mid-transaction on t0
            other.execute(f"SET search_path TO {pg_config['schema']}")
            other.execute("SELECT id FROM triggers WHERE id = 't0' FOR UPDATE")
            # without SKIP LOCKED this call would wait for `other` forever (the test times out)
            got = store.claim_trigger("runner-b", lease_s=30, now=2000.0)
            assert got is not None and got.id == "t1" and got.claimed_by == "runner-b"
            other.rollback()
        first = store.claim_trigger("runner-c", lease_s=30, now=2001.0)
        assert first is not None and first.id == "t0"
        # both leases expired: back to pending, oldest row first
        assert store.requeue_expired_triggers(2031.5) == ["t0", "t1"]
        again = store.claim_trigger("runner-d", lease_s=30, now=2040.0)
        assert again is not None and (again.id, again.claims) == ("t0", 2)


def test_write_batch_applies_in_order_in_one_transaction(pg_config: dict[str, Any]) -> None:
    """The run journal's batches: updates, steps and events together, all or nothing."""
    from sparkwing.errors import NotFoundError
    from sparkwing.storage.contracts import BatchingStateStore, StateWrite
    from sparkwing.storage.records import Step

    with _factory(pg_config)() as store:
        assert isinstance(store, BatchingStateStore)
        store.create_run(Run(id="run-b", pipeline="p"))
        store.create_nodes("run-b", [Node("run-b", "a"), Node("run-b", "b")])
        store.write_batch([
            StateWrite("run-b", "a", fields={"status": "running"}, event=("node_started", {})),
            StateWrite("run-b", "a", step=Step("run-b", "a", "s1"), event=("step_started", {})),
            StateWrite("run-b", "b", fields={"status_detail": "waiting"}),
            StateWrite("run-b", "", event=("note", {"x": 1}), ts=5.0),
        ])
        a, b = store.list_nodes("run-b")
        assert (a.status, b.status_detail) == ("running", "waiting")
        assert [s.step_id for s in store.list_steps("run-b", "a")] == ["s1"]
        events = store.list_events("run-b")
        assert [(e.seq, e.kind) for e in events] == [
            (1, "node_started"), (2, "step_started"), (3, "note")]
        assert events[2].ts == 5.0
        bad = [StateWrite("run-b", "a", fields={"status": "done"}, event=("node_done", {})),
               StateWrite("run-b", "ghost", fields={"status": "running"})]
        with pytest.raises(NotFoundError):
            store.write_batch(bad)
        node = store.get_node("run-b", "a")
        assert node is not None and node.status == "running"  # nothing of it was kept
        assert len(store.list_events("run-b")) == 3

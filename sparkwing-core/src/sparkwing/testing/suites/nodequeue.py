"""Conformance suite for :class:`~sparkwing.storage.nodequeue.NodeQueue` implementations.

Subclass, set ``__test__ = True`` and provide ``queue_factory``: a
zero-argument, picklable callable opening a *new* queue instance on the
same (initially empty) location each time::

    class TestSqliteNodeQueue(NodeQueueSuite):
        __test__ = True

        @pytest.fixture
        def queue_factory(self, tmp_path):
            return functools.partial(sqlite_node_queue, tmp_path / "state.db")

The suite uses nothing but the protocol. Its concurrency checks claim from
many threads of one process and from several processes at once
(:func:`claim_until_empty` runs in the children).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pytest

from ...storage.nodequeue import (
    AGENT_LOST,
    CLAIMED,
    FINISHED,
    QUEUE_TIMEOUT,
    READY,
    REVOKED,
    NodeQueue,
    labels_match,
)
from .state import run_in_processes

#: A fixed epoch for explicit ``now`` values.
T0 = 1_700_000_000.0

QueueFactory = Callable[[], NodeQueue]


def claim_until_empty(factory: QueueFactory, holder: str,
                      labels: tuple[str, ...] = ()) -> list[tuple[str, str, int, int]]:
    """Claim for *holder* until nothing is left; return ``(run, node, attempt, seq)`` of each."""
    queue = factory()
    try:
        got: list[tuple[str, str, int, int]] = []
        while True:
            row = queue.claim(holder, list(labels), lease_s=600, now=T0 + 1)
            if row is None:
                return got
            assert row.claimed_by == holder and row.status == CLAIMED
            got.append((row.run_id, row.node_id, row.attempt, row.claim_seq))
    finally:
        queue.close()


def fill(queue: NodeQueue, count: int, run_id: str = "run-1",
         needs_labels: Sequence[str] = ()) -> list[str]:
    """Enqueue nodes ``n0000``.. of *run_id*, a millisecond apart from ``T0``; return their ids."""
    ids = []
    for i in range(count):
        node = f"n{i:04d}"
        queue.enqueue(run_id, node, 1, needs_labels=needs_labels, now=T0 + i * 0.001)
        ids.append(node)
    return ids


class NodeQueueSuite:
    """Behaviour every node queue must show. Subclass and override ``queue_factory``."""

    __test__ = False

    @pytest.fixture
    def queue_factory(self) -> QueueFactory:
        """Open a new queue instance on the test's location (override this)."""
        raise NotImplementedError("a NodeQueueSuite subclass must override queue_factory")

    @pytest.fixture
    def queue(self, queue_factory: QueueFactory) -> Iterator[NodeQueue]:
        """One queue instance, closed after the test."""
        q = queue_factory()
        yield q
        q.close()

    # -- enqueue, FIFO, revoke -------------------------------------------------------------

    def test_enqueue_makes_a_ready_row_once(self, queue: NodeQueue) -> None:
        row = queue.enqueue("run-1", "build", 1, needs_labels=["os=linux"], now=T0)
        assert (row.status, row.queued_at, row.ready_at, row.claim_seq, row.needs_labels) == (
            READY, T0, T0, 0, ["os=linux"])
        again = queue.enqueue("run-1", "build", 1, needs_labels=["other"], now=T0 + 5)
        assert again == row
        assert queue.get("run-1", "build", 1) == row
        assert queue.get("run-1", "build", 2) is None
        assert queue.latest("run-1", "build") == row
        queue.enqueue("run-1", "build", 2, now=T0 + 6)
        latest = queue.latest("run-1", "build")
        assert latest is not None and latest.attempt == 2

    def test_claims_are_fifo(self, queue: NodeQueue) -> None:
        queue.enqueue("run-2", "a", 1, now=T0 + 2)
        queue.enqueue("run-1", "b", 1, now=T0 + 1)
        queue.enqueue("run-1", "c", 1, now=T0 + 3)
        order = []
        while (row := queue.claim("h", [], lease_s=60, now=T0 + 10)) is not None:
            order.append(row.node_id)
        assert order == ["b", "a", "c"]

    def test_revoke_only_when_ready_and_the_fifo_place_survives(self, queue: NodeQueue) -> None:
        queue.enqueue("run-1", "first", 1, now=T0)
        queue.enqueue("run-1", "second", 1, now=T0 + 1)
        assert queue.revoke("run-1", "first", 1, now=T0 + 2)
        assert not queue.revoke("run-1", "first", 1, now=T0 + 2)  # already revoked
        assert not queue.revoke("run-1", "nope", 1, now=T0 + 2)
        revoked = queue.get("run-1", "first", 1)
        assert revoked is not None and (revoked.status, revoked.ready_at) == (REVOKED, None)
        got = queue.claim("h", [], lease_s=60, now=T0 + 3)
        assert got is not None and got.node_id == "second"
        queue.enqueue("run-1", "third", 1, now=T0 + 4)
        back = queue.enqueue("run-1", "first", 1, needs_labels=["gpu"], now=T0 + 5)
        assert (back.status, back.queued_at, back.ready_at, back.needs_labels) == (
            READY, T0, T0 + 5, ["gpu"])
        got = queue.claim("h", ["gpu"], lease_s=60, now=T0 + 6)
        assert got is not None and got.node_id == "first"  # ahead of "third"
        assert not queue.revoke("run-1", "first", 1, now=T0 + 7)  # claimed: not revocable

    # -- labels -------------------------------------------------------------------------------

    def test_label_matching_rules(self) -> None:
        assert labels_match([], [])
        assert labels_match(["os=linux"], ["os=linux", "arch=arm64"])
        assert not labels_match(["os=linux", "gpu"], ["os=linux"])
        assert labels_match(["arch=amd64,arch=arm64"], ["arch=arm64"])
        assert not labels_match(["arch=amd64,arch=arm64", "gpu"], ["arch=arm64"])
        assert labels_match([" a , b "], ["b"])

    def test_claim_takes_the_oldest_matching_and_skips_without_touching(
        self, queue: NodeQueue,
    ) -> None:
        queue.enqueue("run-1", "gpu", 1, needs_labels=["gpu", "os=linux,os=mac"], now=T0)
        queue.enqueue("run-1", "any", 1, now=T0 + 1)
        queue.enqueue("run-1", "mac", 1, needs_labels=["os=mac"], now=T0 + 2)
        before = queue.get("run-1", "gpu", 1)
        got = queue.claim("small", ["os=linux"], lease_s=60, now=T0 + 10)
        assert got is not None and got.node_id == "any"
        assert queue.get("run-1", "gpu", 1) == before  # skipped, untouched (ready_at kept)
        got = queue.claim("mac-box", ["os=mac"], lease_s=60, now=T0 + 11)
        assert got is not None and got.node_id == "mac"
        assert queue.claim("small", ["os=linux"], lease_s=60, now=T0 + 12) is None
        got = queue.claim("big", ["os=linux", "gpu", "x"], lease_s=60, now=T0 + 13)
        assert got is not None and got.node_id == "gpu"

    def test_a_skipped_attempt_still_times_out(self, queue: NodeQueue) -> None:
        queue.enqueue("run-1", "gpu", 1, needs_labels=["gpu"], now=T0)
        for i in range(5):
            assert queue.claim(f"r{i}", ["cpu"], lease_s=60, now=T0 + 100 + i) is None
        assert queue.reap_queue_timeouts(T0 + 899, 900) == []
        [gone] = queue.reap_queue_timeouts(T0 + 900, 900)
        assert (gone.status, gone.outcome, gone.failure_reason, gone.finished_at) == (
            FINISHED, "failed", QUEUE_TIMEOUT, T0 + 900)
        assert "900" in gone.error
        assert queue.get("run-1", "gpu", 1) == gone
        assert queue.claim("g", ["gpu"], lease_s=60, now=T0 + 901) is None

    def test_queue_timeout_zero_disables_and_spares_claimed(self, queue: NodeQueue) -> None:
        queue.enqueue("run-1", "a", 1, now=T0)
        queue.enqueue("run-1", "b", 1, now=T0)
        assert queue.claim("h", [], lease_s=10_000, now=T0) is not None
        assert queue.reap_queue_timeouts(T0 + 10**6, 0) == []
        [gone] = queue.reap_queue_timeouts(T0 + 5_000, 60)
        assert gone.node_id == "b"
        claimed = queue.get("run-1", "a", 1)
        assert claimed is not None and claimed.status == CLAIMED

    # -- claim, heartbeat, finish: the fence ----------------------------------------------------

    def test_claim_sets_the_lease_and_the_sequence(self, queue: NodeQueue) -> None:
        queue.enqueue("run-1", "a", 1, now=T0)
        got = queue.claim("box-1", ["x"], lease_s=180, now=T0 + 1)
        assert got is not None
        assert (got.status, got.claimed_by, got.claim_seq, got.claimed_at, got.heartbeat_at,
                got.lease_expires_at) == (CLAIMED, "box-1", 1, T0 + 1, T0 + 1, T0 + 181)
        assert queue.get("run-1", "a", 1) == got
        assert queue.claim("box-2", [], lease_s=180, now=T0 + 2) is None

    def test_heartbeat_is_fenced_by_holder_and_sequence(self, queue: NodeQueue) -> None:
        queue.enqueue("run-1", "a", 1, now=T0)
        got = queue.claim("box-1", [], lease_s=60, now=T0)
        assert got is not None
        renewed = queue.heartbeat("run-1", "a", 1, "box-1", 1, lease_s=60, now=T0 + 30)
        assert renewed is not None and (renewed.lease_expires_at, renewed.heartbeat_at) == (
            T0 + 90, T0 + 30)
        assert queue.heartbeat("run-1", "a", 1, "box-2", 1, lease_s=60, now=T0 + 31) is None
        assert queue.heartbeat("run-1", "a", 1, "box-1", 2, lease_s=60, now=T0 + 31) is None
        assert queue.heartbeat("run-1", "a", 2, "box-1", 1, lease_s=60, now=T0 + 31) is None
        assert queue.heartbeat("run-1", "zz", 1, "box-1", 1, lease_s=60, now=T0 + 31) is None
        row = queue.get("run-1", "a", 1)
        assert row is not None and row.lease_expires_at == T0 + 90

    def test_finish_records_the_result_once(self, queue: NodeQueue) -> None:
        queue.enqueue("run-1", "a", 1, now=T0)
        queue.claim("box-1", [], lease_s=60, now=T0)
        assert queue.finish("run-1", "a", 1, "box-2", 1, outcome="success", now=T0 + 5) is None
        done = queue.finish("run-1", "a", 1, "box-1", 1, outcome="failed", exit_code=3,
                            error="tests failed", failure_reason="exit_code", now=T0 + 5)
        assert done is not None
        assert (done.status, done.outcome, done.exit_code, done.error, done.failure_reason,
                done.finished_at, done.claimed_by, done.claim_seq, done.lease_expires_at) == (
            FINISHED, "failed", 3, "tests failed", "exit_code", T0 + 5, "box-1", 1, None)
        assert queue.finish("run-1", "a", 1, "box-1", 1, outcome="success", now=T0 + 6) is None
        assert queue.heartbeat("run-1", "a", 1, "box-1", 1, lease_s=60, now=T0 + 6) is None
        assert queue.get("run-1", "a", 1) == done

    def test_cancel_ends_a_waiting_attempt_and_marks_a_claimed_one(
        self, queue: NodeQueue,
    ) -> None:
        queue.enqueue("run-1", "ready", 1, now=T0)
        done = queue.cancel("run-1", "ready", 1, now=T0 + 1, error="cancelled by user:ada")
        assert (done.status, done.outcome, done.failure_reason, done.error, done.finished_at,
                done.cancel_requested_at) == (FINISHED, "cancelled", "cancelled",
                                              "cancelled by user:ada", T0 + 1, T0 + 1)
        assert queue.claim("h", [], lease_s=60, now=T0 + 2) is None  # nothing left to claim
        # an attempt not queued yet is recorded cancelled; queueing it later changes nothing
        early = queue.cancel("run-1", "later", 1, now=T0 + 3)
        assert (early.status, early.outcome) == (FINISHED, "cancelled")
        assert queue.enqueue("run-1", "later", 1, now=T0 + 4) == early
        queue.enqueue("run-1", "busy", 1, now=T0 + 5)
        claimed = queue.claim("box-1", [], lease_s=60, now=T0 + 5)
        assert claimed is not None and claimed.cancel_requested_at is None
        marked = queue.cancel("run-1", "busy", 1, now=T0 + 6)
        assert (marked.status, marked.claimed_by, marked.cancel_requested_at) == (
            CLAIMED, "box-1", T0 + 6)
        assert queue.cancel("run-1", "busy", 1, now=T0 + 7).cancel_requested_at == T0 + 6
        beat = queue.heartbeat("run-1", "busy", 1, "box-1", 1, lease_s=60, now=T0 + 8)
        assert beat is not None and beat.cancel_requested_at == T0 + 6
        ended = queue.finish("run-1", "busy", 1, "box-1", 1, outcome="cancelled", now=T0 + 9)
        assert ended is not None and ended.outcome == "cancelled"
        assert queue.cancel("run-1", "busy", 1, now=T0 + 10) == ended  # finished: unchanged

    def test_a_stale_holder_is_refused_after_the_attempt_is_claimed_again(
        self, queue: NodeQueue,
    ) -> None:
        queue.enqueue("run-1", "a", 1, now=T0)
        first = queue.claim("box-1", [], lease_s=60, now=T0)
        assert first is not None and first.claim_seq == 1
        assert not queue.release("run-1", "a", 1, "box-1", 2, now=T0 + 1)
        assert queue.release("run-1", "a", 1, "box-1", 1, now=T0 + 1)
        released = queue.get("run-1", "a", 1)
        assert released is not None
        assert (released.status, released.queued_at, released.claimed_by) == (READY, T0, "")
        # The same holder name claims it again: only the new sequence number is current.
        second = queue.claim("box-1", [], lease_s=60, now=T0 + 2)
        assert second is not None and second.claim_seq == 2
        assert queue.heartbeat("run-1", "a", 1, "box-1", 1, lease_s=60, now=T0 + 3) is None
        assert queue.finish("run-1", "a", 1, "box-1", 1, outcome="success", now=T0 + 3) is None
        assert queue.heartbeat("run-1", "a", 1, "box-1", 2, lease_s=60, now=T0 + 3) is not None
        assert queue.finish("run-1", "a", 1, "box-1", 2, outcome="success", now=T0 + 4)

    # -- idempotent claims: the request id -------------------------------------------------------

    def test_a_repeated_request_id_answers_the_same_claim(self, queue: NodeQueue) -> None:
        fill(queue, 3)
        first = queue.claim("box-1", [], lease_s=60, now=T0 + 1, request_id="req-1")
        assert first is not None and (first.node_id, first.claim_seq, first.claim_request) == (
            "n0000", 1, "req-1")
        # The answer was lost; the retry repeats the id later: the same claim, unchanged.
        again = queue.claim("box-1", [], lease_s=60, now=T0 + 7, request_id="req-1")
        assert again == first == queue.get("run-1", "n0000", 1)
        assert [r.node_id for r in queue.list_attempts(status=READY)] == ["n0001", "n0002"]
        # A new id is a new claim: the next attempt.
        other = queue.claim("box-1", [], lease_s=60, now=T0 + 8, request_id="req-2")
        assert other is not None and (other.node_id, other.claim_seq) == ("n0001", 1)
        # Without an id nothing is remembered.
        plain = queue.claim("box-1", [], lease_s=60, now=T0 + 9)
        assert plain is not None and (plain.node_id, plain.claim_request) == ("n0002", None)
        assert queue.claim("box-1", [], lease_s=60, now=T0 + 9, request_id="req-1") == first

    def test_a_request_id_answers_an_empty_queue_with_its_claim(self, queue: NodeQueue) -> None:
        queue.enqueue("run-1", "a", 1, now=T0)
        first = queue.claim("box-1", [], lease_s=60, now=T0 + 1, request_id="req-1")
        assert first is not None
        assert queue.claim("box-1", [], lease_s=60, now=T0 + 2, request_id="req-2") is None
        assert queue.claim("box-1", [], lease_s=60, now=T0 + 2, request_id="req-1") == first

    def test_a_request_id_is_answered_only_to_its_holder(self, queue: NodeQueue) -> None:
        fill(queue, 2)
        first = queue.claim("box-1", [], lease_s=60, now=T0 + 1, request_id="req-1")
        assert first is not None
        assert queue.claim("box-2", [], lease_s=60, now=T0 + 2, request_id="req-1") is None
        assert [r.node_id for r in queue.list_attempts(status=READY)] == ["n0001"]
        assert queue.get("run-1", "n0000", 1) == first

    def test_a_stale_request_id_resurrects_no_claim(self, queue: NodeQueue) -> None:
        for node in ("a", "b", "c", "d"):
            queue.enqueue("run-1", node, 1, now=T0)
        # Finished by its holder: a late repeat of its id claims nothing.
        queue.claim("box-1", [], lease_s=60, now=T0, request_id="req-a")
        done = queue.finish("run-1", "a", 1, "box-1", 1, outcome="success", now=T0 + 1)
        assert queue.claim("box-1", [], lease_s=60, now=T0 + 2, request_id="req-a") is None
        assert queue.get("run-1", "a", 1) == done
        # Reaped (agent_lost): a repeat neither revives it nor claims another attempt.
        queue.claim("box-1", [], lease_s=10, now=T0, request_id="req-b")
        [lost] = queue.reap_lost(T0 + 11)
        assert (lost.node_id, lost.failure_reason) == ("b", AGENT_LOST)
        assert queue.claim("box-1", [], lease_s=60, now=T0 + 12, request_id="req-b") is None
        assert queue.get("run-1", "b", 1) == lost
        assert queue.heartbeat("run-1", "b", 1, "box-1", 1, lease_s=60, now=T0 + 12) is None
        assert [r.node_id for r in queue.list_attempts(status=READY)] == ["c", "d"]
        # Released: the id is forgotten; a repeat is an ordinary new claim (claim 2 of c), and
        # the released claim 1 stays refused.
        first_c = queue.claim("box-1", [], lease_s=60, now=T0 + 13, request_id="req-c")
        assert first_c is not None and (first_c.node_id, first_c.claim_seq) == ("c", 1)
        assert queue.release("run-1", "c", 1, "box-1", 1, now=T0 + 14)
        released = queue.get("run-1", "c", 1)
        assert released is not None and (released.status, released.claim_request) == (
            READY, None)
        second_c = queue.claim("box-1", [], lease_s=60, now=T0 + 15, request_id="req-c")
        assert second_c is not None and (second_c.node_id, second_c.claim_seq) == ("c", 2)
        assert queue.heartbeat("run-1", "c", 1, "box-1", 1, lease_s=60, now=T0 + 16) is None

    def test_threads_repeating_one_request_id_make_one_claim(
        self, queue_factory: QueueFactory,
    ) -> None:
        setup = queue_factory()
        try:
            fill(setup, 8)
        finally:
            setup.close()
        results: list[tuple[str, int] | None] = []
        lock = threading.Lock()
        start = threading.Barrier(6)

        def claim() -> None:
            queue = queue_factory()
            try:
                start.wait()
                row = queue.claim("box-1", [], lease_s=60, now=T0 + 1, request_id="req-same")
                with lock:
                    results.append(None if row is None else (row.node_id, row.claim_seq))
            finally:
                queue.close()

        threads = [threading.Thread(target=claim) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check = queue_factory()
        try:
            claimed = check.list_attempts(status=CLAIMED)
        finally:
            check.close()
        assert len(claimed) == 1
        assert results == [(claimed[0].node_id, 1)] * 6

    # -- the reaper ------------------------------------------------------------------------------

    def test_expired_claims_fail_as_agent_lost(self, queue: NodeQueue) -> None:
        for node in ("a", "b", "c"):
            queue.enqueue("run-1", node, 1, now=T0)
        queue.claim("box-a", [], lease_s=10, now=T0)   # a expires at T0 + 10
        queue.claim("box-b", [], lease_s=100, now=T0)  # b expires at T0 + 100
        assert queue.reap_lost(T0 + 9) == []
        # a late heartbeat before the sweep keeps the claim
        assert queue.heartbeat("run-1", "a", 1, "box-a", 1, lease_s=10, now=T0 + 11)
        assert queue.reap_lost(T0 + 20) == []
        [lost] = queue.reap_lost(T0 + 21)
        assert (lost.node_id, lost.status, lost.outcome, lost.failure_reason, lost.claimed_by,
                lost.finished_at) == ("a", FINISHED, "failed", AGENT_LOST, "box-a", T0 + 21)
        assert "box-a" in lost.error
        assert queue.heartbeat("run-1", "a", 1, "box-a", 1, lease_s=10, now=T0 + 22) is None
        assert queue.finish("run-1", "a", 1, "box-a", 1, outcome="success", now=T0 + 22) is None
        assert queue.get("run-1", "a", 1) == lost
        held = queue.get("run-1", "b", 1)
        assert held is not None and held.status == CLAIMED
        assert [r.node_id for r in queue.list_attempts(status=READY)] == ["c"]

    # -- reading -------------------------------------------------------------------------------

    def test_list_filters_and_stats(self, queue: NodeQueue) -> None:
        fill(queue, 4)
        queue.enqueue("run-2", "x", 1, now=T0 + 1)
        queue.claim("box-1", [], lease_s=60, now=T0 + 2)
        queue.claim("box-2", [], lease_s=60, now=T0 + 2)
        queue.claim("box-2", [], lease_s=60, now=T0 + 2)
        assert [r.node_id for r in queue.list_attempts()] == [
            "n0000", "n0001", "n0002", "n0003", "x"]
        assert [r.node_id for r in queue.list_attempts(run_id="run-2")] == ["x"]
        assert [r.node_id for r in queue.list_attempts(status=CLAIMED, holder="box-2")] == [
            "n0001", "n0002"]
        assert len(queue.list_attempts(limit=2)) == 2
        assert queue.stats(T0 + 3, active_window_s=120) == {READY: 2, CLAIMED: 3, "holders": 2}
        assert queue.stats(T0 + 500, active_window_s=120)["holders"] == 0

    # -- sharing and concurrency -------------------------------------------------------------

    def test_another_instance_sees_every_write(
        self, queue: NodeQueue, queue_factory: QueueFactory,
    ) -> None:
        other = queue_factory()
        try:
            queue.enqueue("run-1", "a", 1, now=T0)
            got = other.claim("box", [], lease_s=60, now=T0)
            assert got is not None
            row = queue.get("run-1", "a", 1)
            assert row is not None and row.claimed_by == "box"
        finally:
            other.close()

    def test_threads_never_claim_one_attempt_twice(self, queue_factory: QueueFactory) -> None:
        queue = queue_factory()
        try:
            ids = fill(queue, 120)
        finally:
            queue.close()
        results: dict[int, list[tuple[str, str, int, int]]] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def worker(i: int) -> None:
            try:
                start.wait(timeout=60)
                results[i] = claim_until_empty(queue_factory, f"t{i}")
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors
        claimed = [node for got in results.values() for _, node, _, _ in got]
        assert sorted(claimed) == ids  # every attempt once, none twice

    def test_processes_never_claim_one_attempt_twice(self, queue_factory: QueueFactory) -> None:
        queue = queue_factory()
        try:
            ids = fill(queue, 90, needs_labels=["os=linux,os=mac"])
            fill(queue, 10, run_id="run-gpu", needs_labels=["gpu"])
        finally:
            queue.close()
        results = run_in_processes(claim_until_empty, [
            (queue_factory, f"proc-{w}", ("os=linux",)) for w in range(4)])
        claimed = [(run, node) for got in results for run, node, _, _ in got]
        assert sorted(claimed) == [("run-1", n) for n in ids]
        assert all(seq == 1 for got in results for *_, seq in got)
        queue = queue_factory()
        try:
            assert len(queue.list_attempts(status=READY, run_id="run-gpu")) == 10
        finally:
            queue.close()

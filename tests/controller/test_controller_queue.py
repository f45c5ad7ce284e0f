"""The work-queue routes on a real controller, driven by the runner's client (sparkwing.queueclient).

Trigger claims (claim, heartbeat, done, lists), the node claim queue
(mark-ready, revoke-ready, claim, heartbeat, release, claim-finish), the
fences, the reaper (agent_lost, queue_timeout, trigger requeue), the
metrics, and strict bodies. Waits for the reaper poll the controller with a
generous deadline (a hang guard, never a timing assertion).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sparkwing.queueclient import ClaimLost, ControllerError, QueueClient

RUN = "run-20260101-000000-abcd"
#: Upper bound for the reaper to act (a hang guard).
REAP_DEADLINE_S = 60.0


def _seed(controller: Any, nodes: tuple[str, ...] = ("compile", "test", "lint")) -> None:
    from sparkwing.storage.records import Node, Run

    stores = controller.open_state()
    try:
        stores.state.create_run(Run(id=RUN, pipeline="build", status="running",
                                    created_at=time.time()))
        stores.state.create_nodes(RUN, [Node(RUN, n) for n in nodes])
    finally:
        stores.close()


def _wait_for(what: str, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + REAP_DEADLINE_S
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what}: not seen within {REAP_DEADLINE_S} s")


def _enqueue(controller: Any, token: str, pipeline: str, key: str, source: str = "") -> str:
    body: dict[str, Any] = {"pipeline": pipeline, "idempotency_key": key}
    if source:
        body["trigger"] = {"source": source}
    answer = controller.post("/api/v1/triggers", body, token)
    assert answer.status == 202, answer.body
    return str(answer.json()["trigger_id"])


# -- triggers -------------------------------------------------------------------------------------

def test_trigger_claim_heartbeat_and_done(controller: Any) -> None:
    admin = controller.token("user", "root", "admin")
    runner = controller.token("runner", "box-1", "runner")
    url = controller.start("--require-auth", "--lease-secs", "120")
    first = _enqueue(controller, admin, "build", "k1")
    second = _enqueue(controller, admin, "deploy", "k2", source="schedule")
    client = QueueClient(url, runner)

    assert client.claim_trigger(pipelines=["lint"]) is None  # 204
    claim = client.claim_trigger("box-1", pipelines=["deploy"], sources=["schedule"])
    assert claim is not None and claim.trigger_id == second
    assert (claim.holder, claim.seq, claim.lease_secs, claim.heartbeat_secs) == (
        "box-1", 1, 120.0, 15.0)
    assert claim.request["pipeline"] == "deploy"
    beat = client.heartbeat_trigger(claim)
    assert beat.cancel_requested is False and beat.lease_expires_at >= claim.lease_expires_at
    # Without a holder the claim is the token's principal.
    other = client.claim_trigger()
    assert other is not None and other.trigger_id == first and other.holder == "runner:box-1"
    assert client.claim_trigger() is None

    client.finish_trigger(claim, run_id=RUN)
    client.finish_trigger(claim, run_id=RUN)  # repeated: still fine
    with pytest.raises(ClaimLost) as lost:
        client.heartbeat_trigger(claim)
    assert lost.value.status == 404 and "done" in lost.value.message
    with pytest.raises(ClaimLost):
        client.finish_trigger(claim, status="failed", error="late")
    client.finish_trigger(other, status="failed", error="unknown pipeline")

    rows = controller.get("/api/v1/triggers?status=done", runner).json()["triggers"]
    assert [(r["id"], r["run_id"]) for r in rows] == [(second, RUN)]
    row = controller.get(f"/api/v1/triggers/{first}", runner).json()
    assert (row["status"], row["error"], row["claims"]) == ("failed", "unknown pipeline", 1)
    controller.get("/api/v1/triggers/trg-nope", runner).assert_error(404, "not_found")
    assert len(controller.get("/api/v1/triggers?limit=1", runner).json()["triggers"]) == 1
    client.close()


def test_an_expired_trigger_lease_is_requeued_and_the_old_claim_fenced(controller: Any) -> None:
    admin = controller.token("user", "root", "admin")
    runner = controller.token("runner", "box-1", "runner")
    url = controller.start("--require-auth", "--lease-secs", "1", "--reaper-interval", "0.2")
    trigger_id = _enqueue(controller, admin, "build", "k1")
    client = QueueClient(url, runner)
    old = client.claim_trigger("box-1")
    assert old is not None and old.seq == 1
    _wait_for("the trigger back to pending", lambda: controller.get(
        f"/api/v1/triggers/{trigger_id}", runner).json()["status"] == "pending")
    new = client.claim_trigger("box-1", lease_secs=600)  # the same holder name again
    assert new is not None and new.trigger_id == trigger_id and new.seq == 2
    with pytest.raises(ClaimLost) as lost:
        client.heartbeat_trigger(old)
    assert lost.value.status == 409 and lost.value.code == "claim_lost"
    with pytest.raises(ClaimLost):
        client.finish_trigger(old, run_id="run-stale")
    client.heartbeat_trigger(new)
    client.finish_trigger(new, run_id=RUN)
    metrics = controller.get("/metrics").body.decode()
    assert 'sparkwing_controller_reaped_total{reason="trigger_requeued"} 1' in metrics
    client.close()


# -- the node claim queue --------------------------------------------------------------------------

def test_node_claims_follow_labels_and_fifo_and_are_fenced(controller: Any) -> None:
    runner = controller.token("runner", "box-1", "runner")
    _seed(controller)
    url = controller.start("--require-auth")
    client = QueueClient(url, runner)
    row = client.mark_ready(RUN, "compile", needs_labels=["os=linux", "arch=amd64,arch=arm64"])
    assert (row["status"], row["attempt"], row["needs_labels"]) == (
        "ready", 1, ["os=linux", "arch=amd64,arch=arm64"])
    client.mark_ready(RUN, "test")
    client.mark_ready(RUN, "lint")
    assert client.revoke_ready(RUN, "lint")
    assert not client.revoke_ready(RUN, "lint")

    small = client.claim_node("box-mac", ["os=mac"])
    assert small is not None and small.node_id == "test"  # compile needs linux: skipped
    assert client.claim_node("box-mac", ["os=mac"]) is None
    claim = client.claim_node("box-1", ["os=linux", "arch=arm64"])
    assert claim is not None and (claim.node_id, claim.attempt, claim.seq) == ("compile", 1, 1)
    assert claim.lease_secs == 180.0 and claim.heartbeat_secs == 22.5
    assert not client.revoke_ready(RUN, "compile")  # claimed: stays

    beat = client.heartbeat_node(claim)
    assert beat.cancel_requested is False and beat.lease_expires_at >= claim.lease_expires_at
    stale = claim
    client.release_node(claim)
    again = client.claim_node("box-1", ["os=linux", "arch=amd64"])
    assert again is not None and again.node_id == "compile" and again.seq == 2
    for call in (client.heartbeat_node, client.release_node):
        with pytest.raises(ClaimLost) as lost:
            call(stale)
        assert lost.value.status == 409 and "claim 2" in lost.value.message
    done = client.finish_node(again, outcome="failed", exit_code=2, error="boom",
                              failure_reason="exit_code")
    assert (done["status"], done["outcome"], done["exit_code"]) == ("finished", "failed", 2)
    assert client.finish_node(again, outcome="failed", exit_code=2, error="boom",
                              failure_reason="exit_code") == done  # repeated
    with pytest.raises(ClaimLost):
        client.finish_node(again, outcome="success")
    with pytest.raises(ClaimLost):
        client.heartbeat_node(again)

    # cancellation of the run shows in the next heartbeat
    stores = controller.open_state()
    try:
        stores.state.update_run(RUN, {"cancel_requested_at": time.time()})
    finally:
        stores.close()
    assert client.heartbeat_node(small).cancel_requested is True

    assert client.mark_ready(RUN, "lint")["status"] == "ready"
    rows = client.list_queue(run_id=RUN)
    assert [(r["node_id"], r["status"]) for r in rows] == [
        ("compile", "finished"), ("test", "claimed"), ("lint", "ready")]
    assert [r["node_id"] for r in client.list_queue(status="claimed", holder="box-mac")] == [
        "test"]
    client.close()


def test_a_silent_runner_loses_its_attempt_as_agent_lost(controller: Any) -> None:
    runner = controller.token("runner", "box-1", "runner")
    reader = controller.token("user", "viewer", "runs.read")
    _seed(controller)
    url = controller.start("--require-auth", "--lease-secs", "1", "--reaper-interval", "0.2")
    client = QueueClient(url, runner)
    client.mark_ready(RUN, "compile")
    client.mark_ready(RUN, "test", needs_labels=["gpu"])
    claim = client.claim_node("box-1", ["cpu"])
    assert claim is not None and claim.heartbeat_secs == 0.125
    lost_row = _wait_for("agent_lost", lambda: [
        r for r in client.list_queue(run_id=RUN, status="finished")])[0]
    assert (lost_row["node_id"], lost_row["outcome"], lost_row["failure_reason"]) == (
        "compile", "failed", "agent_lost")
    assert "box-1" in lost_row["error"]
    with pytest.raises(ClaimLost) as lost:
        client.heartbeat_node(claim)
    assert "agent_lost" in lost.value.message
    with pytest.raises(ClaimLost):
        client.finish_node(claim, outcome="success")
    events = controller.get(f"/api/v1/runs/{RUN}/events", reader).json()["events"]
    [reaped] = [e for e in events if e["kind"] == "attempt_reaped"]
    assert reaped["node_id"] == "compile" and reaped["payload"]["reason"] == "agent_lost"
    metrics = controller.get("/metrics").body.decode()
    assert "sparkwing_pending_nodes 1" in metrics  # "test" waits for a gpu runner
    assert 'sparkwing_controller_reaped_total{reason="agent_lost"} 1' in metrics
    assert "sparkwing_active_runners 0" in metrics
    client.close()


def test_an_unclaimable_attempt_times_out(controller: Any) -> None:
    runner = controller.token("runner", "box-1", "runner")
    _seed(controller)
    url = controller.start("--require-auth", "--queue-timeout", "1", "--reaper-interval", "0.2")
    client = QueueClient(url, runner)
    client.mark_ready(RUN, "compile", needs_labels=["gpu"])
    assert client.claim_node("box-1", ["cpu"]) is None  # polling does not reset the clock
    row = _wait_for("queue_timeout", lambda: client.list_queue(status="finished"))[0]
    assert (row["outcome"], row["failure_reason"]) == ("failed", "queue_timeout")
    assert client.claim_node("box-gpu", ["gpu"]) is None
    client.close()


def test_concurrent_runners_never_share_an_attempt(controller: Any) -> None:
    runner = controller.token("runner", "pool", "runner")
    nodes = tuple(f"n{i:03d}" for i in range(60))
    _seed(controller, nodes)
    url = controller.start("--require-auth")
    setup = QueueClient(url, runner)
    for node in nodes:
        setup.mark_ready(RUN, node)
    setup.close()
    got: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        with QueueClient(url, runner) as client:
            try:
                mine = got.setdefault(i, [])
                while (claim := client.claim_node(f"box-{i}")) is not None:
                    mine.append(claim.node_id)
                    client.finish_node(claim, outcome="success", exit_code=0)
            except BaseException as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert sorted(n for mine in got.values() for n in mine) == list(nodes)


# -- strict bodies and errors -------------------------------------------------------------------------

def test_queue_bodies_are_strict(controller: Any) -> None:
    runner = controller.token("runner", "box-1", "runner")
    _seed(controller)
    controller.start("--require-auth")
    post = controller.post
    node = f"/api/v1/runs/{RUN}/nodes/compile"
    bad = post("/api/v1/nodes/claim", {"holder_id": "x"}, runner)
    assert bad.assert_error(400, "unknown_field")["field"] == "holder_id"
    assert post("/api/v1/nodes/claim", {}, runner).assert_error(400, "bad_request")[
        "field"] == "holder"
    assert post("/api/v1/nodes/claim", {"holder": "x", "labels": "gpu"}, runner).assert_error(
        400, "bad_request")["field"] == "labels"
    assert post("/api/v1/nodes/claim", {"holder": "x", "lease_secs": 0}, runner).assert_error(
        400, "bad_request")["field"] == "lease_secs"
    assert post("/api/v1/triggers/claim", {"pipeline": ["x"]}, runner).assert_error(
        400, "unknown_field")["field"] == "pipeline"
    post(f"/api/v1/runs/{RUN}/nodes/nope/mark-ready", {}, runner).assert_error(404, "not_found")
    assert post(f"{node}/mark-ready", {"attempt": 0}, runner).assert_error(
        400, "bad_request")["field"] == "attempt"
    assert post(f"{node}/mark-ready", {}, runner).status == 200
    post(f"{node}/heartbeat", {"holder": "x", "seq": 1, "attempt": 9}, runner).assert_error(
        404, "not_found")
    post(f"{node}/heartbeat", {"holder": "x", "seq": 1}, runner).assert_error(409, "claim_lost")
    assert post(f"{node}/heartbeat", {"holder": "x"}, runner).assert_error(
        400, "bad_request")["field"] == "seq"
    assert post(f"{node}/claim-finish", {"holder": "x", "seq": 1, "outcome": "great"},
                runner).assert_error(400, "bad_request")["field"] == "outcome"
    post("/api/v1/triggers/trg-nope/heartbeat", {"holder": "x", "seq": 1},
         runner).assert_error(404, "not_found")
    assert post("/api/v1/triggers/trg-nope/done", {"holder": "x", "seq": 1, "status": "ok"},
                runner).assert_error(400, "bad_request")["field"] == "status"
    controller.get("/api/v1/nodes/queue?status=weird", runner).assert_error(400, "bad_request")
    with pytest.raises(ControllerError) as refused:
        QueueClient(controller.url, "swr_" + "A" * 43).claim_node("x")
    assert refused.value.status == 401 and not refused.value.retryable


def test_lease_flags_are_checked(controller: Any) -> None:
    out = controller.cli("controller", "serve", "--lease-secs", "0", "--check-config")
    assert out.returncode == 2 and "--lease-secs" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    out = controller.cli("controller", "serve", "--queue-timeout", "-1", "--check-config")
    assert out.returncode == 2 and "--queue-timeout" in out.stderr, out.stderr
    unreachable = QueueClient("http://127.0.0.1:9", "")
    with pytest.raises(ControllerError) as down:
        unreachable.claim_node("x")
    assert down.value.status == 0 and down.value.retryable

"""The controller restart test (issue 12): ``kill -9`` of a real controller loses nothing.

Every test here starts ``sparkwing controller serve`` in a subprocess
(:class:`sparkwing_server.controller.queuedrain.ControllerProcess`), kills
it with SIGKILL while work is in flight and starts it again on the same
home and port. The leases, fences and queued work live in the state
database, so after the restart every row is where it was and the holders
carry on with the claims they had.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sparkwing.events import NODE_STARTED, NODE_SUCCEEDED
from sparkwing.queueclient import ClaimLost, QueueClient
from sparkwing_server.controller import queuedrain

from .test_runner import (
    RUN_TIMEOUT_S,
    SLOW_PY,
    SLOW_YAML,
    _commit_all,
    _log_events,
    _markers,
    _runner,
    _send_and_enqueue,
    _wait,
)

RUN = "run-20261201-000000-rest"
RECORDED = "run-20261201-000001-recd"


def _process(controller: Any, tmp_path: Path, *args: str) -> queuedrain.ControllerProcess:
    return queuedrain.ControllerProcess(controller.env, controller.cwd,
                                        tmp_path / "controller.log", args)


def _crash_and_restart(ctl: queuedrain.ControllerProcess) -> None:
    """SIGKILL the controller and start it again on the same port (same URL)."""
    url, pid = ctl.url, ctl.pid
    ctl.kill()
    assert ctl.proc is not None and ctl.proc.returncode == -signal.SIGKILL
    assert ctl.start() == url and ctl.pid != pid


def test_a_killed_controller_keeps_every_claim_fence_trigger_and_run(
        controller: Any, tmp_path: Path) -> None:
    from sparkwing.storage.controller.state import ControllerStateStore
    from sparkwing.storage.records import Node, Run

    admin = controller.token("user", "root", "admin")
    runner = controller.token("runner", "box", "runner")
    with controller.open_state() as stores:
        seeded = queuedrain.seed_attempts(stores, RUN, 6)
    ctl = _process(controller, tmp_path, "--require-auth", "--lease-secs", "600")
    url = ctl.start()
    controller.url = url
    try:
        client = QueueClient(url, runner)
        a = client.claim_node("box-a")
        b = client.claim_node("box-b")
        c_old = client.claim_node("box-c")
        assert a and b and c_old
        client.release_node(c_old)
        c_new = client.claim_node("box-c")  # the same attempt again: claim 2, claim 1 is stale
        assert c_new is not None and (c_new.node_id, c_new.seq) == (c_old.node_id, 2)
        d = client.claim_node("box-d")
        assert d is not None
        client.finish_node(d, outcome="failed", exit_code=3, error="boom")
        # triggers: one pending, one claimed
        answer = controller.post("/api/v1/triggers", {"pipeline": "build",
                                                      "idempotency_key": "k-pending"}, admin)
        assert answer.status == 202, answer.body
        pending = answer.json()["trigger_id"]
        answer = controller.post("/api/v1/triggers", {"pipeline": "deploy",
                                                      "idempotency_key": "k-claimed"}, admin)
        claimed_id = answer.json()["trigger_id"]
        held = client.claim_trigger("box-t", pipelines=["deploy"])
        assert held is not None and held.trigger_id == claimed_id and held.seq == 1
        # state writes through the controller (what a run on a runner records)
        remote = ControllerStateStore(url, token=runner)
        remote.create_run(Run(id=RECORDED, pipeline="build", status="running",
                              created_at=time.time()))
        remote.create_nodes(RECORDED, [Node(RECORDED, "compile"), Node(RECORDED, "test")])
        remote.update_node(RECORDED, "compile", {"status": "done", "outcome": "success"},
                           event=(NODE_SUCCEEDED, {"exit_code": 0}))
        remote.append_event(RECORDED, NODE_STARTED, {"note": "before the crash"},
                            node_id="test")
        before = {r["node_id"]: r for r in client.list_queue(run_id=RUN)}

        _crash_and_restart(ctl)
        # the client's kept-alive connection died with the old process: start a new one (a
        # runner's loop gets one retryable ControllerError and retries)
        client.close()

        # every queue row is as it was
        after = {r["node_id"]: r for r in client.list_queue(run_id=RUN)}
        assert after == before
        assert [after[n]["status"] for n in sorted(after)] == [
            "claimed", "claimed", "claimed", "finished", "ready", "ready"]
        assert (after[c_new.node_id]["claimed_by"], after[c_new.node_id]["claim_seq"]) == (
            "box-c", 2)
        assert (after[d.node_id]["outcome"], after[d.node_id]["exit_code"]) == ("failed", 3)
        # the holders carry on with their fences; the stale claim is still refused
        assert client.heartbeat_node(a).lease_expires_at > a.lease_expires_at
        client.finish_node(a, outcome="success", exit_code=0)
        client.finish_node(a, outcome="success", exit_code=0)  # a repeat is still accepted
        with pytest.raises(ClaimLost) as stale:
            client.heartbeat_node(c_old)
        assert stale.value.status == 409 and "claim 2" in stale.value.message
        with pytest.raises(ClaimLost):
            client.finish_node(c_old, outcome="success", exit_code=0)
        client.heartbeat_node(c_new)
        client.finish_node(c_new, outcome="success", exit_code=0)
        client.finish_node(b, outcome="success", exit_code=0)
        with pytest.raises(ClaimLost):  # d was finished before the crash
            client.finish_node(d, outcome="success", exit_code=0)
        # the ready attempts are claimed in FIFO order, nothing else is claimable
        rest = [client.claim_node("box-e"), client.claim_node("box-e")]
        assert [r.node_id for r in rest if r] == [k[1] for k in seeded[4:]]
        assert client.claim_node("box-e") is None
        for r in rest:
            assert r is not None
            client.finish_node(r, outcome="success", exit_code=0)
        final = client.list_queue(run_id=RUN)
        assert {r["status"] for r in final} == {"finished"}
        assert all(r["claim_seq"] == (2 if r["node_id"] == c_new.node_id else 1) for r in final)
        # the claimed trigger: its holder heartbeats and finishes; the pending one is claimable
        client.heartbeat_trigger(held)
        nxt = client.claim_trigger("box-t2")
        assert nxt is not None and nxt.trigger_id == pending and nxt.seq == 1
        assert client.claim_trigger("box-t3") is None
        client.finish_trigger(held, run_id=RECORDED)
        client.finish_trigger(nxt, status="failed", error="no such pipeline")
        assert controller.get(f"/api/v1/triggers/{claimed_id}", runner).json()["status"] == "done"
        # the runs listing shows what was recorded before the crash
        runs = controller.get("/api/v1/runs", runner).json()["runs"]
        assert {r["id"] for r in runs} == {RUN, RECORDED}
        detail = controller.get(f"/api/v1/runs/{RECORDED}?include=nodes", runner).json()
        assert {n["node_id"]: (n["status"], n["outcome"]) for n in detail["nodes"]} == {
            "compile": ("done", "success"), "test": ("pending", "")}
        events = controller.get(f"/api/v1/runs/{RECORDED}/events", runner).json()["events"]
        assert [(e["kind"], e["node_id"]) for e in events] == [
            (NODE_SUCCEEDED, "compile"), (NODE_STARTED, "test")]
        client.close()
    finally:
        ctl.stop()


def test_a_drain_by_runner_processes_survives_a_controller_kill(
        controller: Any, tmp_path: Path) -> None:
    """A small run of ``bench/queue_load.py --restart-at``: nothing lost, nothing twice."""
    runner = controller.token("runner", "box", "runner")
    with controller.open_state() as stores:
        seeded = queuedrain.seed_attempts(stores, RUN, 120)
    ctl = _process(controller, tmp_path, "--require-auth", "--lease-secs", "10",
                   "--reaper-interval", "0.5")
    ctl.start()
    try:
        work = tmp_path / "drain"
        work.mkdir()
        with controller.open_state() as stores:
            result = queuedrain.run_drain(ctl, stores, seeded, runner, work, runners=2,
                                          threads=2, heartbeat=True, restart_at=0.3,
                                          tick_s=0.2)
    finally:
        ctl.stop()
    check = result.check
    assert check is not None and check.ok, check.problems
    assert ctl.starts == 2 and result.restart["at_finished"] >= 36
    assert check.finished_by_holder + check.reaped == 120
    # what was claimed at the kill was finished by its holder after the restart, or reaped
    # (its lease ran out while the controller was down, or the claim's answer was lost)
    assert check.in_flight_at_crash == (check.in_flight_finished_by_holder
                                        + check.in_flight_reaped)
    assert sum(len(c.claims) for c in result.clients) == (
        check.finished_by_holder + check.reaped - check.reaped_unanswered)
    assert sum(c.retries for c in result.clients) > 0, "no client call met the dead controller"


def test_a_runner_keeps_working_across_a_controller_restart(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    # a 60 s lease: the runner heartbeats its trigger every 7.5 s, also while the controller
    # is down (those fail and are retried), and the lease outlives the restart even when a
    # loaded machine takes many seconds to start the new controller process
    ctl = _process(controller, tmp_path, "--require-auth", "--lease-secs", "60")
    controller.url = ctl.start()
    runner = None
    try:
        project = tmp_path / "slow"
        (project / ".sparkwing" / "pipelines").mkdir(parents=True)
        (project / ".sparkwing" / "sparkwing.yaml").write_text(SLOW_YAML)
        (project / ".sparkwing" / "pipelines" / "__init__.py").write_text("")
        (project / ".sparkwing" / "pipelines" / "slow.py").write_text(SLOW_PY)
        _commit_all(project)
        trigger_id = _send_and_enqueue(controller, admin, project, "slow")
        markers = tmp_path / "markers"
        env = {"SPARKWING_TEST_MARKERS": str(markers), "SPARKWING_TEST_SLEEP": "6"}
        runner, log = _runner(controller, tmp_path, "a", runner_token, "--once", env=env)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not _markers(markers):  # the runner's child is in the sleeping job
            assert runner.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.1)

        _crash_and_restart(ctl)

        assert _wait(runner, log) == 0, log.read_text()[-4000:]
        marks = _markers(markers)
        assert len(marks) == 1 and "end" in marks[0], marks  # one child, never restarted
        with controller.open_state() as stores:
            row = stores.state.get_trigger(trigger_id)
            assert row is not None and row.status == "done" and row.claims == 1, (
                row, log.read_text()[-6000:])
            run = stores.state.get_run(row.run_id)
            assert run is not None and run.status == "success", run
            nodes = {n.node_id: n.outcome for n in stores.state.list_nodes(run.id)}
            assert nodes == {"first": "success", "sleep": "success"}, nodes
        events = _log_events(log)
        # the runner read the run from the child's -o json answer
        exited = [e for e in events if e.get("event") == "child exited"]
        assert exited and exited[0]["run_status"] == "success", exited
        finished = [e for e in events if e.get("event") == "trigger finished"]
        assert finished and finished[0]["status"] == "done", events[-5:]
        assert finished[0]["finished_run"] == row.run_id
    finally:
        if runner is not None and runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
        ctl.stop()


def test_the_remote_store_client_rides_out_a_controller_restart(
        controller: Any, tmp_path: Path) -> None:
    """What a run on a runner needs from its store client while the controller restarts.

    A POST (not idempotent, so never retried once sent) after the controller
    was killed must not go out on the kept-alive connection the crash closed:
    it reaches the new process exactly once. A call made while nothing
    listens waits for the restarted controller (refused connections are
    retried for a while) instead of failing the run.
    """
    from sparkwing.storage.controller.state import ControllerStateStore
    from sparkwing.storage.records import Run

    runner = controller.token("runner", "box", "runner")
    with controller.open_state() as stores:
        stores.state.create_run(Run(id=RECORDED, pipeline="build", created_at=time.time()))
    ctl = _process(controller, tmp_path, "--require-auth")
    ctl.start()
    try:
        remote = ControllerStateStore(ctl.url, token=runner)
        assert remote.append_event(RECORDED, NODE_STARTED, {"n": 1}) == 1  # kept alive
        _crash_and_restart(ctl)
        assert remote.append_event(RECORDED, NODE_STARTED, {"n": 2}) == 2
        assert [e.payload["n"] for e in remote.list_events(RECORDED)] == [1, 2]
        # down for longer than the five quick retries (1.5 s) a refused connection once had
        ctl.kill()
        got: list[Any] = []
        reader = threading.Thread(target=lambda: got.append(remote.get_run(RECORDED)))
        reader.start()
        time.sleep(2.0)
        assert reader.is_alive(), got  # still waiting for a controller to answer
        ctl.start()
        reader.join(timeout=120)
        assert got and got[0] is not None and got[0].id == RECORDED, got
        remote.close()
    finally:
        ctl.stop()

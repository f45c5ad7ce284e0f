"""The reaper's run sweeps and the health checks, on a real controller.

A :class:`~sparkwing_server.controller.threaded.ThreadedController` serves a
fresh home's SQLite state store with a fast reaper tick; the test writes
runs, nodes and trigger rows through the remote state store
(:class:`~sparkwing.storage.controller.state.ControllerStateStore`, the
path an orchestrator on a ``controller:`` profile uses) with timestamps in
the past, and waits for the reaper to act. A sweep handles every listed run
in one tick, so once a swept run changed, the runs it left alone in the
same store were looked at too; the tests also wait for a second stale run
created afterwards (a later tick) before asserting what survived.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sparkwing.config import Stores
from sparkwing.ids import new_run_id
from sparkwing.storage.controller.state import ControllerStateStore
from sparkwing.storage.records import Node, Run, Step, TriggerRow

from .conftest import http

#: A hang guard for the reaper to act (not a timing assertion).
WAIT_S = 60.0
HOUR = 3600.0
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
#: The run heartbeat limit of the reaping controller (seconds).
STALE_RUN_S = 5.0


@dataclass
class Served:
    """A running controller, a client of its state store and the stores it serves."""

    url: str
    state: ControllerStateStore
    stores: Stores


def _serve(tmp_path: Path, seed: Callable[[Stores], None] | None = None,
           **leases: float) -> Iterator[Served]:
    from sparkwing_server.controller.leases import LeaseSettings
    from sparkwing_server.controller.threaded import ThreadedController
    from sparkwing_server.controller.tokens import open_token_store
    from sparkwing_server.localws.serve import open_profile_stores

    work = tmp_path / "work"
    work.mkdir()
    stores = open_profile_stores(None, work)
    tokens = open_token_store(stores)
    if seed is not None:
        seed(stores)  # what the stores held before the controller started
    server = ThreadedController(stores, tokens, leases=LeaseSettings(**leases))
    try:
        url = server.start()
        yield Served(url, ControllerStateStore(url), stores)
    finally:
        server.stop()
        tokens.close()
        stores.close()


@pytest.fixture
def reaping(sparkwing_home: Path, tmp_path: Path) -> Iterator[Served]:
    """A controller whose reaper ticks every 0.2 s (run heartbeat limit 5 s, lease 60 s)."""
    yield from _serve(tmp_path, lease_s=60.0, reaper_interval_s=0.2, stale_run_s=STALE_RUN_S)


@pytest.fixture
def quiet(sparkwing_home: Path, tmp_path: Path) -> Iterator[Served]:
    """A controller whose reaper does not tick during a test (for the health checks)."""
    yield from _serve(tmp_path, reaper_interval_s=3600.0)


def _run(state: ControllerStateStore, status: str, *, heartbeat: float | None,
         created: float, nodes: dict[str, str] | None = None) -> str:
    run_id = new_run_id()
    state.create_run(Run(id=run_id, pipeline="ci", status=status, created_at=created,
                         started_at=created if status == "running" else None,
                         last_heartbeat_at=heartbeat))
    if nodes:
        state.create_nodes(run_id, [Node(run_id, nid, status=st) for nid, st in nodes.items()])
    return run_id


def _wait_status(state: ControllerStateStore, run_id: str, status: str) -> Run:
    deadline = time.monotonic() + WAIT_S
    while True:
        run = state.get_run(run_id)
        assert run is not None
        if run.status == status:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run.status}"
        time.sleep(0.05)


def _trigger(state: ControllerStateStore, status: str, run_id: str = "", *,
             claimed_at: float | None = None) -> TriggerRow:
    tid = f"trg-{new_run_id()[4:]}"
    row = TriggerRow(id=tid, idempotency_key=f"test:{tid}", pipeline="ci", status=status,
                     run_id=run_id, created_at=time.time() - HOUR)
    if status == "claimed":
        now = time.time()
        row.claimed_at, row.claimed_by, row.claims = claimed_at or now, "box-1", 1
        row.lease_expires_at = now + HOUR
    if status == "done":
        row.finished_at = time.time() - HOUR
    stored, inserted = state.insert_trigger(row)
    assert inserted and stored.status == status
    return stored


def test_stale_running_run_is_orphaned_and_a_heartbeating_one_lives(reaping: Served) -> None:
    state, now = reaping.state, time.time()
    # A long run (started an hour ago) whose orchestrator heartbeats through the remote store.
    alive = _run(state, "running", heartbeat=now, created=now - HOUR,
                 nodes={"build": "running", "deploy": "pending"})
    # A run that never heartbeated (NULL): cluster.md §4.3 leaves it alone.
    silent = _run(state, "running", heartbeat=None, created=now - HOUR)
    stop = threading.Event()

    def beat() -> None:  # the orchestrator stamps its run every 2 s; this beats more often
        client = ControllerStateStore(reaping.url)
        while not stop.wait(0.25):
            client.update_run(alive, {"last_heartbeat_at": time.time()})

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    try:
        stale = _run(state, "running", heartbeat=now - 10 * 60, created=now - HOUR,
                     nodes={"build": "running", "test": "approval_pending",
                            "deploy": "pending", "lint": "done"})
        state.update_node(stale, "lint", {"outcome": "success"})
        state.upsert_step(Step(run_id=stale, node_id="build", step_id="compile",
                               started_at=now - 11 * 60))
        failed = _wait_status(state, stale, "failed")
        # Outlive the limit twice over, so only its heartbeats can have kept the run alive,
        # then a second stale run, swept by a later tick than the first.
        while time.time() < now + 2 * STALE_RUN_S:
            time.sleep(0.2)
        later = _run(state, "running", heartbeat=time.time() - 10 * 60, created=now - HOUR)
        _wait_status(state, later, "failed")
    finally:
        stop.set()
        beating.join()

    assert failed.error.startswith("orphaned: no heartbeat"), failed.error
    assert failed.finished_at is not None
    nodes = {n.node_id: n for n in state.list_nodes(stale)}
    assert {k: (n.status, n.outcome, n.failure_reason) for k, n in nodes.items()} == {
        "build": ("done", "failed", "orphaned"),
        "test": ("done", "failed", "orphaned"),
        "deploy": ("done", "cancelled", "orphaned"),
        "lint": ("done", "success", ""),
    }
    finished = [e for e in state.list_events(stale) if e.kind == "run_finished"]
    assert [e.payload["reconciled"] for e in finished] == ["orphaned"]
    steps = [(s.step_id, s.status, s.error.startswith("orphaned")) for s in state.list_steps(stale)]
    assert steps == [("compile", "cancelled", True)], steps

    still = state.get_run(alive)
    assert still is not None and still.status == "running", still
    assert {n.node_id: n.status for n in state.list_nodes(alive)} == {
        "build": "running", "deploy": "pending"}
    untouched = state.get_run(silent)
    assert untouched is not None and untouched.status == "running"
    metrics = http("GET", f"{reaping.url}/metrics").body.decode()
    assert 'sparkwing_controller_reaped_total{reason="run_orphaned"} 2' in metrics


def test_a_starting_controller_has_swept_before_it_answers(sparkwing_home: Path,
                                                          tmp_path: Path) -> None:
    """What went stale while no controller ran is swept by the first tick, which a threaded
    controller waits for: the next tick is an hour away here, so nothing later can do it."""
    now, stale = time.time(), new_run_id()

    def seed(stores: Stores) -> None:
        stores.state.create_run(Run(id=stale, pipeline="ci", status="running",
                                    created_at=now - HOUR, started_at=now - HOUR,
                                    last_heartbeat_at=now - HOUR))

    served = _serve(tmp_path, seed, reaper_interval_s=3600.0)
    run = next(served).state.get_run(stale)
    served.close()
    assert run is not None and run.status == "failed", run
    assert run.error.startswith("orphaned: no heartbeat"), run.error


def test_stale_pending_run_fails_only_when_its_trigger_is_done(reaping: Served) -> None:
    state, now = reaping.state, time.time()
    # Older than 5 leases (5 x 60 s) and its trigger is done: the consumer never started it.
    undispatched = _run(state, "pending", heartbeat=None, created=now - HOUR,
                        nodes={"build": "pending"})
    _trigger(state, "done", undispatched)
    # Old, but its trigger is still claimed (a runner is about to start it).
    claimed = _run(state, "pending", heartbeat=None, created=now - HOUR)
    _trigger(state, "claimed", claimed)
    # Its trigger is done, but it is young (4 leases).
    young = _run(state, "pending", heartbeat=None, created=now - 4 * 60)
    _trigger(state, "done", young)

    failed = _wait_status(state, undispatched, "failed")
    assert failed.error == "trigger consumer finished without dispatching"
    assert [(n.status, n.outcome) for n in state.list_nodes(undispatched)] == [
        ("done", "cancelled")]
    later = _run(state, "pending", heartbeat=None, created=now - HOUR)
    _trigger(state, "done", later)
    _wait_status(state, later, "failed")
    for run_id in (claimed, young):
        run = state.get_run(run_id)
        assert run is not None and run.status == "pending", run


def _health(served: Served) -> tuple[int, dict[str, object]]:
    answer = http("GET", f"{served.url}/api/v1/health")
    return answer.status, answer.json()


def test_health_is_ok_then_degraded_by_a_stuck_trigger_claim(quiet: Served) -> None:
    state, now = quiet.state, time.time()
    status, body = _health(quiet)
    assert (status, body["status"], body["problems"]) == (200, "ok", [])
    _trigger(state, "claimed", claimed_at=now - 10 * 60)  # claimed 10 min: fine
    status, body = _health(quiet)
    assert (status, body["status"], body["problems"]) == (200, "ok", [])
    stuck = _trigger(state, "claimed", claimed_at=now - 31 * 60)
    status, body = _health(quiet)
    assert status == 200 and body["status"] == "degraded", body
    problems = body["problems"]
    assert isinstance(problems, list) and len(problems) == 1, problems
    assert "claimed for more than 30 min" in problems[0] and stuck.id in problems[0]
    # The image's HEALTHCHECK passes a degraded controller (a restart would not fix it).
    probe = subprocess.run([sys.executable, str(DEPLOY / "healthcheck.py")],
                           env={**os.environ, "SPARKWING_HEALTH_URL": f"{quiet.url}/api/v1/health"},
                           capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout)["status"] == "degraded"


def _finished_runs(state: ControllerStateStore, passed: int, failed: int, *,
                   created: float) -> None:
    for i in range(passed + failed):
        run_id = _run(state, "running", heartbeat=None, created=created)
        state.update_run(run_id, {"status": "success" if i < passed else "failed",
                                  "finished_at": created + 1})


def test_health_is_degraded_by_a_low_success_rate(quiet: Served) -> None:
    state, now = quiet.state, time.time()
    # Old failures (outside the 24 h window) do not count.
    _finished_runs(state, 0, 10, created=now - 25 * HOUR)
    _finished_runs(state, 16, 3, created=now - HOUR)
    # 19 runs in the window, 84 %: fine.
    assert _health(quiet)[1]["status"] == "ok"
    cancelled = _run(state, "running", heartbeat=None, created=now - HOUR)
    state.update_run(cancelled, {"status": "cancelled"})
    # A cancelled run is not counted: still 19 rated runs.
    assert _health(quiet)[1]["status"] == "ok"
    _finished_runs(state, 0, 1, created=now - HOUR)
    # 20 runs, 16 passed: exactly 80 %, not below.
    assert _health(quiet)[1]["status"] == "ok"
    _finished_runs(state, 0, 1, created=now - HOUR)
    status, body = _health(quiet)
    assert status == 200 and body["status"] == "degraded", body
    assert body["problems"] == ["success rate 76% over the last 24 h (16 of 21 runs) is below 80%"]


def test_health_is_503_when_the_state_store_fails(quiet: Served) -> None:
    quiet.stores.state.close()
    answer = http("GET", f"{quiet.url}/api/v1/health")
    answer.assert_error(503, "unavailable")

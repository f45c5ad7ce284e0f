"""The controller's lifecycle routes with real runners: cancel, retry, lineage, cancel one job.

A controller subprocess (auth required), real ``sparkwing runner`` processes
and a second home whose profile is only ``controller:`` with a user token
(``runs.read,runs.write``, no ``runs.report``), driving the routes through
``sparkwing runs cancel|retry --profile team``:

* a queued trigger cancelled before any runner claims it: its run is
  recorded ``cancelled`` (by the token's principal), the trigger is
  ``done`` and no runner ever starts it; a repeat is a 204 again;
* a run sleeping in a job on a runner: ``runs cancel`` stops it (the job's
  process is gone before it finished, the run ends ``cancelled``); a retry
  while it ran was a 409; ``runs retry --failed`` queues a retry (202) whose
  run, on a second runner, passes, reuses the job that passed and links
  back; the lineage lists both runs;
* one job of a queue-executor run: a job waiting for its dependency is
  cancelled before it is queued (it never runs), a claimed one is stopped
  by its runner (SIGTERM, not retried although it has ``.retry(1)``), the
  job between them passes, and the run ends ``failed``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sparkwing.storage.records import Node, Run
from sparkwing.testing.teamhomes import make_home
from sparkwing.triggers.keys import first_run_id

from .test_controller_clients import _profiles
from .test_node_runner import _finish, _laptop, _rows, _run, _stop
from .test_runner import (
    RUN_TIMEOUT_S,
    _alive,
    _log_events,
    _markers,
    _pipelines_project,
    _runner,
    _send_and_enqueue,
    _slow_project,
    _wait,
    _wait_for_markers,
)

#: A person's scopes: see and act on runs, no runs.report.
PERSON = "runs.read,runs.write,triggers.read"

JOBS_YAML = "pipelines:\n  - name: jobs\n    entrypoint: pipelines.jobs:plan\n"

JOBS_PY = '''\
"""Three queue jobs: hold waits for a release file, later needs it, stuck sleeps."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import sparkwing as sw


def _mark(name: str) -> Path:
    markers = Path(os.environ["SPARKWING_TEST_MARKERS"])
    markers.mkdir(exist_ok=True)
    path = markers / f"{name}.json"
    path.write_text(json.dumps({"pid": os.getpid(), "job": name}))
    return markers


def hold(ctx: sw.Context) -> dict[str, object]:
    markers = _mark("hold")
    while not (markers / "release").exists():
        time.sleep(0.1)
    return {"held": True}


def later(ctx: sw.Context) -> dict[str, object]:
    _mark("later")
    return {"ran": True}


def stuck(ctx: sw.Context) -> dict[str, object]:
    _mark(f"stuck-{ctx.attempt}")
    time.sleep(600)
    return {"slept": True}


def plan(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    first = plan.job("hold", hold)
    plan.job("later", later).needs(first)
    plan.job("stuck", stuck).retry(1)
'''


def _person(controller: Any, tmp_path: Path, url: str) -> Any:
    person = controller.token("user", "ada", PERSON)
    return make_home(tmp_path, "people", _profiles(url), TEAM_TOKEN=person, USER="local-ada")


def _cancel_events(stores: Any, run_id: str) -> list[dict[str, Any]]:
    from sparkwing import events

    return [e.payload | {"node_id": e.node_id} for e in stores.state.list_events(run_id)
            if e.kind == events.CANCEL_REQUESTED]


def _slow_trigger(controller: Any, tmp_path: Path) -> tuple[str, Any, str, str]:
    """Start the controller; an admin token, the person's home and a queued trigger of the
    ``slow`` pipeline: ``(admin, people, trigger_id, run_id)``."""
    admin = controller.token("user", "root", "admin")
    url = controller.start("--require-auth")
    people = _person(controller, tmp_path, url)
    trigger_id = _send_and_enqueue(controller, admin, _slow_project(tmp_path), "slow")
    return admin, people, trigger_id, first_run_id(trigger_id)


def test_a_queued_trigger_is_cancelled_before_any_runner_starts_it(
        controller: Any, tmp_path: Path) -> None:
    admin, people, trigger_id, run_id = _slow_trigger(controller, tmp_path)

    shown = people.cli("runs", "cancel", "--run", run_id, "--profile", "team", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) | {"cancel_requested_at": 0} == {
        "run_id": run_id, "status": "cancelled", "terminal": True, "cancelled": True,
        "cancel_requested_at": 0}
    again = controller.post(f"/api/v1/runs/{run_id}/cancel", {"reason": "twice"}, admin)
    assert again.status == 204, again.body  # idempotent
    controller.post("/api/v1/runs/run-20200101-000000-dead/cancel", None,
                    admin).assert_error(404, "not_found")
    with controller.open_state() as stores:
        row = stores.state.get_trigger(trigger_id)
        assert row is not None and (row.status, row.run_id) == ("done", run_id), row
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "cancelled", run
        assert run.error == "cancelled before it started" and run.pipeline == "slow"
        assert _cancel_events(stores, run_id) == [{"by": "user:ada", "node_id": ""}]
    # nothing is left for a runner: a --once runner would wait; the queue says so
    assert controller.get("/api/v1/triggers?status=pending", admin).json()["triggers"] == []
    # the run's lineage is the run itself
    lineage = controller.get(f"/api/v1/runs/{run_id}/attempts", admin)
    assert [r["id"] for r in lineage.json()["runs"]] == [run_id]


def test_a_running_run_is_cancelled_on_its_runner_then_retried(
        controller: Any, tmp_path: Path) -> None:
    runner_token = controller.token("runner", "box", "runner")
    admin, people, _trigger_id, run_id = _slow_trigger(controller, tmp_path)
    markers = tmp_path / "markers"
    env = {"SPARKWING_TEST_MARKERS": str(markers), "SPARKWING_TEST_SLEEP": "600"}
    proc, log = _runner(controller, tmp_path, "box", runner_token, "--once", env=env)
    (sleeping,) = _wait_for_markers(markers, proc, log)

    busy = controller.post(f"/api/v1/runs/{run_id}/retry", None, admin)
    busy.assert_error(409, "conflict")
    shown = people.cli("runs", "cancel", "--run", run_id, "--profile", "team",
                       "--reason", "wrong branch", "--timeout", "120s", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "cancelled", shown.stdout
    assert _wait(proc, log) == 0, log.read_text()[-4000:]
    assert not _alive(sleeping["pid"]), sleeping
    assert "end" not in _markers(markers)[0]  # stopped in the middle of its sleep
    again = controller.post(f"/api/v1/runs/{run_id}/cancel", None, admin)
    assert again.status == 204, again.body
    with controller.open_state() as stores:
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "cancelled", run
        assert _cancel_events(stores, run_id) == [
            {"by": "user:ada", "reason": "wrong branch", "node_id": ""}]

    retried = people.cli("runs", "retry", "--run", run_id, "--failed", "--profile", "team",
                         "-o", "json")
    assert retried.returncode == 0, retried.stderr
    (summary,) = [json.loads(line) for line in retried.stdout.splitlines()]
    assert (summary["status"], summary["retry_of"], summary["trigger_source"],
            summary["full"]) == ("pending", run_id, "retry", False), summary
    new_id = summary["id"]
    pending = controller.get(f"/api/v1/runs/{run_id}/attempts", admin).json()["runs"]
    assert [(r["id"], r["status"]) for r in pending] == [
        (run_id, "cancelled"), (new_id, "pending")], pending
    fast = {**env, "SPARKWING_TEST_SLEEP": "0.1"}
    proc, log = _runner(controller, tmp_path, "box-2", runner_token, "--once", env=fast)
    assert _wait(proc, log) == 0, log.read_text()[-4000:]
    with controller.open_state() as stores:
        new = stores.state.get_run(new_id)
        assert new is not None and new.status == "success", (new, log.read_text()[-4000:])
        assert new.retry_of == run_id and new.trigger_source == "retry", new
        nodes = {n.node_id: n.outcome for n in stores.state.list_nodes(new_id)}
        assert nodes == {"first": "cached", "sleep": "success"}, nodes  # first reused
        row = stores.state.get_trigger(summary["trigger_id"])
        assert row is not None and (row.status, row.run_id) == ("done", new_id), row
    for either in (run_id, new_id):
        lineage = controller.get(f"/api/v1/runs/{either}/attempts", admin).json()["runs"]
        assert [(r["id"], r["retry_of"]) for r in lineage] == [(run_id, ""), (new_id, run_id)]
    full = controller.post(f"/api/v1/runs/{new_id}/retry?full=1", None, admin)
    assert full.status == 202 and full.json()["full"] is True, full.body
    controller.post(f"/api/v1/runs/{new_id}/retry?full=maybe", None,
                    admin).assert_error(400, "bad_request")
    controller.post("/api/v1/runs/run-20200101-000000-dead/retry", None,
                    admin).assert_error(404, "not_found")


def test_one_job_of_a_queue_run_is_cancelled_and_the_run_carries_on(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    person = controller.token("user", "ada", PERSON)
    # short leases: heartbeats (an eighth of the lease) bring the cancel to the runner quickly
    controller.start("--require-auth", "--lease-secs", "12")
    root = _pipelines_project(tmp_path / "jobs", JOBS_YAML, "jobs", JOBS_PY)
    markers = tmp_path / "markers"
    runner, log = _runner(controller, tmp_path, "box", runner_token, "--max-jobs", "2",
                          env={"SPARKWING_TEST_MARKERS": str(markers)})
    proc, run_id = _run(_laptop(controller, tmp_path, admin), root, "jobs")
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not {"hold", "stuck-1"} <= {m["job"] for m in _markers(markers)}:
            assert runner.poll() is None and proc.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.1)
        stuck_pid = next(m["pid"] for m in _markers(markers) if m["job"] == "stuck-1")
        waiting = controller.post(f"/api/v1/runs/{run_id}/nodes/later/cancel", None, person)
        assert waiting.status == 200, waiting.body
        assert (waiting.json()["attempt"]["status"], waiting.json()["attempt"]["outcome"]) == (
            "finished", "cancelled")
        claimed = controller.post(f"/api/v1/runs/{run_id}/nodes/stuck/cancel",
                                  {"reason": "hung"}, person)
        assert claimed.status == 200, claimed.body
        row = claimed.json()["attempt"]
        assert (row["status"], row["attempt"]) == ("claimed", 1) and row["cancel_requested_at"]
        while _alive(stuck_pid):  # the runner's heartbeat learns it and SIGTERMs node exec
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.1)
        (markers / "release").write_text("go")
        code, _, err = _finish(proc)
    finally:
        _stop(runner)
        _stop(proc)
    assert code == 1, err[-4000:]
    assert "later" not in {m["job"] for m in _markers(markers)}  # never ran
    rows = _rows(controller, admin, run_id)
    assert set(rows) == {("hold", 1), ("later", 1), ("stuck", 1)}, rows  # stuck not retried
    assert {k: v["outcome"] for k, v in rows.items()} == {
        ("hold", 1): "success", ("later", 1): "cancelled", ("stuck", 1): "cancelled"}, rows
    with controller.open_state() as stores:
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "failed", run
        nodes = {n.node_id: n.outcome for n in stores.state.list_nodes(run_id)}
        assert nodes == {"hold": "success", "later": "cancelled", "stuck": "cancelled"}, nodes
        by_node = {e["node_id"]: e for e in _cancel_events(stores, run_id)}
        assert by_node == {
            "later": {"by": "user:ada", "attempt": 1, "node_id": "later"},
            "stuck": {"by": "user:ada", "reason": "hung", "attempt": 1, "node_id": "stuck"}}
    assert any(e.get("event") == "run cancel requested; stopping the child"
               for e in _log_events(log)), log.read_text()[-4000:]
    again = controller.post(f"/api/v1/runs/{run_id}/nodes/stuck/cancel", None, person)
    assert again.status == 200 and again.json()["attempt"]["outcome"] == "cancelled"
    controller.post(f"/api/v1/runs/{run_id}/nodes/hold/cancel", None,
                    person).assert_error(409, "conflict")
    controller.post(f"/api/v1/runs/{run_id}/nodes/nope/cancel", None,
                    person).assert_error(404, "not_found")


def test_a_job_outside_the_node_queue_cannot_be_cancelled_alone(controller: Any) -> None:
    admin = controller.token("user", "root", "admin")
    with controller.open_state() as stores:
        stores.state.create_run(Run(
            id="run-20260101-000000-beef", pipeline="p", status="running", pid=4242,
            created_at=time.time(), invocation={"engine": {"executor": "local"}},
            plan={"nodes": [{"id": "remote", "modifiers": {"executor": "queue"}}]}))
        stores.state.create_nodes("run-20260101-000000-beef", [
            Node("run-20260101-000000-beef", "here"), Node("run-20260101-000000-beef", "remote")])
    controller.start("--require-auth")
    refused = controller.post("/api/v1/runs/run-20260101-000000-beef/nodes/here/cancel", None,
                              admin).assert_error(409, "conflict")
    assert "'local' executor" in refused["message"] and "/cancel" in refused["message"]
    queued = controller.post("/api/v1/runs/run-20260101-000000-beef/nodes/remote/cancel",
                             None, admin)
    assert queued.status == 200, queued.body  # not queued yet: its attempt 1 is cancelled
    assert (queued.json()["attempt"]["attempt"], queued.json()["attempt"]["outcome"]) == (
        1, "cancelled")
    controller.post("/api/v1/runs/run-20260101-000000-beef/cancel", {"nope": 1},
                    admin).assert_error(400, "unknown_field")

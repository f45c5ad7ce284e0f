"""The ``queue`` executor and runners claiming node attempts, end to end.

A real controller on a fresh SQLite home; a project in a real git
repository; ``sparkwing run`` in a subprocess on a "laptop" home whose
profile has only ``controller:`` (state and logs in the controller) and
``executor: {type: queue}``; real ``sparkwing runner`` subprocesses that
claim the attempts and run each as ``sparkwing node exec``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sparkwing.ids import new_run_id

from .test_runner import _alive, _markers, _send_and_enqueue

#: Hang guard for a run or a runner (not a timing assertion).
RUN_TIMEOUT_S = 300.0

YAML = """\
pipelines:
  - name: two
    entrypoint: pipelines.work:two
  - name: labelled
    entrypoint: pipelines.work:labelled
  - name: all-gpu
    entrypoint: pipelines.work:one
    requires: [gpu]
  - name: flaky
    entrypoint: pipelines.work:flaky
"""

WORK_PY = '''\
"""Pipelines of the queue executor tests."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import sparkwing as sw


def build(ctx: sw.Context) -> dict[str, object]:
    ctx.info("build ran on the runner")
    return {"artifact": "app-1.0", "pid": os.getpid()}


def two(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    first = plan.job("build", build)

    def test(ctx: sw.Context) -> dict[str, object]:
        got = first.output.get(ctx)
        ctx.info(f"testing {got['artifact']}")
        return {"tested": got["artifact"], "pid": os.getpid()}

    plan.job("test", test).needs(first)


def labelled(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    plan.job("train", build).executor("queue", labels=["gpu"])
    plan.job("lint", build)


def one(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    plan.job("build", build)


def sleeper(ctx: sw.Context) -> dict[str, object]:
    markers = Path(os.environ["SPARKWING_TEST_MARKERS"])
    markers.mkdir(exist_ok=True)
    path = markers / f"{os.getpid()}-{time.time_ns()}.json"
    record = {"pid": os.getpid(), "start": time.time(), "attempt": ctx.attempt}
    path.write_text(json.dumps(record))
    ctx.info("sleeping")
    time.sleep(float(os.environ.get("SPARKWING_TEST_SLEEP", "4")))
    record["end"] = time.time()
    path.write_text(json.dumps(record))
    return {"slept": True}


def flaky(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    plan.job("sleep", sleeper).retry(1)
'''


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.invalid",
           "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@example.invalid"}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _project(tmp_path: Path, yaml: str = YAML, module: str = "work",
             source: str = WORK_PY) -> Path:
    """The test project (*yaml*, and *source* as ``pipelines/<module>.py``), committed in a
    fresh git repository."""
    root = tmp_path / "proj"
    (root / ".sparkwing" / "pipelines").mkdir(parents=True)
    (root / ".sparkwing" / "sparkwing.yaml").write_text(yaml)
    (root / ".sparkwing" / "pipelines" / "__init__.py").write_text("")
    (root / ".sparkwing" / "pipelines" / f"{module}.py").write_text(source)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "project")
    return root


def _laptop(controller: Any, tmp_path: Path, token: str, *,
            executor: bool = True) -> dict[str, str]:
    """The environment of a machine whose profile "team" records into the controller."""
    home = tmp_path / "laptop-home"
    home.mkdir(exist_ok=True)
    profile: dict[str, Any] = {"controller": {"url": controller.url,
                                              "token_env": "SPARKWING_TOKEN"}}
    if executor:
        profile["executor"] = {"type": "queue", "poll_s": 0.2}
    profiles = tmp_path / "laptop-profiles.yaml"
    profiles.write_text(json.dumps({"profiles": {"team": profile}}) + "\n")
    env = {**controller.env, "SPARKWING_HOME": str(home), "SPARKWING_PROFILES": str(profiles),
           "SPARKWING_TOKEN": token}
    env.pop("SPARKWING_PROFILE", None)
    return env


def _run(env: dict[str, str], root: Path, pipeline: str) -> tuple[subprocess.Popen[str], str]:
    """Start `sparkwing run PIPELINE --profile team` under a run id chosen here."""
    run_id = new_run_id()
    proc = subprocess.Popen([sys.executable, "-m", "sparkwing_cli.main", "run", pipeline,
                             "--profile", "team", "--sw-run-id", run_id], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    return proc, run_id


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"the run did not finish:\n{err[-4000:]}") from None
    return proc.returncode, out, err


def _runner(controller: Any, tmp_path: Path, name: str, token: str, *extra: str,
            env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], Path]:
    """Start `sparkwing runner` in its own process group; its stderr goes to a file."""
    log = tmp_path / f"{name}.log"
    full_env = {**controller.env, "SPARKWING_TOKEN": token, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparkwing_cli.main", "runner", "--controller", controller.url,
         "--work-dir", str(tmp_path / f"work-{name}"), "--name", name, "--poll", "0.2", *extra],
        cwd=controller.cwd, env=full_env, stdout=subprocess.DEVNULL,
        stderr=log.open("w"), text=True, start_new_session=True,
    )
    return proc, log


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _rows(controller: Any, token: str, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    answer = controller.get(f"/api/v1/nodes/queue?run_id={run_id}&limit=500", token)
    assert answer.status == 200, answer.body
    return {(r["node_id"], r["attempt"]): r for r in answer.json()["attempts"]}


def test_a_run_on_the_queue_executor_runs_each_job_on_a_runner(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box-1", "runner")
    controller.start("--require-auth")
    root = _project(tmp_path)
    env = _laptop(controller, tmp_path, admin)
    runner, log = _runner(controller, tmp_path, "box-1", runner_token, "--max-jobs", "2")
    proc, run_id = _run(env, root, "two")
    try:
        code, _, err = _finish(proc)
    finally:
        _stop(runner)
    assert code == 0, (err[-4000:], log.read_text()[-4000:])
    rows = _rows(controller, admin, run_id)
    assert set(rows) == {("build", 1), ("test", 1)}, rows
    for row in rows.values():
        assert row["status"] == "finished" and row["outcome"] == "success", row
        assert row["claimed_by"].startswith("box-1:"), row
    with controller.open_state() as stores:
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "success", run
        nodes = {n.node_id: n for n in stores.state.list_nodes(run_id)}
        assert nodes["build"].outcome == "success" and nodes["test"].outcome == "success"
        assert nodes["test"].output["tested"] == "app-1.0", nodes["test"].output
        # each job ran in a `node exec` process of the runner, not in the run's process
        finished = [e for e in stores.state.list_events(run_id, 0, 1000)
                    if e.kind == "attempt_finished"]
        assert sorted(e.node_id for e in finished) == ["build", "test"], finished
        for event in finished:
            assert event.payload["executor"] == "queue" and event.payload["pid"], event
        assert nodes["build"].output["pid"] != nodes["test"].output["pid"]
        build_log = "\n".join(stores.logs.tail(run_id, "build", 200))
        test_log = "\n".join(stores.logs.tail(run_id, "test", 200))
    assert "build ran on the runner" in build_log and "queued for a runner" in build_log
    assert "claimed by runner box-1:" in build_log
    assert "testing app-1.0" in test_log
    started = [e for e in _events(log) if e.get("event") == "node started"]
    assert sorted(e["node"] for e in started) == ["build", "test"], started
    assert all(e["claim_to_start_s"] >= 0 for e in started)


def test_a_job_needing_a_label_is_claimed_only_by_a_runner_with_it(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    controller.start("--require-auth")
    root = _project(tmp_path)
    env = _laptop(controller, tmp_path, admin)
    plain, plain_log = _runner(controller, tmp_path, "plain", runner_token, "--max-jobs", "2")
    gpu: subprocess.Popen[str] | None = None
    proc, run_id = _run(env, root, "labelled")
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:  # the plain runner finishes `lint` while `train` waits for a gpu runner
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, plain_log.read_text()[-4000:]
            rows = _rows(controller, admin, run_id)
            lint = rows.get(("lint", 1))
            if lint is not None and lint["status"] == "finished" and ("train", 1) in rows:
                break
            time.sleep(0.1)
        train = rows[("train", 1)]
        assert train["status"] == "ready" and train["needs_labels"] == ["gpu"], train
        assert lint["claimed_by"].startswith("plain:") and lint["needs_labels"] == [], lint
        # the plain runner polled after train was queued and left it there
        claims_after = [e for e in _events(plain_log) if e.get("event") == "node claimed"]
        assert [e["node"] for e in claims_after] == ["lint"], claims_after
        gpu, _ = _runner(controller, tmp_path, "gpu", runner_token, "--label", "gpu")
        code, _, err = _finish(proc)
    finally:
        _stop(plain)
        if gpu is not None:
            _stop(gpu)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 0, err[-4000:]
    rows = _rows(controller, admin, run_id)
    assert rows[("train", 1)]["claimed_by"].startswith("gpu:"), rows
    assert rows[("train", 1)]["outcome"] == "success", rows

    # a pipeline's `requires` (sparkwing.yaml) becomes every job's needs
    gpu, _ = _runner(controller, tmp_path, "gpu2", runner_token, "--label", "gpu")
    proc, run_id = _run(env, root, "all-gpu")
    try:
        code, _, err = _finish(proc)
    finally:
        _stop(gpu)
    assert code == 0, err[-4000:]
    row = _rows(controller, admin, run_id)[("build", 1)]
    assert row["needs_labels"] == ["gpu"] and row["claimed_by"].startswith("gpu2:"), row


def test_a_killed_runner_s_attempt_is_reaped_and_retried_on_another_runner(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    controller.start("--require-auth", "--lease-secs", "3", "--reaper-interval", "0.5")
    root = _project(tmp_path)
    env = _laptop(controller, tmp_path, admin)
    markers = tmp_path / "markers"
    job_env = {"SPARKWING_TEST_MARKERS": str(markers), "SPARKWING_TEST_SLEEP": "4"}
    a, a_log = _runner(controller, tmp_path, "a", runner_token, env=job_env)
    proc, run_id = _run(env, root, "flaky")
    b: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not _markers(markers):  # A's node exec is in the sleeping job
            assert a.poll() is None and proc.poll() is None, a_log.read_text()[-4000:]
            assert time.monotonic() < deadline, a_log.read_text()[-4000:]
            time.sleep(0.1)
        first = _markers(markers)[0]
        os.killpg(a.pid, signal.SIGKILL)
        a.wait()
        while _alive(first["pid"]):  # node exec notices its runner is gone and ends its tree
            assert time.monotonic() < deadline, "A's node exec outlived A"
            time.sleep(0.05)
        child_gone = time.time()
        b, b_log = _runner(controller, tmp_path, "b", runner_token, env=job_env)
        code, _, err = _finish(proc)
    finally:
        if b is not None:
            _stop(b)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 0, (err[-4000:], b_log.read_text()[-4000:])
    rows = _rows(controller, admin, run_id)
    lost, retried = rows[("sleep", 1)], rows[("sleep", 2)]
    assert lost["outcome"] == "failed" and lost["failure_reason"] == "agent_lost", lost
    assert lost["claimed_by"].startswith("a:"), lost
    assert retried["outcome"] == "success" and retried["claimed_by"].startswith("b:"), retried
    marks = sorted(_markers(markers), key=lambda m: m["start"])
    assert len(marks) == 2, marks
    old, new = marks
    assert "end" not in old and "end" in new and new["attempt"] == 2, marks
    assert new["start"] > child_gone, "two attempts ran at once"
    with controller.open_state() as stores:
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "success", run
        events = stores.state.list_events(run_id, 0, 1000)
    reaped = [e for e in events if e.kind == "attempt_reaped"]
    assert reaped and reaped[0].payload["reason"] == "agent_lost", reaped
    finished = [(e.payload["attempt"], e.payload["outcome"], e.payload.get("failure_reason"))
                for e in events if e.kind == "attempt_finished"]
    assert finished == [(1, "failed", "agent_lost"), (2, "success", None)], finished


def test_the_queue_executor_without_a_controller_is_a_one_line_error(tmp_path: Path) -> None:
    root = _project(tmp_path)
    env = {**os.environ, "SPARKWING_HOME": str(tmp_path / "home")}
    env.pop("SPARKWING_PROFILE", None)
    env["SPARKWING_PROFILES"] = str(tmp_path / "none.yaml")
    out = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "run", "two",
                          "--sw-executor", "queue"], cwd=root, env=env, capture_output=True,
                         text=True, timeout=RUN_TIMEOUT_S)
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1, out.stderr
    assert "executor queue" in out.stderr and "controller" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_a_run_cancel_reaches_the_claimed_attempt_on_its_runner(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    # Heartbeats every 1.5 s carry the cancel; a lease long enough that a loaded machine's late
    # heartbeat does not get the attempt reaped (and retried) first.
    controller.start("--require-auth", "--lease-secs", "12")
    root = _project(tmp_path)
    env = _laptop(controller, tmp_path, admin)
    markers = tmp_path / "markers"
    job_env = {"SPARKWING_TEST_MARKERS": str(markers), "SPARKWING_TEST_SLEEP": "600"}
    runner, log = _runner(controller, tmp_path, "box", runner_token, env=job_env)
    proc, run_id = _run(env, root, "flaky")
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not _markers(markers):
            assert runner.poll() is None and proc.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.1)
        answer = controller.post(f"/ui/api/v1/runs/{run_id}/cancel", {}, admin)
        assert answer.status in (200, 202), answer.body
        code, _, err = _finish(proc)
    finally:
        _stop(runner)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code != 0, err[-4000:]
    (mark,) = _markers(markers)
    assert "end" not in mark and not _alive(mark["pid"]), mark
    rows = _rows(controller, admin, run_id)
    assert set(rows) == {("sleep", 1)}, rows  # a cancel is not retried
    assert rows[("sleep", 1)]["outcome"] == "cancelled", rows
    with controller.open_state() as stores:
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "cancelled", run
    assert any(e.get("event") == "run cancel requested; stopping the child"
               for e in _events(log)), log.read_text()[-4000:]


def test_an_attempt_nobody_claims_fails_with_queue_timeout(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    controller.start("--require-auth", "--queue-timeout", "1", "--reaper-interval", "0.5")
    root = _project(tmp_path)
    env = _laptop(controller, tmp_path, admin)
    proc, run_id = _run(env, root, "all-gpu")  # no runner at all
    code, _, err = _finish(proc)
    assert code == 1, err[-4000:]
    row = _rows(controller, admin, run_id)[("build", 1)]
    assert row["outcome"] == "failed" and row["failure_reason"] == "queue_timeout", row
    with controller.open_state() as stores:
        node = stores.state.get_node(run_id, "build")
        assert node is not None and node.outcome == "failed", node
        finished = [e.payload for e in stores.state.list_events(run_id, 0, 1000)
                    if e.kind == "attempt_finished"]
    assert [(p["executor"], p["outcome"], p["failure_reason"]) for p in finished] == [
        ("queue", "failed", "queue_timeout")], finished


def _trigger_end(controller: Any, token: str, trigger_id: str, runner: subprocess.Popen[str],
                 log: Path) -> dict[str, Any]:
    """Poll trigger *trigger_id* until it is done or failed (while *runner* lives); its row."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        row: dict[str, Any] = controller.get(f"/api/v1/triggers/{trigger_id}", token).json()
        if row["status"] in ("done", "failed"):
            return row
        assert runner.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.2)


def test_a_trigger_s_run_queues_its_queue_jobs_for_runners(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    controller.start("--require-auth")
    trigger_id = _send_and_enqueue(controller, admin, _project(tmp_path), "labelled")
    # one runner: the trigger's run takes one slot, its `train` job (queue, gpu) the other
    runner, log = _runner(controller, tmp_path, "box", runner_token, "--label", "gpu",
                          "--max-jobs", "2")
    try:
        row = _trigger_end(controller, admin, trigger_id, runner, log)
    finally:
        _stop(runner)
    assert row["status"] == "done", (row, log.read_text()[-4000:])
    run_id = row["run_id"]
    rows = _rows(controller, admin, run_id)
    assert set(rows) == {("train", 1)}, rows  # `lint` ran in the trigger's run, locally
    assert rows[("train", 1)]["outcome"] == "success", rows
    assert rows[("train", 1)]["claimed_by"].startswith("box:"), rows
    with controller.open_state() as stores:
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "success", run
        executors = {e.node_id: e.payload["executor"]
                     for e in stores.state.list_events(run_id, 0, 1000)
                     if e.kind == "attempt_finished"}
    assert executors == {"lint": "local", "train": "queue"}, executors


def test_runner_executor_queue_spreads_a_trigger_s_jobs_over_the_runners(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    controller.start("--require-auth")
    trigger_id = _send_and_enqueue(controller, admin, _project(tmp_path), "two")
    runner, log = _runner(controller, tmp_path, "box", runner_token, "--executor", "queue",
                          "--executor-setting", "poll_s=0.2", "--max-jobs", "2")
    try:
        row = _trigger_end(controller, admin, trigger_id, runner, log)
    finally:
        _stop(runner)
    assert row["status"] == "done", (row, log.read_text()[-4000:])
    rows = _rows(controller, admin, row["run_id"])
    assert set(rows) == {("build", 1), ("test", 1)}, rows
    assert all(r["outcome"] == "success" and r["claimed_by"].startswith("box:")
               for r in rows.values()), rows

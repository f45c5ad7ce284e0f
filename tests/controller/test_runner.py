"""``sparkwing runner`` end to end: a real controller, real git code bundles, real runner processes.

The controller serves a fresh SQLite home; a project in a real git
repository is sent through the code routes as `pipeline trigger` does
(:func:`sparkwing_cli.remotetrigger.send_code`) and enqueued as a trigger; runner subprocesses claim it, rebuild the
code, run it in a child process whose state goes to the controller, and
finish the trigger row.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sparkwing.queueclient import QueueClient
from sparkwing_cli.remotetrigger import send_code

REPO = Path(__file__).resolve().parents[2]
#: Hang guard for a runner to finish its one trigger (not a timing assertion).
RUN_TIMEOUT_S = 300.0

SLOW_YAML = """\
pipelines:
  - name: slow
    entrypoint: pipelines.slow:plan
"""

SLOW_PY = '''\
"""Two jobs: a quick one, then one that records its pid and times in a marker file and sleeps."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import sparkwing as sw


def first(ctx: sw.Context) -> dict[str, object]:
    ctx.info("first ok")
    return {"ok": True}


def sleeper(ctx: sw.Context) -> dict[str, object]:
    markers = Path(os.environ["SPARKWING_TEST_MARKERS"])
    markers.mkdir(exist_ok=True)
    path = markers / f"{os.getpid()}-{time.time_ns()}.json"
    record = {"pid": os.getpid(), "start": time.time()}
    path.write_text(json.dumps(record))
    ctx.info("sleeping")
    time.sleep(float(os.environ.get("SPARKWING_TEST_SLEEP", "4")))
    record["end"] = time.time()
    path.write_text(json.dumps(record))
    return {"slept": True}


def plan(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    done = plan.job("first", first)
    plan.job("sleep", sleeper).needs(done)
'''


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.invalid",
           "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@example.invalid"}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _commit_all(root: Path) -> str:
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "project")
    return _git(root, "rev-parse", "HEAD")


def _ci_project(tmp_path: Path) -> tuple[Path, str]:
    """A committed copy of examples/python-ci: its path and its commit."""
    project = tmp_path / "python-ci"
    shutil.copytree(REPO / "examples" / "python-ci", project,
                    ignore=shutil.ignore_patterns("__pycache__", "dist"))
    return project, _commit_all(project)


def _pipelines_project(root: Path, yaml: str, module: str, code: str) -> Path:
    """A committed project at *root*: sparkwing.yaml *yaml*, ``pipelines/<module>.py`` *code*."""
    (root / ".sparkwing" / "pipelines").mkdir(parents=True)
    (root / ".sparkwing" / "sparkwing.yaml").write_text(yaml)
    (root / ".sparkwing" / "pipelines" / "__init__.py").write_text("")
    (root / ".sparkwing" / "pipelines" / f"{module}.py").write_text(code)
    _commit_all(root)
    return root


def _slow_project(tmp_path: Path) -> Path:
    """The committed project of the ``slow`` pipeline (SLOW_YAML, SLOW_PY)."""
    return _pipelines_project(tmp_path / "slow", SLOW_YAML, "slow", SLOW_PY)


def _send_and_enqueue(controller: Any, token: str, root: Path, pipeline: str) -> str:
    """Upload the checkout's code as `pipeline trigger` does and enqueue a trigger; its id."""
    with QueueClient(controller.url, token) as client:
        sent = send_code(client, root)
    answer = controller.post("/api/v1/triggers", {
        "pipeline": pipeline, "git": {"ref": "refs/heads/main", "sha": sent.sha}}, token)
    assert answer.status == 202, answer.body
    return str(answer.json()["trigger_id"])


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


def _wait(proc: subprocess.Popen[str], log: Path) -> int:
    try:
        return proc.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("runner did not finish:\n" + log.read_text()[-4000:]) from None


def _log_events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_a_runner_runs_a_queued_trigger_with_its_code(controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box-1", "runner")
    controller.start("--require-auth")
    project, sha = _ci_project(tmp_path)
    trigger_id = _send_and_enqueue(controller, admin, project, "ci")

    proc, log = _runner(controller, tmp_path, "box-1", runner_token, "--once")
    assert _wait(proc, log) == 0, log.read_text()[-4000:]

    with controller.open_state() as stores:
        row = stores.state.get_trigger(trigger_id)
        assert row is not None and row.status == "done", (row, log.read_text()[-4000:])
        assert row.run_id and row.claims == 1 and not row.error
        run = stores.state.get_run(row.run_id)
        assert run is not None and run.status == "success", run
        assert run.git_sha == sha and run.pipeline == "ci"
        nodes = {n.node_id: n.outcome for n in stores.state.list_nodes(run.id)}
        assert nodes == {"lint": "success", "test": "success", "build": "success",
                         "smoke": "success"}, nodes
        # the run's logs went to the controller's log store through the controller profile
        assert {"lint", "test", "build", "smoke"} <= set(stores.logs.streams(run.id))
        smoke_log = "\n".join(stores.logs.tail(run.id, "smoke", 200))
        assert "words: 21" in smoke_log, smoke_log[-2000:]
    # the runner's own log: structured lines naming the claim, the child's output and the finish
    events = _log_events(log)
    names = [e.get("event") for e in events]
    assert "trigger claimed" in names and "run started" in names
    finished = [e for e in events if e.get("event") == "trigger finished"]
    assert finished and finished[0]["status"] == "done"
    assert finished[0]["finished_run"] == row.run_id
    assert any(e.get("child") for e in events), "the child's output is not in the runner's log"
    # claimed mode refuses a request its holder does not hold (exit 2, one line)
    work = tmp_path / "work-box-1"
    exported = work / "runs" / trigger_id
    assert not exported.exists(), "the run's exported tree was left behind"
    exported.mkdir(parents=True)
    out = subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", "triggers", "run", "--id", trigger_id,
         "--claimed-by", "box-9:1:x", "--claim-seq", "1", "--profile", "controller"],
        cwd=exported, capture_output=True, text=True, timeout=120,
        env={**controller.env, "SPARKWING_TOKEN": runner_token,
             "SPARKWING_HOME": str(work / "home"),
             "SPARKWING_PROFILES": str(work / "profiles.yaml")})
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and "not claimed by box-9:1:x" in out.stderr, out.stderr
    # the code came as one bundle, applied once to the runner's cache
    assert len((work / "code.git" / "sparkwing-applied").read_text().split()) == 1


def test_a_trigger_without_code_fails_with_one_line(controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box-1", "runner")
    controller.start("--require-auth")
    answer = controller.post("/api/v1/triggers", {"pipeline": "ci"}, admin)
    assert answer.status == 202
    no_sha = answer.json()["trigger_id"]
    answer = controller.post("/api/v1/triggers", {"pipeline": "ci", "git": {"sha": "a" * 40}},
                             admin)
    assert answer.status == 202
    unknown_sha = answer.json()["trigger_id"]
    for _ in range(2):
        proc, log = _runner(controller, tmp_path, "box-1", runner_token, "--once")
        assert _wait(proc, log) == 0, log.read_text()[-4000:]
    with controller.open_state() as stores:
        row = stores.state.get_trigger(no_sha)
        assert row is not None and row.status == "failed" and not row.run_id
        assert "no git_sha" in row.error and "\n" not in row.error
        row = stores.state.get_trigger(unknown_sha)
        assert row is not None and row.status == "failed" and not row.run_id
        assert row.error.startswith(f"code {'a' * 12}: controller: ") and "HTTP 404" in row.error


def _markers(path: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(path.glob("*.json"))] if path.is_dir() else []


def _wait_for_markers(markers: Path, proc: subprocess.Popen[str],
                      log: Path) -> list[dict[str, Any]]:
    """Wait until the sleeping job of *proc*'s run wrote its marker file; the markers."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not _markers(markers):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.1)
    return _markers(markers)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def test_a_killed_runner_s_trigger_is_rerun_by_another_runner(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    controller.start("--require-auth", "--lease-secs", "3", "--reaper-interval", "0.5")
    project = _slow_project(tmp_path)
    trigger_id = _send_and_enqueue(controller, admin, project, "slow")
    markers = tmp_path / "markers"
    env = {"SPARKWING_TEST_MARKERS": str(markers), "SPARKWING_TEST_SLEEP": "4"}

    a, a_log = _runner(controller, tmp_path, "a", runner_token, env=env)
    first = _wait_for_markers(markers, a, a_log)[0]  # A's child is in the sleeping job
    deadline = time.monotonic() + RUN_TIMEOUT_S
    os.killpg(a.pid, signal.SIGKILL)
    a.wait()
    while _alive(first["pid"]):  # the child notices its runner is gone and ends its tree
        assert time.monotonic() < deadline, "A's child outlived A"
        time.sleep(0.05)
    child_gone = time.time()

    b, b_log = _runner(controller, tmp_path, "b", runner_token, "--once", env=env)
    assert _wait(b, b_log) == 0, b_log.read_text()[-4000:]

    marks = _markers(markers)
    assert len(marks) == 2, marks
    old, new = sorted(marks, key=lambda m: m["start"])
    assert "end" not in old and "end" in new, marks
    assert new["start"] > child_gone, "two children ran at once"
    with controller.open_state() as stores:
        row = stores.state.get_trigger(trigger_id)
        assert row is not None and row.status == "done" and row.claims == 2, row
        new_run = stores.state.get_run(row.run_id)
        assert new_run is not None and new_run.status == "success", new_run
        assert new_run.retry_of, new_run
        old_run = stores.state.get_run(new_run.retry_of)
        assert old_run is not None and old_run.status == "failed", old_run
        assert old_run.error == (f"runner lost: trigger lease expired; retried as {new_run.id}")
        old_nodes = {n.node_id: (n.status, n.outcome) for n in stores.state.list_nodes(old_run.id)}
        assert old_nodes["first"] == ("done", "success"), old_nodes
        assert old_nodes["sleep"] == ("done", "cancelled"), old_nodes
        new_nodes = {n.node_id: n.outcome for n in stores.state.list_nodes(new_run.id)}
        assert new_nodes["sleep"] == "success", new_nodes
    b_events = _log_events(b_log)
    claimed = [e for e in b_events if e.get("event") == "trigger claimed"]
    assert claimed and claimed[0]["seq"] == 2


def test_runner_usage_errors_are_one_line(controller: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in controller.env.items() if k != "SPARKWING_TOKEN"}
    base = [sys.executable, "-m", "sparkwing_cli.main", "runner"]
    out = subprocess.run([*base, "--controller", "http://127.0.0.1:9"], env=env,
                         cwd=controller.cwd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and "$SPARKWING_TOKEN" in out.stderr, out.stderr
    out = subprocess.run([*base, "--controller", "http://127.0.0.1:9", "--token-env", "BOX_TOK"],
                         env=env, cwd=controller.cwd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "$BOX_TOK" in out.stderr, out
    out = subprocess.run([*base, "--controller", "http://127.0.0.1:9", "--no-such-flag"],
                         env=env, cwd=controller.cwd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--no-such-flag" in out.stderr, out
    out = subprocess.run([*base, "--controller", "ftp://x"], env={**env, "SPARKWING_TOKEN": "t"},
                         cwd=controller.cwd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--controller" in out.stderr and "Traceback" not in out.stderr


def test_an_unreachable_controller_is_retried_not_fatal(controller: Any, tmp_path: Path) -> None:
    controller.url = "http://127.0.0.1:9"  # nothing listens on the discard port
    proc, log = _runner(controller, tmp_path, "box", "swr_unused")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while sum(e.get("event") == "cannot claim; retrying" for e in _log_events(log)) < 2:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    assert _wait(proc, log) == 0
    assert "runner stopped" in log.read_text()
    assert "Traceback" not in log.read_text()


def test_a_cancelled_run_stops_and_the_trigger_is_done(controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    controller.start("--require-auth")
    project = _slow_project(tmp_path)
    trigger_id = _send_and_enqueue(controller, admin, project, "slow")
    markers = tmp_path / "markers"
    env = {"SPARKWING_TEST_MARKERS": str(markers), "SPARKWING_TEST_SLEEP": "600"}
    proc, log = _runner(controller, tmp_path, "box", runner_token, "--once", env=env)
    _wait_for_markers(markers, proc, log)
    run_id = next(e["run"] for e in _log_events(log) if e.get("event") == "run started")
    answer = controller.post(f"/ui/api/v1/runs/{run_id}/cancel", {}, admin)
    assert answer.status in (200, 202), answer.body
    assert _wait(proc, log) == 0, log.read_text()[-4000:]
    with controller.open_state() as stores:
        row = stores.state.get_trigger(trigger_id)
        assert row is not None and row.status == "done" and row.run_id == run_id, row
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "cancelled", run
    # the child's engine sees the request itself, or the runner's heartbeat SIGTERMs it
    assert any(e.get("event") == "trigger finished" and e["status"] == "done"
               for e in _log_events(log))


def test_sigterm_stops_claiming_and_finishes_the_running_trigger(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    controller.start("--require-auth")
    project = _slow_project(tmp_path)
    first = _send_and_enqueue(controller, admin, project, "slow")
    markers = tmp_path / "markers"
    env = {"SPARKWING_TEST_MARKERS": str(markers), "SPARKWING_TEST_SLEEP": "600"}
    proc, log = _runner(controller, tmp_path, "box", runner_token, "--grace", "1", env=env)
    _wait_for_markers(markers, proc, log)
    second = _send_and_enqueue(controller, admin, project, "slow")
    os.kill(proc.pid, signal.SIGTERM)
    assert _wait(proc, log) == 0, log.read_text()[-4000:]
    with controller.open_state() as stores:
        row = stores.state.get_trigger(first)
        assert row is not None and row.status == "done" and row.run_id, row
        run = stores.state.get_run(row.run_id)
        assert run is not None and run.status == "cancelled", run
        queued = stores.state.get_trigger(second)
        assert queued is not None and queued.status == "pending" and queued.claims == 0, queued
    assert not _alive(_markers(markers)[0]["pid"])


def _trigger_cli(controller: Any, cwd: Path, *args: str, env: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "pipeline", "trigger",
                           *args], cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env={**controller.env, **(env or {})})


def test_pipeline_trigger_sends_the_tree_and_follows_the_run(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box-1", "runner")
    controller.start("--require-auth")
    project, head = _ci_project(tmp_path)
    (project / "NOTES.txt").write_text("an untracked file travels too\n")
    proc, log = _runner(controller, tmp_path, "box-1", runner_token, "--once")
    try:
        out = _trigger_cli(controller, project, "ci", "--controller", controller.url,
                           env={"SPARKWING_TOKEN": admin})
        assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:],
                                     log.read_text()[-3000:])
        assert _wait(proc, log) == 0
    finally:
        if proc.poll() is None:  # a failed trigger leaves the --once runner waiting
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "(uncommitted changes), sent " in out.stderr
    trigger_id = out.stderr.split("queued trigger ")[1].split(";")[0]
    run_id = "run-" + trigger_id[4:]
    assert f"run {run_id}: success" in out.stderr
    lines = out.stdout.splitlines()
    assert "[smoke] success" in lines and "[lint] success" in lines
    assert any(line.startswith("[smoke] ") and "words: 21" in line for line in lines), lines
    with controller.open_state() as stores:
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "success"
        assert run.git_sha not in ("", head)  # the snapshot commit, not HEAD
        row = stores.state.get_trigger(trigger_id)
        assert row is not None and row.status == "done" and row.run_id == run_id
        assert row.request["trigger"]["event"] == "pipeline-trigger"

    # the same tree again sends nothing; --detach prints the ids; a profile names the controller
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(f"profiles:\n  team:\n    controller: {{url: {controller.url}, "
                        "token_env: TEAM_TOKEN}\n")
    again = _trigger_cli(controller, project, "ci", "--profile", "team", "--detach", "-o", "json",
                         env={"TEAM_TOKEN": admin, "SPARKWING_PROFILES": str(profiles)})
    assert again.returncode == 0, again.stderr
    assert "already on the controller" in again.stderr
    queued = json.loads(again.stdout)
    assert queued["run_id"] == "run-" + queued["trigger_id"][4:]
    # no token: one line, exit 2; a token without runs.write: exit 2 naming the scope
    bare = {k: v for k, v in controller.env.items() if k != "SPARKWING_TOKEN"}
    none = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "pipeline", "trigger",
                           "ci", "--controller", controller.url], cwd=project, env=bare,
                          capture_output=True, text=True, timeout=120)
    assert none.returncode == 2 and none.stderr.count("\n") == 1, none.stderr
    assert "SPARKWING_TOKEN" in none.stderr
    weak = _trigger_cli(controller, project, "ci", "--controller", controller.url,
                        env={"SPARKWING_TOKEN": runner_token})
    assert weak.returncode == 2 and "runs.write" in weak.stderr, weak.stderr

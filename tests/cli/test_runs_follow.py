"""Following a live run: `runs logs -f` and `runs status -f` end when the run does."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

GATED = '''
    import sparkwing as sw

    def plan(plan, inputs, run):
        first = plan.job("first", sw.sh(
            "echo waiting-for-go; while [ ! -e go ]; do sleep 0.05; done; echo got-go"))
        plan.job("second", sw.sh("echo second-ran")).needs(first)
'''


def _follower(clienv, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=clienv.repo,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clienv.env,
    )


def test_logs_follow_all_jobs_until_the_run_ends(clienv) -> None:
    clienv.add_pipeline("gated", GATED)
    run = clienv.start("run", "gated", "-o", "json")
    run_id = clienv.wait_node_running(None, "first")
    follower = _follower(clienv, "runs", "logs", "--run", run_id, "-f", "-o", "plain")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(follower.stdout), daemon=True)
    reader.start()
    try:
        # the follower prints what was there already, then keeps going
        clienv.wait_for(lambda: "[first] waiting-for-go\n" in lines,
                        what="the follower to print the first job's output")
        assert "[first] got-go\n" not in lines
        (clienv.repo / "go").write_text("")
        assert follower.wait(timeout=60) == 0, follower.stderr.read()
        reader.join(timeout=60)
    finally:
        follower.kill()
    assert run.wait(timeout=60) == 0
    lines = [ln.rstrip("\n") for ln in lines]
    assert lines[0].startswith(f"[run] run {run_id}")
    assert "[first] got-go" in lines and "[second] second-ran" in lines
    assert lines.index("[first] got-go") < lines.index("[second] second-ran")
    assert lines[-1] == "[run] run success"
    # nothing is printed twice, nothing is missing
    full = clienv.cli("runs", "logs", "--run", run_id, "-o", "plain").stdout.splitlines()
    assert lines == full


def test_logs_follow_one_job_json(clienv) -> None:
    clienv.add_pipeline("gated", GATED)
    run = clienv.start("run", "gated", "-o", "json")
    run_id = clienv.wait_node_running(None, "first")
    follower = _follower(clienv, "runs", "logs", "--run", run_id, "--node", "first", "-f",
                         "-o", "json")
    try:
        clienv.wait_for(lambda: (clienv.sw_home / "runs" / run_id / "first.log").exists())
        (clienv.repo / "go").write_text("")
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    run.wait(timeout=60)
    records = [json.loads(ln) for ln in out.splitlines()]
    assert {r["node"] for r in records} == {"first"}
    assert [r["msg"] for r in records if r.get("event") == "exec_line"] == [
        "waiting-for-go", "got-go"]
    assert records[-1]["event"] == "node_end"


def test_status_follow_waits_and_exits_with_the_runs_result(clienv) -> None:
    clienv.add_pipeline("gated", GATED)
    run = clienv.start("run", "gated", "-o", "json")
    run_id = clienv.wait_node_running(None, "first")
    follower = _follower(clienv, "runs", "status", "--run", run_id, "-f")
    try:
        (clienv.repo / "go").write_text("")
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    run.wait(timeout=60)
    assert follower.returncode == 0, err
    assert "second  success" in out
    assert f"{run_id}  gated  success" in out


def test_follow_of_a_finished_run_just_prints(clienv) -> None:
    run_id = clienv.run("broken")
    proc = clienv.cli("runs", "logs", "--run", run_id, "-f", "-o", "plain", "--tail", "1")
    assert proc.returncode == 0
    assert proc.stdout == "[run] run failed: jobs failed: bad; cancelled: never\n"
    status = clienv.cli("runs", "status", "--run", run_id, "-f", "-o", "json")
    assert status.returncode == 1
    assert json.loads(status.stdout)["run"]["status"] == "failed"

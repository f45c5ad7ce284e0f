"""The people's commands through a ``controller:`` profile, from a second home.

A controller runs in a subprocess (auth required). Home *a* (a runner
token) runs a pipeline through a profile that is only
``controller: {url, token_env}``; home *b* (a user token: read runs,
approve, act on runs, read logs; no ``runs.report``) is another machine
whose profile points at the same controller:

* ``runs approvals list`` on *b* shows the gate *a*'s run waits at;
  ``runs approvals approve`` on *b* lets it continue to success, recorded
  with *b*'s token as the approver;
* ``debug list`` on *b* shows the pause of a run started with
  ``--sw-pause-before``; ``debug release`` on *b* lets it continue;
* ``dashboard start`` on *b* lists *a*'s waiting run in its runs API and
  approves its gate through the controller.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from sparkwing.testing.teamhomes import Home, free_port, make_home

#: What *b*'s user may do: no ``runs.report`` (the runner's scope).
USER_SCOPES = "runs.read,runs.write,approvals.write,logs.read"
#: Hang guard for a run to reach its gate or pause (not a timing assertion).
WAIT_S = 120.0

GATED = """
import sparkwing as sw

def plan(plan, inputs, run):
    build = plan.job("build", sw.sh("echo built"))
    gate = plan.approval("ship", message="ship it?", timeout=600).needs(build)
    plan.job("after", sw.sh("echo shipped")).needs(gate)
"""

TWO_JOBS = """
import sparkwing as sw

def plan(plan, inputs, run):
    first = plan.job("first", sw.sh("echo first-ran"))
    plan.job("second", sw.sh("echo second-ran")).needs(first)
"""


def _profiles(url: str) -> str:
    return f'profiles:\n  team:\n    controller: {{url: "{url}", token_env: TEAM_TOKEN}}\n'


def _project(home: Home, name: str, code: str) -> Path:
    """A checkout in *home* with one pipeline *name*."""
    root = home.root / "projects" / name
    pipelines = root / ".sparkwing" / "pipelines"
    pipelines.mkdir(parents=True)
    module = name.replace("-", "_")
    (pipelines / f"{module}.py").write_text(textwrap.dedent(code).lstrip("\n"))
    (root / ".sparkwing" / "sparkwing.yaml").write_text(
        f"pipelines:\n  - name: {name}\n    entrypoint: pipelines.{module}:plan\n")
    return root


def _homes(controller: Any, tmp_path: Path) -> tuple[Home, Home]:
    runner = controller.token("runner", "box-1", "runner")
    person = controller.token("user", "ada", USER_SCOPES)
    url = controller.start("--require-auth")
    a = make_home(tmp_path, "a", _profiles(url), TEAM_TOKEN=runner, USER="runner-a")
    b = make_home(tmp_path, "b", _profiles(url), TEAM_TOKEN=person, USER="local-b")
    return a, b


def _ndjson(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _wait_for(running: subprocess.Popen[str], what: str, probe: Any) -> Any:
    """Call *probe* until it returns something; fail if the run ends first."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert running.poll() is None, running.communicate()
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    running.kill()
    raise AssertionError(f"{what} never showed on home b: {running.communicate()}")


def _finished(running: subprocess.Popen[str]) -> str:
    """Wait for ``sparkwing run -o json``; return its run id (it must have succeeded)."""
    out, err = running.communicate(timeout=600)
    assert running.returncode == 0, out[-3000:] + err[-3000:]
    finish = [json.loads(line) for line in out.splitlines() if '"event":"run_finish"' in line]
    assert len(finish) == 1, out[-2000:]
    return str(finish[0]["attrs"]["run_id"])


def _status(home: Home, run_id: str, live: bool = False) -> dict[str, Any]:
    """``runs status -o json`` of *run_id* on *home* (exit 1 while the run is *live*)."""
    shown = home.cli("runs", "status", "--run", run_id, "--profile", "team", "-o", "json")
    assert shown.returncode == (1 if live else 0), shown.stderr
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def test_an_approval_from_a_second_home_lets_the_run_continue(controller: Any,
                                                              tmp_path: Path) -> None:
    a, b = _homes(controller, tmp_path)
    project = _project(a, "gated", GATED)
    running = a.start("run", "gated", "--profile", "team", "-o", "json", cwd=project)
    try:
        gates = _wait_for(running, "the gate", lambda: _ndjson(
            b.cli("runs", "approvals", "list", "--profile", "team", "-o", "json")))
        [gate] = gates
        assert (gate["node_id"], gate["pending"], gate["message"], gate["pipeline"]) == (
            "ship", True, "ship it?", "gated")
        run_id = gate["run_id"]
        approved = b.cli("runs", "approvals", "approve", "--run", run_id, "--node", "ship",
                         "--comment", "from b", "--profile", "team")
        assert approved.returncode == 0, approved.stderr
        assert run_id == _finished(running)
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()
    shown = _status(b, run_id)
    assert shown["run"]["status"] == "success"
    assert {n["node_id"]: n["outcome"] for n in shown["nodes"]}["after"] == "success"
    [recorded] = shown["approvals"]
    # The controller records who holds the token, not the $USER the CLI sent.
    assert (recorded["resolution"], recorded["approver"], recorded["comment"]) == (
        "approved", "user:ada", "from b")
    assert _ndjson(b.cli("runs", "approvals", "list", "--profile", "team", "-o", "json")) == []
    again = b.cli("runs", "approvals", "deny", "--run", run_id, "--node", "ship",
                  "--profile", "team")
    assert again.returncode == 1, again.stderr
    assert f'approval "ship" of run {run_id} was already resolved: approved by user:ada' \
        in again.stderr
    unknown = b.cli("runs", "approvals", "approve", "--run", run_id, "--node", "nope",
                    "--profile", "team")
    assert unknown.returncode == 1 and 'has no approval gate "nope"' in unknown.stderr, \
        unknown.stderr
    # Nothing of it is in either home's own files.
    assert not (a.root / "swhome" / "state.db").exists()
    assert not (b.root / "swhome" / "state.db").exists()


def test_a_debug_pause_is_released_from_a_second_home(controller: Any, tmp_path: Path) -> None:
    a, b = _homes(controller, tmp_path)
    project = _project(a, "two-jobs", TWO_JOBS)
    running = a.start("run", "two-jobs", "--profile", "team", "-o", "json",
                      "--sw-pause-before", "second", cwd=project)
    try:
        pauses = _wait_for(running, "the pause", lambda: _ndjson(
            b.cli("debug", "list", "--profile", "team", "-o", "json")))
        [pause] = pauses
        assert (pause["node_id"], pause["held"]) == ("second", True)
        run_id = pause["run_id"]
        live = _status(b, run_id, live=True)
        assert live["run"]["status"] == "running"
        assert [(p["node_id"], p["held"]) for p in live["pauses"]] == [("second", True)]
        released = b.cli("debug", "release", "--run", run_id, "--node", "second",
                         "--profile", "team")
        assert released.returncode == 0, released.stderr
        assert released.stdout.strip() == f"released second of {run_id}"
        assert run_id == _finished(running)
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()
    shown = _status(b, run_id)
    assert shown["run"]["status"] == "success"
    assert {n["node_id"]: n["outcome"] for n in shown["nodes"]} == {
        "first": "success", "second": "success"}
    [held] = _ndjson(b.cli("debug", "list", "--run", run_id, "--all", "--profile", "team",
                           "-o", "json"))
    assert (held["held"], held["released_by"], held["release_kind"]) == (
        False, "user:ada", "manual")
    again = b.cli("debug", "release", "--run", run_id, "--node", "second", "--profile", "team")
    assert again.returncode == 1 and "no held pause" in again.stderr, again.stderr
    logs = b.cli("runs", "logs", "--run", run_id, "--profile", "team")
    assert logs.returncode == 0 and "second-ran" in logs.stdout, logs.stderr


def _api(port: int, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method,
        headers={"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def test_the_dashboard_of_a_second_home_serves_the_controllers_runs(controller: Any,
                                                                     tmp_path: Path) -> None:
    a, b = _homes(controller, tmp_path)
    project = _project(a, "gated", GATED)
    running = a.start("run", "gated", "--profile", "team", "-o", "json", cwd=project)
    port = free_port()
    started = b.cli("dashboard", "start", "--profile", "team", "--addr", f"127.0.0.1:{port}")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        def waiting() -> list[dict[str, Any]]:
            runs: list[dict[str, Any]] = _api(port, "GET", "/api/v1/runs")["runs"]
            return [r for r in runs if r["pending_approvals"] == ["ship"]]

        [row] = _wait_for(running, "the waiting run in the dashboard", waiting)
        run_id = row["id"]
        assert (row["pipeline"], row["status"]) == ("gated", "running")
        pending = _api(port, "GET", "/api/v1/approvals/pending")["approvals"]
        assert [(p["run_id"], p["node_id"]) for p in pending] == [(run_id, "ship")]
        decided = _api(port, "POST", f"/api/v1/runs/{run_id}/approvals/ship",
                       {"resolution": "approved", "comment": "from the dashboard"})
        assert decided["approval"]["resolution"] == "approved"
        assert run_id == _finished(running)
        runs = {r["id"]: r for r in _api(port, "GET", "/api/v1/runs")["runs"]}
        assert runs[run_id]["status"] == "success"
        detail = _api(port, "GET", f"/api/v1/runs/{run_id}?include=nodes")
        assert {n["node_id"]: n["outcome"] for n in detail["nodes"]} == {
            "build": "success", "ship": "success", "after": "success"}
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()
        killed = b.cli("dashboard", "kill")
        assert killed.returncode == 0, killed.stderr
    # The controller's own home holds the run and the approver is b's token.
    listed = _ndjson(controller.cli("runs", "approvals", "list", "--all", "-o", "json"))
    assert [(x["run_id"], x["approver"], x["comment"]) for x in listed] == [
        (run_id, "user:ada", "from the dashboard")]

"""`sparkwing node exec` by hand: what a pod or a remote runner calls for one attempt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sparkwing import events
from sparkwing.testing.harness import Harness
from sparkwing.testing.procs import isolated_env

PIPE = """
from dataclasses import dataclass
import sparkwing as sw

@dataclass
class Inputs:
    token: str = sw.arg(default="", secret=True)

def plan(p, inputs: Inputs, run):
    up = p.job("up", lambda ctx: {"n": 1})
    def down(ctx):
        ctx.info(f"token {inputs.token} and {up.output.get(ctx)}")
        return up.output.get(ctx)["n"] + 1
    p.job("down", down).needs(up)
    p.approval("gate")
"""


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env = isolated_env(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    harness = Harness(tmp_path / "repo")
    harness.pipeline("pipe", PIPE)
    run = harness.run("pipe", "--token", "hunter2-secret", only="down")
    assert run.outcomes["down"] == "success"

    def node_exec(*args: str, extra_env: dict[str, str] | None = None,
                  ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", "node", "exec", *args],
            cwd=harness.root, env={**env, **(extra_env or {})}, capture_output=True, text=True,
            timeout=60,
        )

    return run, node_exec


def test_node_exec_reruns_an_attempt_and_records_it(recorded) -> None:
    run, node_exec = recorded
    secrets = {"SPARKWING_SECRET_INPUTS": json.dumps({"token": "hunter2-secret"})}
    proc = node_exec("--run", run.id, "--node", "down", "--attempt", "2", extra_env=secrets)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    from sparkwing.config import open_stores, resolve_profile
    from sparkwing.testing.harness import record_of

    stores = open_stores(resolve_profile(flag=None, pipeline=None, project=None))
    try:
        after = record_of(stores, run.id)
    finally:
        stores.close()
    finished = [e.payload for e in after.events
                if e.kind == events.ATTEMPT_FINISHED and e.node_id == "down"]
    assert [(p["attempt"], p["outcome"], p["output"]) for p in finished] == [
        (1, "success", 2), (2, "success", 2)]
    assert finished[1]["executor"] == "node-exec"
    assert "token *** and {'n': 1}" in after.messages("down")
    assert "hunter2-secret" not in json.dumps(after.logs)
    assert after.node("down").attempts == 1  # the node's row is the orchestrator's business


def test_node_exec_prints_records_on_stdout_when_asked(recorded) -> None:
    run, node_exec = recorded
    secrets = {"SPARKWING_SECRET_INPUTS": json.dumps({"token": "hunter2-secret"})}
    proc = node_exec("--run", run.id, "--node", "down", "--log-to", "stdout", extra_env=secrets)
    assert proc.returncode == 0, proc.stderr
    msgs = [json.loads(line)["msg"] for line in proc.stdout.splitlines()]
    assert msgs == ["token *** and {'n': 1}"]


def test_node_exec_needs_the_values_of_secret_inputs(recorded) -> None:
    run, node_exec = recorded
    proc = node_exec("--run", run.id, "--node", "down")
    assert proc.returncode == 2
    assert proc.stderr == (
        f"error: run {run.id} was started with secret input(s) --token, stored redacted; pass "
        "their values in SPARKWING_SECRET_INPUTS (a JSON object by flag)\n")


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--node", "down"], 2, "error: node exec needs --run (see 'sparkwing node exec --help')"),
    (["--run", "run-20990101-000000-abcdef12", "--node", "down"], 1,
     "error: no run 'run-20990101-000000-abcdef12' in profile 'laptop'"),
    (["--run", "RUN", "--node", "nope"], 1, 'error: run RUN has no node "nope"'),
    (["--run", "RUN", "--node", "gate"], 2,
     'error: node "gate" of run RUN is an approval gate: it has no attempts to run'),
    (["--run", "RUN", "--node", "down", "--log-to", "file"], 2,
     "error: --log-to must be store or stdout, got 'file'"),
    (["--run", "RUN", "--node", "down", "--bogus", "1"], 2,
     "error: unknown option --bogus for node exec (see 'sparkwing node exec --help')"),
    (["--run", "RUN", "--node", "down", "--code-from-controller"], 2,
     "error: --code-from-controller: profile 'laptop' has no controller: block to fetch the "
     "run's code from (use a profile with controller: {url, token_env})"),
])
def test_node_exec_errors_are_one_line(recorded, args: list[str], code: int,
                                       message: str) -> None:
    run, node_exec = recorded
    args = [a.replace("RUN", run.id) for a in args]
    proc = node_exec(*args, extra_env={"SPARKWING_SECRET_INPUTS": '{"token": "x"}'})
    assert proc.returncode == code
    assert proc.stderr == message.replace("RUN", run.id) + "\n"


def test_node_exec_help_and_hidden_from_the_main_help(recorded) -> None:
    _, node_exec = recorded
    proc = node_exec("--help")
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: sparkwing node exec --run")
    main_help = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "--help"],
                               capture_output=True, text=True, timeout=60).stdout
    assert "debug" in main_help and "  node " not in main_help

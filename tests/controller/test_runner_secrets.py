"""Controller secrets reach runs on runners, masked in their logs, through the runner's token.

A real controller (``controller serve --require-auth`` with a secrets key)
on a fresh home; one secret set with the CLI, one (unmasked configuration)
over HTTP; a pipeline whose job reads both with ``ctx.secret``; real
``sparkwing runner`` processes running it on the trigger path (the
runner's ``sparkwing run`` on its ``controller`` profile) and on the node
path (``--executor queue``: each job a ``node exec``). A runner token
without ``secrets.read`` fails the job with a line naming the scope.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from .test_node_runner import _stop, _trigger_end
from .test_runner import _pipelines_project, _runner, _send_and_enqueue, _wait

SECRET = "s3cr3t-Deploy-Key-0123456789"
REGION = "eu-west-1"

YAML = """\
pipelines:
  - name: deploy
    entrypoint: pipelines.deploy:plan
"""

DEPLOY_PY = '''\
"""One job reading a controller secret and a piece of unmasked configuration."""

from __future__ import annotations

import os
from pathlib import Path

import sparkwing as sw


def deploy(ctx: sw.Context) -> dict[str, object]:
    key = ctx.secret("deploy/api-key")
    region = ctx.secret("REGION")
    out = Path(os.environ["SPARKWING_TEST_OUT"])
    out.mkdir(exist_ok=True)
    (out / f"{os.getpid()}.txt").write_text(key)
    ctx.info(f"deploying with key {key} to region {region}")
    return {"region": region}


def plan(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    plan.job("deploy", deploy)
'''

#: The runner bundle without secrets.read.
NO_SECRETS = "runs.read,triggers.read,triggers.claim,nodes.claim,runs.report,logs.write,code.read"


def _project(tmp_path: Path) -> Path:
    return _pipelines_project(tmp_path / "proj", YAML, "deploy", DEPLOY_PY)


def _start(controller: Any) -> str:
    """Start the controller with a secrets key and an admin token; set the two secrets."""
    controller.env["SPARKWING_SECRETS_KEY"] = base64.b64encode(b"r" * 32).decode()
    admin = controller.token("user", "root", "admin")
    made = controller.cli_input(SECRET, "controller", "secret", "set", "deploy/api-key")
    assert made.returncode == 0, made.stderr
    controller.start("--require-auth")
    put = controller.request("PUT", "/api/v1/secrets/REGION", admin,
                             body={"value": REGION, "masked": False})
    assert put.status == 201, put.body
    return str(admin)


def _deploy_log(controller: Any, run_id: str) -> str:
    with controller.open_state() as stores:
        return "\n".join(stores.logs.tail(run_id, "deploy", 500))


def _node(controller: Any, run_id: str) -> Any:
    with controller.open_state() as stores:
        run = stores.state.get_run(run_id)
        node = stores.state.get_node(run_id, "deploy")
    return run, node


def _assert_saw_it_masked(controller: Any, run_id: str, out: Path) -> None:
    run, node = _node(controller, run_id)
    assert run is not None and run.status == "success", (run, node)
    seen = [p.read_text() for p in out.glob("*.txt")]
    assert seen == [SECRET], seen  # the job got the value
    log = _deploy_log(controller, run_id)
    messages = [json.loads(line).get("msg", "") for line in log.splitlines()]
    assert f"deploying with key *** to region {REGION}" in messages, messages
    assert SECRET not in log and base64.b64encode(SECRET.encode()).decode() not in log


def test_a_runner_s_runs_read_controller_secrets_masked(controller: Any, tmp_path: Path) -> None:
    admin = _start(controller)
    runner_token = controller.token("runner", "box-1", "runner")
    project = _project(tmp_path)

    # The trigger path: the runner's `sparkwing run` on its controller profile runs the job.
    trigger_id = _send_and_enqueue(controller, admin, project, "deploy")
    out = tmp_path / "out-trigger"
    proc, log = _runner(controller, tmp_path, "box-1", runner_token, "--once",
                        env={"SPARKWING_TEST_OUT": str(out)})
    assert _wait(proc, log) == 0, log.read_text()[-4000:]
    row = controller.get(f"/api/v1/triggers/{trigger_id}", admin).json()
    assert row["status"] == "done", row
    _assert_saw_it_masked(controller, row["run_id"], out)
    assert SECRET not in log.read_text()

    # The node path: every job goes to the queue and runs as `node exec` on the runner.
    trigger_id = _send_and_enqueue(controller, admin, project, "deploy")
    out = tmp_path / "out-node"
    runner, log = _runner(controller, tmp_path, "box-2", runner_token, "--executor", "queue",
                          "--executor-setting", "poll_s=0.2", "--max-jobs", "2",
                          env={"SPARKWING_TEST_OUT": str(out)})
    try:
        row = _trigger_end(controller, admin, trigger_id, runner, log)
    finally:
        _stop(runner)
    assert row["status"] == "done", (row, log.read_text()[-4000:])
    queued = controller.get(f"/api/v1/nodes/queue?run_id={row['run_id']}", admin).json()
    assert [(a["node_id"], a["outcome"]) for a in queued["attempts"]] == [("deploy", "success")]
    _assert_saw_it_masked(controller, row["run_id"], out)
    assert SECRET not in log.read_text()


def test_a_token_without_secrets_read_fails_the_job_naming_the_scope(
        controller: Any, tmp_path: Path) -> None:
    admin = _start(controller)
    token = controller.token("runner", "box-3", NO_SECRETS)
    trigger_id = _send_and_enqueue(controller, admin, _project(tmp_path), "deploy")
    out = tmp_path / "out"
    proc, log = _runner(controller, tmp_path, "box-3", token, "--once",
                        env={"SPARKWING_TEST_OUT": str(out)})
    assert _wait(proc, log) == 0, log.read_text()[-4000:]
    row = controller.get(f"/api/v1/triggers/{trigger_id}", admin).json()
    run, node = _node(controller, row["run_id"])
    assert run is not None and run.status == "failed", run
    assert node is not None and node.outcome == "failed", node
    said = node.error + "\n" + _deploy_log(controller, row["run_id"])
    assert 'secret "deploy/api-key"' in said and "lacks scope 'secrets.read'" in said, said
    assert not out.exists()  # the job stopped at the refused read

"""One JSON view of runs: ``sparkwing runs ... -o json`` and the dashboard's API agree.

Runs are recorded by the real ``sparkwing run``; the CLI reads them in
subprocesses and the dashboard application serves the same stores.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.asyncio

#: A pipeline touching every part of the views: typed and secret inputs, an
#: output, an annotation, a job with steps, a failure with an excerpt, a job
#: never reached.
MIXED = """
    from dataclasses import dataclass

    import sparkwing as sw

    @dataclass
    class Inputs:
        target: str = "staging"
        token: str = sw.arg(default="", secret=True)

    class Checks(sw.Job):
        def work(self, w):
            first = w.step("compile", lambda ctx: ctx.info("compiled"))
            return w.step("unit", lambda ctx: ctx.info("unit ok")).needs(first)

    def build(ctx):
        ctx.annotate("built app.zip")
        return {"artifact": "app.zip"}

    def plan(plan, inputs: Inputs, run):
        built = plan.job("build", build)
        checks = plan.job("checks", Checks()).needs(built)
        deploy = plan.job("deploy", sw.sh(
            "echo deploying; echo 'no credentials' >&2; exit 4")).needs(checks)
        plan.job("notify", sw.sh("echo never")).needs(deploy)
"""

OK = """
    import sparkwing as sw

    def plan(plan, inputs, run):
        plan.job("hello", sw.sh("echo hello"))
"""


async def api(client: Any, path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


def cli_json(project: Any, *args: str, code: int = 0) -> Any:
    proc = project.cli(*args, "-o", "json")
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


async def test_cli_and_api_show_the_same_runs_and_nodes(client: Any, project: Any) -> None:
    project.add_pipeline("mixed", MIXED)
    project.add_pipeline("ok", OK)
    failed_run = project.cli("run", "mixed", "--target", "prod", "--token", "s3cret", "-o", "json")
    assert failed_run.returncode == 1, failed_run.stderr
    good_run = project.cli("run", "ok", "-o", "json")
    assert good_run.returncode == 0, good_run.stderr

    rows = (await api(client, "/api/v1/runs"))["runs"]
    assert [r["pipeline"] for r in rows] == ["ok", "mixed"]
    bad_id, ok_id = rows[1]["id"], rows[0]["id"]

    # the list: one JSON object per line from the CLI, the same rows from the API
    listed = project.cli("runs", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line) for line in listed.stdout.splitlines()] == rows
    assert all("plan" not in r and "invocation" not in r for r in rows)
    assert all(r["pending_approvals"] == [] and r["paused_nodes"] == [] for r in rows)

    # a run's detail: runs status -o json is the API's detail plus log_path
    for run_id in (bad_id, ok_id):
        status = cli_json(project, "runs", "status", "--run", run_id,
                          code=0 if run_id == ok_id else 1)
        log_path = status.pop("log_path")
        assert log_path and log_path.endswith(run_id)
        detail = await api(client, f"/api/v1/runs/{run_id}")
        assert status == detail
        assert (await api(client, f"/api/v1/runs/{run_id}/nodes"))["nodes"] == detail["nodes"]
        for node in detail["nodes"]:
            one = await api(client, f"/api/v1/runs/{run_id}/nodes/{node['node_id']}")
            assert one["node"] == node

    detail = await api(client, f"/api/v1/runs/{bad_id}")
    run = detail["run"]
    assert run["status"] == "failed" and run["terminal"] is True
    assert run["duration_s"] is not None and run["duration_s"] >= 0
    assert run["args"] == {"target": "prod", "token": "***"}
    assert run["plan"]["nodes"] and run["invocation"]["cwd"] == str(project.root)
    assert "s3cret" not in json.dumps(detail)
    assert detail["approvals"] == [] and detail["pauses"] == []

    nodes = {n["node_id"]: n for n in detail["nodes"]}
    assert list(nodes) == ["build", "checks", "deploy", "notify"]
    assert nodes["build"]["output"] == {"artifact": "app.zip"}
    assert nodes["build"]["annotations"] == ["built app.zip"]
    assert nodes["build"]["excerpt"] is None and nodes["build"]["steps"] == []
    steps = nodes["checks"]["steps"]
    assert [(s["step_id"], s["status"]) for s in steps] == [("compile", "passed"),
                                                             ("unit", "passed")]
    assert all(s["duration_s"] is not None for s in steps)
    deploy = nodes["deploy"]
    assert (deploy["outcome"], deploy["exit_code"]) == ("failed", 4), {
        k: (v["outcome"], v["error"]) for k, v in nodes.items()}
    excerpt = deploy["excerpt"]
    assert excerpt["source"] == "event" and "deploying" in excerpt["lines"]
    assert excerpt["logs"] == f"sparkwing runs logs --run {bad_id} --node deploy"
    assert nodes["notify"]["outcome"] == "cancelled" and nodes["notify"]["duration_s"] is None

    # runs errors reads the same node views
    errors = cli_json(project, "runs", "errors", "--run", bad_id)
    (failed,) = errors["failed"]
    assert failed["node_id"] == "deploy" and failed["excerpt"] == excerpt["lines"]

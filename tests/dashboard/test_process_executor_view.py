"""The dashboard shows a run on the ``process`` executor exactly like the same run on ``local``.

The same pipeline runs twice through the real ``sparkwing run`` (once with
``--sw-executor local``, once with ``process``: every job attempt in its own
``sparkwing node exec``); the dashboard application then serves both from
the same stores. Its run detail, node views, event kinds and log lines agree
once what differs between any two runs (ids, times, process ids, the
executor's own name) is set aside.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sparkwing import events

pytestmark = pytest.mark.asyncio

#: Outputs and refs between jobs, steps, an annotation, a summary, command
#: output, a failure with an excerpt and a job never reached.
PIPELINE = """
    import sparkwing as sw

    class Checks(sw.Job):
        def work(self, w):
            first = w.step("compile", lambda ctx: ctx.info("compiled"))
            return w.step("unit", lambda ctx: {"passed": 3}).needs(first)

    def plan(plan, inputs, run):
        def build(ctx):
            ctx.annotate("built app.zip")
            ctx.sh("echo packing")
            return {"artifact": "app.zip"}

        built = plan.job("build", build)
        checks = plan.job("checks", Checks()).needs(built)

        def report(ctx):
            ctx.summary("## " + built.output.get(ctx)["artifact"])
            return {"tests": checks.output.get(ctx)["passed"]}

        reported = plan.job("report", report).needs(built, checks)
        deploy = plan.job("deploy", sw.sh("echo deploying; exit 4")).needs(reported)
        plan.job("notify", sw.sh("echo never")).needs(deploy)
"""

#: Keys whose values differ between any two runs of one pipeline.
VOLATILE = {"id", "run_id", "created_at", "started_at", "finished_at", "last_heartbeat_at",
            "duration_s", "duration_ms", "ts", "time", "seq", "pid", "host", "updated_at",
            "executor", "log_path", "logs", "reproducer"}


def _same_shape(value: Any, run_id: str) -> Any:
    """*value* with volatile keys dropped and the run's id replaced by ``RUN``."""
    if isinstance(value, dict):
        return {k: _same_shape(v, run_id) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_same_shape(v, run_id) for v in value]
    if isinstance(value, str):
        return value.replace(run_id, "RUN")
    return value


async def _get(client: Any, path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


async def _seen(client: Any, run_id: str) -> dict[str, Any]:
    """What the dashboard shows of one run: detail, nodes, event kinds, log lines."""
    detail = await _get(client, f"/api/v1/runs/{run_id}")
    page = (await _get(client, f"/api/v1/runs/{run_id}/events?limit=5000"))["events"]
    kinds: dict[str, list[str]] = {}
    for event in page:
        kinds.setdefault(event["node_id"], []).append(event["kind"])
    logs: dict[str, list[str]] = {}
    for node in detail["nodes"]:
        response = await client.get(f"/api/v1/runs/{run_id}/logs/{node['node_id']}?format=json")
        assert response.status == 200, await response.text()
        records = [json.loads(line) for line in (await response.text()).splitlines() if line]
        logs[node["node_id"]] = [f"{r.get('event', '')}:{r.get('msg', '')}" for r in records]
    run = detail["run"]
    return {
        "run": _same_shape({k: v for k, v in run.items() if k != "invocation"}, run_id),
        "nodes": _same_shape(detail["nodes"], run_id),
        "event_kinds": {n: sorted(k) for n, k in kinds.items()},
        "logs": _same_shape(logs, run_id),
    }


async def test_a_process_run_looks_like_a_local_run(client: Any, project: Any) -> None:
    project.add_pipeline("ship", PIPELINE)
    for executor in ("local", "process"):
        proc = project.cli("run", "ship", "--sw-executor", executor, "-o", "json")
        assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
    rows = (await _get(client, "/api/v1/runs"))["runs"]
    process_id, local_id = rows[0]["id"], rows[1]["id"]

    local = await _seen(client, local_id)
    process = await _seen(client, process_id)
    for part in ("run", "nodes", "event_kinds", "logs"):
        assert process[part] == local[part], part

    # the runs did run where they say, and the views carry what the pipeline produced
    for run_id, executor in ((local_id, "local"), (process_id, "process")):
        detail = await _get(client, f"/api/v1/runs/{run_id}")
        assert detail["run"]["invocation"]["engine"]["executor"] == executor
    nodes = {n["node_id"]: n for n in local["nodes"]}
    assert nodes["build"]["output"] == {"artifact": "app.zip"}
    assert nodes["build"]["annotations"] == ["built app.zip"]
    assert nodes["report"]["output"] == {"tests": 3}
    assert nodes["report"]["summary"] == "## app.zip"
    assert [s["step_id"] for s in nodes["checks"]["steps"]] == ["compile", "unit"]
    assert (nodes["deploy"]["outcome"], nodes["deploy"]["exit_code"]) == ("failed", 4)
    assert nodes["notify"]["outcome"] == "cancelled"
    assert f"{events.LOG_EXEC_LINE}:packing" in local["logs"]["build"]
    assert f"{events.LOG_EXEC_LINE}:deploying" in local["logs"]["deploy"]
    assert local["run"]["status"] == "failed"
    assert events.ATTEMPT_FINISHED in local["event_kinds"]["report"]

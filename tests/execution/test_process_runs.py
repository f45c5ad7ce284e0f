"""Whole runs on the ``process`` executor: every attempt in its own ``sparkwing node exec``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sparkwing import events
from sparkwing.testing.harness import Harness, RecordedRun
from sparkwing.testing.procs import isolated_env

FLOW = """
from dataclasses import dataclass
import os
import sparkwing as sw

@dataclass
class Inputs:
    name: str = "world"
    token: str = sw.arg(default="", secret=True)

class Package(sw.Job):
    def work(self, w):
        a = w.step("compile", lambda ctx: {"obj": "main.o"})
        b = w.step("link", lambda ctx: {"bin": a.output.get(ctx)["obj"] + ".bin"}).needs(a)
        return b

def plan(p, inputs: Inputs, run):
    def build(ctx):
        ctx.info(f"building {inputs.name} with {inputs.token}")
        ctx.sh("echo compiled")
        return {"artifact": f"{inputs.name}.tar", "pid": os.getpid()}
    b = p.job("build", build)
    pkg = p.job("package", Package()).needs(b)
    def use(ctx):
        art = b.output.get(ctx)
        binary = pkg.output.get(ctx)
        ctx.annotate(f"used {art['artifact']}")
        ctx.summary("## all good")
        return {"artifact": art["artifact"], "bin": binary["bin"], "pid": os.getpid()}
    p.job("use", use).needs(b, pkg)
    p.job("check", sw.sh("test -n \\"$SPARKWING_RUN_ID\\" && echo checked")).needs("use")
"""


def _attempt_events(run: RecordedRun, node_id: str) -> list[dict[str, Any]]:
    return [e.payload for e in run.events
            if e.kind == events.ATTEMPT_FINISHED and e.node_id == node_id]


def test_outputs_and_refs_flow_between_jobs_each_in_its_own_process(
    sparkwing_harness: Harness,
) -> None:
    sparkwing_harness.pipeline("flow", FLOW)
    run = sparkwing_harness.run("flow", "--name", "demo", "--token", "tok-123456",
                                executor="process")
    assert run.status == "success", run.outcomes
    assert run.outcomes == {"build": "success", "package": "success", "use": "success",
                            "check": "success"}
    use = run.node("use").output
    assert (use["artifact"], use["bin"]) == ("demo.tar", "main.o.bin")
    pids = {nid: _attempt_events(run, nid)[0]["pid"] for nid in run.nodes}
    assert len(set(pids.values())) == 4 and os.getpid() not in pids.values()
    assert run.node("build").output["pid"] == pids["build"]
    assert {p["executor"] for nid in run.nodes for p in _attempt_events(run, nid)} == {"process"}
    assert run.node("use").annotations == ["used demo.tar"]
    assert run.node("use").summary == "## all good"
    assert [(s.node_id, s.step_id, s.status) for s in run.steps] == [
        ("package", "compile", "passed"), ("package", "link", "passed")]
    assert "building demo with ***" in run.messages("build")
    assert "tok-123456" not in json.dumps(run.logs) + json.dumps([e.payload for e in run.events])
    assert run.output_lines("check") == ["checked"]


def _shape(run: RecordedRun) -> dict[str, Any]:
    """What the dashboard draws of a run: node rows (timing aside), steps and event kinds."""
    keep = ("node_id", "kind", "status", "outcome", "deps", "groups", "error", "output",
            "has_output", "failure_reason", "exit_code", "attempts", "annotations", "summary")
    nodes = {nid: {k: getattr(n, k) for k in keep} for nid, n in run.nodes.items()}
    for row in nodes.values():
        if isinstance(row["output"], dict):
            row["output"].pop("pid", None)
    kinds: dict[str, list[str]] = {}
    for e in run.events:
        kinds.setdefault(e.node_id, []).append(e.kind)
    log_events = {nid: [r.get("event", "") for r in recs] for nid, recs in run.logs.items()}
    return {"nodes": nodes, "steps": [(s.node_id, s.step_id, s.status) for s in run.steps],
            "event_kinds": kinds, "log_events": log_events}


def test_a_process_run_records_what_a_local_run_records(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("flow", FLOW)
    local = sparkwing_harness.run("flow", "--name", "demo", executor="local")
    process = sparkwing_harness.run("flow", "--name", "demo", executor="process")
    assert local.status == process.status == "success"
    a, b = _shape(local), _shape(process)
    assert a["nodes"] == b["nodes"]
    assert a["steps"] == b["steps"]
    assert a["event_kinds"] == b["event_kinds"]
    assert a["log_events"] == b["log_events"]
    assert events.ATTEMPT_FINISHED in a["event_kinds"]["build"]


FAILING = """
import os, signal
import sparkwing as sw

def plan(p, inputs, run):
    p.job("flaky", sw.sh("echo try; exit 3")).retry(1)
    p.job("lost", lambda ctx: os.kill(os.getpid(), signal.SIGKILL)).optional()
    p.job("slow", sw.sh("sleep 30")).timeout("1s").optional()
    p.job("after", lambda ctx: "never").needs("flaky")
"""


def test_failures_retries_timeouts_and_a_lost_child(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("failing", FAILING)
    run = sparkwing_harness.run("failing", executor="process")
    assert run.status == "failed"
    assert run.outcomes == {"flaky": "failed", "lost": "failed", "slow": "failed",
                            "after": "cancelled"}
    flaky = run.node("flaky")
    assert (flaky.exit_code, flaky.attempts) == (3, 2)
    assert [p["attempt"] for p in _attempt_events(run, "flaky")] == [1, 2]
    assert run.event_kinds("flaky").count(events.ATTEMPT_RETRY) == 1
    lost = run.node("lost")
    assert lost.failure_reason == "executor_lost" and lost.exit_code == -9
    assert "without recording a result" in lost.error
    assert [p["failure_reason"] for p in _attempt_events(run, "lost")] == ["executor_lost"]
    assert run.node("slow").failure_reason == "timeout"
    assert run.node("after").error == "upstream-failed: flaky"
    excerpt = [e.payload for e in run.events
               if e.kind == events.NODE_FAILURE_EXCERPT and e.node_id == "flaky"]
    assert excerpt[0]["log_excerpt"].splitlines()[-1] == "try"


WINDOW = """
import sparkwing as sw

class Deploy(sw.Job):
    def work(self, w):
        a = w.step("build", lambda ctx: ctx.info("built")).safe_without_dry_run()
        b = w.step("push", lambda ctx: ctx.info("pushed")).dry_run(
            lambda ctx: ctx.info("would push")).needs(a)
        w.step("notify", lambda ctx: ctx.info("notified")).needs(b)

def plan(p, inputs, run):
    p.job("deploy", Deploy())
"""


def test_dry_run_and_the_step_window_reach_node_exec(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("window", WINDOW)
    run = sparkwing_harness.run("window", executor="process", dry_run=True, stop_at="push")
    assert run.status == "success"
    steps = {s.step_id: s.status for s in run.steps}
    assert steps == {"build": "passed", "push": "passed", "notify": "skipped"}
    msgs = run.messages("deploy")
    assert "built" in msgs and "would push" in msgs and "pushed" not in msgs
    assert run.run.invocation["engine"] == {"dry_run": True, "start_at": "", "stop_at": "push",
                                            "executor": "process"}


FANOUT = """
import sparkwing as sw

def plan(p, inputs, run):
    src = p.job("list", lambda ctx: ["a", "b"])
    def member(item):
        def body(ctx):
            return {"item": item, "child": ctx.spawn("inner", lambda c: item.upper())}
        return (f"m-{item}", body)
    fan = p.fan_out_dynamic("members", src, member)
    join = p.job("join", lambda ctx: sorted(ctx.read_ref(sw.Ref(f"m-{i}"))["child"]
                                            for i in "ab"))
    fan.needed_by(join)
"""


def test_dynamic_fan_out_members_and_spawned_children_run_in_node_exec(
    sparkwing_harness: Harness,
) -> None:
    sparkwing_harness.pipeline("fan", FANOUT)
    run = sparkwing_harness.run("fan", executor="process")
    assert run.status == "success", (run.outcomes, [n.error for n in run.nodes.values()])
    assert run.outcomes == {"list": "success", "join": "success", "m-a": "success",
                            "m-b": "success", "m-a/inner": "success", "m-b/inner": "success"}
    assert run.node("m-a").output == {"item": "a", "child": "A"}
    assert run.node("join").output == ["A", "B"]
    assert run.node("m-a/inner").groups == ["m-a"]
    inner = _attempt_events(run, "m-a/inner")[0]
    assert inner["executor"] == "local"  # a spawned child runs inside its parent's attempt


def test_sparkwing_run_hello_with_the_process_executor(tmp_path: Path) -> None:
    """The scaffolded `hello` pipeline through the real CLI, each job in its own process."""
    env = isolated_env(tmp_path)
    root = tmp_path / "hello-sparkwing"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sparkwing_cli.main", *args], cwd=root,
                              env=env, capture_output=True, text=True, timeout=120)

    assert cli("pipeline", "new", "--name", "hello").returncode == 0
    proc = cli("run", "hello", "--sw-executor", "process", "-o", "json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["msg"] for r in records if r.get("event") == "exec_line"] == ["hello from hello"]
    assert any(str(r.get("msg", "")).startswith("hello from run ") for r in records)
    from sparkwing_sqlite.store import SqliteStateStore

    with SqliteStateStore(Path(env["SPARKWING_HOME"]) / "state.db") as st:
        run = st.list_runs()[0]
        nodes = {n.node_id: n for n in st.list_nodes(run.id)}
        finished = [e for e in st.list_events(run.id, 0, 0) if e.kind == events.ATTEMPT_FINISHED]
    assert run.status == "success" and run.invocation["engine"]["executor"] == "process"
    assert {n: (x.outcome, x.output) for n, x in nodes.items()} == {
        "hello": ("success", None), "greet": ("success", "hello")}
    pids = {e.node_id: e.payload["pid"] for e in finished}
    assert set(pids) == {"hello", "greet"} and len(set(pids.values())) == 2
    assert run.pid not in pids.values()

"""Two machines (two SPARKWING_HOMEs, two checkouts), one ``dir`` store, real CLI processes.

Runs of both show in each one's ``runs list``, ``runs logs`` and dashboard; a memoized
job started on both at once computes once; a ``scope: global`` group of
capacity 1 holds across them; an approval given on one releases the run
waiting on the other; a cancel from one stops a run on the other.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

Machine = Any  # conftest types (conftest is not importable under --import-mode=importlib)

OK = """
import sparkwing as sw

def plan(plan, inputs, run):
    plan.job("hello", sw.sh("echo hello-from-$SW_MACHINE; echo second-line"))
"""

MEMO = """
import os, time
import sparkwing as sw

def compute(ctx):
    with open(os.environ["COMPUTED_LOG"], "a") as f:
        f.write(ctx.run.run_id + "\\n")
    time.sleep(1.5)
    return {"value": 42}

def plan(plan, inputs, run):
    c = plan.job("compute", compute).memoize(lambda ctx: sw.key("compute", "shared-v1"))
    plan.job("use", lambda ctx: ctx.info(f"got {c.output.get(ctx)}")).needs(c)
"""

GLOBAL = """
import os, time
import sparkwing as sw

ONE = sw.concurrency_group("prod-deploy", capacity=1, scope="global")

def deploy(ctx):
    with open(os.environ["SPANS_LOG"], "a") as f:
        f.write(f"start {time.time()} {ctx.run.run_id}\\n")
    time.sleep(0.6)
    with open(os.environ["SPANS_LOG"], "a") as f:
        f.write(f"end {time.time()} {ctx.run.run_id}\\n")

def plan(plan, inputs, run):
    plan.job("deploy", deploy).concurrency(ONE)
"""

GATED = """
import sparkwing as sw

def plan(plan, inputs, run):
    gate = plan.approval("ship", message="ship it?", timeout=300)
    plan.job("after", sw.sh("echo shipped")).needs(gate)
"""


def finished_run_id(out: str) -> str:
    for line in out.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "run_finish":
            return str(rec["attrs"]["run_id"])
    raise AssertionError(f"no run_finish record in:\n{out}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
        return json.loads(resp.read())


def both(a: Machine, b: Machine, name: str, code: str) -> None:
    a.add_pipeline(name, code)
    b.add_pipeline(name, code)


def test_runs_and_logs_of_both_machines_show_on_each(two_machines: Any) -> None:
    a, b, _ = two_machines
    both(a, b, "ok", OK)
    ra = a.cli("run", "ok", "--profile", "team", "-o", "json", SW_MACHINE="a")
    rb = b.cli("run", "ok", "--profile", "team", "-o", "json", SW_MACHINE="b")
    assert ra.code == 0 and rb.code == 0, ra.err + rb.err
    run_a, run_b = finished_run_id(ra.out), finished_run_id(rb.out)
    for me in (a, b):
        # each machine's checkout is its own project (identified by its path): list them all
        listed = me.cli("runs", "list", "--profile", "team", "--all-projects", "-o", "json")
        assert listed.code == 0, listed.err
        rows = {r["id"]: r for r in listed.ndjson()}
        assert set(rows) == {run_a, run_b}
        assert {rows[run_a]["trigger_user"], rows[run_b]["trigger_user"]} == {"user-a", "user-b"}
        assert all(r["status"] == "success" for r in rows.values())
        for run_id, who in ((run_a, "a"), (run_b, "b")):
            logs = me.cli("runs", "logs", "--run", run_id, "--profile", "team")
            assert logs.code == 0, logs.err
            assert f"hello-from-{who}" in logs.out and "second-line" in logs.out
    # the laptop default of each machine has none of them
    assert a.cli("runs", "list", "--all-projects", "-o", "json").out.strip() == ""
    # and the dashboard of machine b shows machine a's run with its logs
    port = free_port()
    started = b.cli("dashboard", "start", "--profile", "team", "--addr", f"127.0.0.1:{port}")
    assert started.code == 0, started.err
    try:
        runs = get_json(port, "/api/v1/runs")["runs"]
        assert {r["id"] for r in runs} == {run_a, run_b}
        nodes = get_json(port, f"/api/v1/runs/{run_a}?include=nodes")["nodes"]
        assert [(n["node_id"], n["outcome"]) for n in nodes] == [("hello", "success")]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/runs/{run_a}/logs/hello",
                                    timeout=30) as resp:
            assert "hello-from-a" in resp.read().decode()
    finally:
        assert b.cli("dashboard", "kill").code == 0


def test_a_memoized_job_started_on_both_computes_once(two_machines: Any, tmp_path: Path) -> None:
    a, b, _ = two_machines
    both(a, b, "memo", MEMO)
    computed = tmp_path / "computed.log"
    env = {"COMPUTED_LOG": str(computed)}
    procs = [m.start("run", "memo", "--profile", "team", "-o", "json", **env)
             for m in (a, b, a, b)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1] for o in outs]
    assert len(computed.read_text().splitlines()) == 1
    listed = a.cli("runs", "list", "--profile", "team", "--all-projects", "-o", "json").ndjson()
    assert len(listed) == 4
    outcomes = []
    for row in listed:
        shown = a.cli("runs", "status", "--run", row["id"], "--profile", "team", "-o", "json")
        assert shown.code == 0, shown.err
        nodes = {n["node_id"]: n for n in shown.json()["nodes"]}
        outcomes.append(nodes["compute"]["outcome"])
        assert nodes["use"]["outcome"] == "success"
    assert sorted(outcomes) == ["cached", "cached", "cached", "success"]


def test_a_global_group_of_one_holds_across_machines(two_machines: Any, tmp_path: Path) -> None:
    a, b, _ = two_machines
    both(a, b, "deploy", GLOBAL)
    spans = tmp_path / "spans.log"
    procs = [m.start("run", "deploy", "--profile", "team", "-o", "json", SPANS_LOG=str(spans))
             for m in (a, b, a, b)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1] for o in outs]
    events = sorted((float(t), kind) for kind, t, _ in
                    (line.split() for line in spans.read_text().splitlines()))
    assert len(events) == 8
    live = peak = 0
    for _, kind in events:
        live += 1 if kind == "start" else -1
        peak = max(peak, live)
    assert peak == 1


def test_an_approval_from_one_machine_releases_a_run_on_the_other(
    two_machines: Any,
) -> None:
    a, b, _ = two_machines
    both(a, b, "gated", GATED)
    waiting = a.start("run", "gated", "--profile", "team", "-o", "json")

    def pending_on_b() -> list[Any]:
        res = b.cli("runs", "approvals", "list", "--profile", "team", "-o", "json")
        assert res.code == 0, res.err
        return [x for x in res.ndjson() if x.get("pending")]

    deadline = time.monotonic() + 120
    gates: list[Any] = []
    while not gates and time.monotonic() < deadline:
        assert waiting.poll() is None, waiting.communicate()
        gates = pending_on_b()
        time.sleep(0.3)
    assert gates, "the gate never showed on machine b"
    run_id = gates[0]["run_id"]
    approve = b.cli("runs", "approvals", "approve", "--run", run_id, "--node", "ship",
                    "--profile", "team", "--comment", "from b")
    assert approve.code == 0, approve.err
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert finished_run_id(out) == run_id
    shown = a.cli("runs", "status", "--run", run_id, "--profile", "team", "-o", "json").json()
    assert shown["run"]["status"] == "success"
    [gate] = [x for x in shown["approvals"] if x["node_id"] == "ship"]
    assert (gate["resolution"], gate["approver"], gate["comment"]) == (
        "approved", "user-b", "from b")


SLOW = """
import sparkwing as sw

def plan(plan, inputs, run):
    plan.job("sleepy", sw.sh("echo sleeping; sleep 60"))
"""


def test_a_cancel_from_one_machine_stops_a_run_on_the_other(two_machines: Any) -> None:
    a, b, _ = two_machines
    both(a, b, "slow", SLOW)
    running = a.start("run", "slow", "--profile", "team", "-o", "json")
    deadline = time.monotonic() + 120
    rows: list[Any] = []
    while not rows and time.monotonic() < deadline:
        assert running.poll() is None, running.communicate()
        res = b.cli("runs", "list", "--profile", "team", "--all-projects", "--status", "running",
                    "-o", "json")
        rows = res.ndjson() if res.code == 0 else []
        time.sleep(0.3)
    assert rows, "the run never showed as running on machine b"
    cancel = b.cli("runs", "cancel", "--run", rows[0]["id"], "--profile", "team")
    assert cancel.code == 0, cancel.err
    _, err = running.communicate(timeout=120)
    assert running.returncode == 1, err
    shown = a.cli("runs", "status", "--run", rows[0]["id"], "--profile", "team", "-o", "json")
    assert shown.json()["run"]["status"] == "cancelled"

"""`sparkwing runs cancel|wait|prune|stats|approvals|retry` through the real CLI."""

from __future__ import annotations

import json
import os
import time

from sparkwing.storage.records import Approval, Node, Run

from .conftest import descendants
from .test_runs_read import one_line_error


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_cancel_stops_a_running_run(clienv) -> None:
    proc = clienv.start("run", "slow", "-o", "json")
    run_id = clienv.wait_node_running(None, "sleepy")
    sleeper = descendants(proc.pid)
    cancel = clienv.cli("runs", "cancel", "--run", run_id)
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.strip() == f"run {run_id} cancelled"
    assert proc.wait(timeout=30) == 1
    assert not any(_alive(p) for p in sleeper), "the job's process must be killed"
    with clienv.state() as st:
        run = st.get_run(run_id)
        nodes = {n.node_id: n for n in st.list_nodes(run_id)}
        kinds = [e.kind for e in st.list_events(run_id)]
    assert run.status == "cancelled" and run.cancel_requested_at is not None
    assert nodes["quick"].outcome == "success"
    assert nodes["sleepy"].outcome == "cancelled" and nodes["after"].outcome == "cancelled"
    assert "cancel_requested" in kinds
    # cancelling a finished run is a no-op that succeeds
    again = clienv.cli("runs", "cancel", "--run", run_id)
    assert again.returncode == 0
    assert again.stdout.strip() == f"run {run_id} already finished (cancelled); nothing to cancel"


def test_cancel_no_wait_then_wait(clienv) -> None:
    proc = clienv.start("run", "slow", "-o", "json")
    run_id = clienv.wait_node_running(None, "sleepy")
    # wait times out while the run is live: exit 2
    timeout = clienv.cli("runs", "wait", "--run", run_id, "--timeout", "0.5s", "--poll", "0.1s")
    assert timeout.returncode == 2
    assert timeout.stderr.strip() == f"run {run_id} still running after 0.5s"
    cancel = clienv.cli("runs", "cancel", "--run", "latest", "--no-wait")
    assert cancel.returncode == 0
    assert cancel.stdout.strip() == f"cancel requested for run {run_id}"
    waited = clienv.cli("runs", "wait", "--run", run_id, "--poll", "0.2s")
    assert waited.returncode == 1
    assert waited.stdout.strip() == f"run {run_id} cancelled: cancel requested"
    assert proc.wait(timeout=30) == 1


def test_cancel_of_a_pending_run_without_a_process(clienv) -> None:
    with clienv.state() as st:
        st.create_run(Run(id="run-20200101-000000-0000000a", pipeline="ok", status="pending",
                          created_at=time.time(), last_heartbeat_at=time.time()))
        st.create_nodes("run-20200101-000000-0000000a",
                        [Node("run-20200101-000000-0000000a", "first")])
    proc = clienv.cli("runs", "cancel", "--run", "run-20200101-000000-0000000a")
    assert proc.returncode == 0, proc.stderr
    with clienv.state() as st:
        assert st.get_run("run-20200101-000000-0000000a").status == "cancelled"
        assert st.get_node("run-20200101-000000-0000000a", "first").outcome == "cancelled"


def test_wait_exit_codes(clienv) -> None:
    ok = clienv.run("ok")
    bad = clienv.run("broken")
    done = clienv.cli("runs", "wait", "--run", ok)
    assert done.returncode == 0 and done.stdout.strip() == f"run {ok} success"
    failed = clienv.cli("runs", "wait", "--run", bad)
    assert failed.returncode == 1
    assert failed.stdout.strip() == f"run {bad} failed: jobs failed: bad; cancelled: never"
    msg = one_line_error(clienv.cli("runs", "wait", "--run", ok, "--poll", "0s"), 2)
    assert "--poll" in msg
    msg = one_line_error(clienv.cli("runs", "wait", "--run", ok, "--timeout", "soon"), 2)
    assert "soon" in msg
    one_line_error(clienv.cli("runs", "cancel", "--run", "run-20000101-000000-ffffffff"), 1)


def test_prune(clienv) -> None:
    ids = [clienv.run("ok"), clienv.run("broken"), clienv.run("ok")]
    old = ids[0]
    with clienv.state() as st:
        st.update_run(old, {"finished_at": time.time() - 10 * 86400})
    nothing = clienv.cli("runs", "prune", "--older-than", "30d")
    assert nothing.returncode == 0 and nothing.stdout.strip() == "deleted 0 runs"
    dry = clienv.cli("runs", "prune", "--older-than", "0s", "--dry-run")
    assert dry.returncode == 0
    assert dry.stdout.splitlines()[-1] == "would delete 3 runs"
    assert len(clienv.cli("runs", "list", "-q").stdout.split()) == 3
    real = clienv.cli("runs", "prune", "--older-than", "7d")
    assert real.stdout.strip() == "deleted 1 run and their logs"
    assert sorted(clienv.cli("runs", "list", "-q").stdout.split()) == sorted(ids[1:])
    assert not (clienv.sw_home / "runs" / old).exists()
    assert (clienv.sw_home / "runs" / ids[1]).exists()
    by_id = clienv.cli("runs", "prune", "--run", ids[1])
    assert by_id.stdout.strip() == "deleted 1 run and their logs"
    msg = one_line_error(clienv.cli("runs", "prune"), 2)
    assert "--older-than" in msg


def test_prune_refuses_live_runs(clienv) -> None:
    with clienv.state() as st:
        st.create_run(Run(id="run-20200101-000000-0000000b", pipeline="ok", status="running",
                          host="elsewhere", created_at=time.time(),
                          last_heartbeat_at=time.time()))
    msg = one_line_error(clienv.cli("runs", "prune", "--run", "run-20200101-000000-0000000b"), 2)
    assert "only finished runs" in msg
    proc = clienv.cli("runs", "prune", "--older-than", "0s")
    assert proc.stdout.strip() == "deleted 0 runs"


def test_stats(clienv) -> None:
    clienv.run("ok")
    clienv.run("ok")
    clienv.run("broken")
    data = json.loads(clienv.cli("runs", "stats", "-o", "json").stdout)
    assert data["runs"] == 3
    assert data["by_status"]["success"] == 2 and data["by_status"]["failed"] == 1
    assert data["success_rate"] == 66.7
    assert data["avg_duration_s"] >= 0 and data["p95_duration_s"] >= data["avg_duration_s"] * 0
    assert set(data["pipelines"]) == {"ok", "broken"}
    assert data["pipelines"]["ok"]["success_rate"] == 100.0
    only = json.loads(clienv.cli("runs", "stats", "--pipeline", "broken", "-o", "json").stdout)
    assert only["runs"] == 1 and only["success_rate"] == 0.0
    pretty = clienv.cli("runs", "stats").stdout.splitlines()
    assert pretty[0].split()[:3] == ["PIPELINE", "RUNS", "SUCCESS"]
    assert any(ln.split()[:2] == ["(all)", "3"] for ln in pretty)


def _gate(clienv, run_id: str = "run-20200101-000000-0000000c") -> str:
    with clienv.state() as st:
        st.create_run(Run(id=run_id, pipeline="ok", status="running", host="elsewhere",
                          created_at=time.time(), last_heartbeat_at=time.time()))
        st.create_nodes(run_id, [Node(run_id, "ship-gate", kind="approval",
                                      status="approval_pending")])
        st.create_approval(Approval(run_id, "ship-gate", time.time(), message="ship it?"))
    return run_id


def test_approvals_list_approve_and_errors(clienv) -> None:
    run_id = _gate(clienv)
    listed = [json.loads(ln) for ln in
              clienv.cli("runs", "approvals", "list", "-o", "json").stdout.splitlines()]
    assert [(a["run_id"], a["node_id"], a["resolution"]) for a in listed] == [
        (run_id, "ship-gate", "")]
    pretty = clienv.cli("runs", "approvals", "list").stdout
    assert "ship-gate" in pretty and "ship it?" in pretty

    ok = clienv.cli("runs", "approvals", "approve", "--run", run_id, "--node", "ship-gate",
                    "--comment", "looks good")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"approved ship-gate of run {run_id} as tester: looks good"
    with clienv.state() as st:
        a = st.get_approval(run_id, "ship-gate")
        events = [e for e in st.list_events(run_id) if e.kind == "approval_resolved"]
    assert (a.resolution, a.approver, a.comment) == ("approved", "tester", "looks good")
    assert len(events) == 1 and events[0].node_id == "ship-gate"
    assert events[0].payload == {"resolution": "approved", "approver": "tester",
                                 "comment": "looks good"}

    again = clienv.cli("runs", "approvals", "deny", "--run", run_id, "--node", "ship-gate")
    msg = one_line_error(again, 1)
    assert msg == f'approval "ship-gate" of run {run_id} was already resolved: approved by tester'
    missing = clienv.cli("runs", "approvals", "approve", "--run", run_id, "--node", "nope")
    assert one_line_error(missing, 1) == (
        f'run {run_id} has no approval gate "nope" (it has no pending approvals)')
    assert clienv.cli("runs", "approvals", "list", "-o", "json").stdout == ""
    assert "approved by tester" in clienv.cli("runs", "approvals", "list", "--all").stdout
    one_line_error(clienv.cli("runs", "approvals", "approve", "--run", run_id), 2)


def test_deny(clienv) -> None:
    run_id = _gate(clienv, "run-20200101-000000-0000000d")
    proc = clienv.cli("runs", "approvals", "deny", "--run", run_id, "--node", "ship-gate")
    assert proc.returncode == 0
    with clienv.state() as st:
        assert st.get_approval(run_id, "ship-gate").resolution == "denied"


FLAKY = '''
    import sparkwing as sw

    def plan(plan, inputs, run):
        build = plan.job("build", lambda ctx: {"built": ctx.run.run_id})
        check = plan.job("check", sw.sh("test ! -e fail-marker && echo checked"))
        check.needs(build)
'''


def test_retry_failed_reuses_passed_jobs(clienv) -> None:
    clienv.add_pipeline("flaky", FLAKY)
    (clienv.repo / "fail-marker").write_text("x")
    first = clienv.run("flaky")
    (clienv.repo / "fail-marker").unlink()
    proc = clienv.cli("runs", "retry", "--run", first, "--failed", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    with clienv.state() as st:
        retry = next(r for r in st.list_runs() if r.retry_of == first)
        nodes = {n.node_id: n for n in st.list_nodes(retry.id)}
    assert retry.status == "success" and retry.trigger_source == "retry"
    assert nodes["build"].outcome == "cached"
    assert nodes["build"].output == {"built": first}
    assert nodes["check"].outcome == "success"

    again = clienv.cli("runs", "retry", "--run", first, "--all", "-o", "json")
    assert again.returncode == 0, again.stderr
    with clienv.state() as st:
        rerun = next(r for r in st.list_runs() if r.retry_of == first and r.id != retry.id)
        assert st.get_node(rerun.id, "build").outcome == "success"
        assert st.get_node(rerun.id, "build").output == {"built": rerun.id}


def test_retry_needs_a_mode_and_a_finished_run(clienv) -> None:
    bad = clienv.run("broken")
    msg = one_line_error(clienv.cli("runs", "retry", "--run", bad), 2)
    assert "--failed" in msg and "--all" in msg
    failing = clienv.cli("runs", "retry", "--run", bad, "--failed", "-o", "json")
    assert failing.returncode == 1


def test_retry_repeats_inputs_but_not_secrets(clienv) -> None:
    clienv.add_pipeline("typed", '''
        from dataclasses import dataclass
        from typing import Literal

        import sparkwing as sw

        @dataclass
        class Inputs:
            name: str
            mode: Literal["fast", "slow"] = "slow"
            loud: bool = False
            token: str = sw.arg(default="", secret=True)

        def plan(plan, inputs: Inputs, run):
            def show(ctx):
                ctx.info(f"name={inputs.name} mode={inputs.mode} loud={inputs.loud}")
                return {"token_len": len(inputs.token)}
            plan.job("show", show)
    ''')
    first = clienv.run("typed", "--name", "x", "--mode", "fast", "--loud", "--token", "s3cret")
    retried = clienv.cli("runs", "retry", "--run", first, "--all", "-o", "json")
    assert retried.returncode == 0, retried.stderr
    assert "secret input --token" in retried.stderr
    with clienv.state() as st:
        rid = next(r.id for r in st.list_runs() if r.retry_of == first)
        run = st.get_run(rid)
        assert run.args == {"name": "x", "mode": "fast", "loud": True, "token": ""}
        assert st.get_node(rid, "show").output == {"token_len": 0}
    override = clienv.cli("runs", "retry", "--run", first, "--all", "-o", "json",
                          "--token", "again", "--mode", "slow")
    assert override.returncode == 0, override.stderr
    assert "secret input" not in override.stderr
    with clienv.state() as st:
        newest = max((r for r in st.list_runs() if r.retry_of == first),
                      key=lambda r: r.created_at)
        assert newest.args["mode"] == "slow" and newest.args["token"] == "***"
        assert st.get_node(newest.id, "show").output == {"token_len": 5}
    assert os.path.isdir(clienv.sw_home / "runs" / newest.id)


GATED_RELEASE = '''
    import sparkwing as sw

    def plan(plan):
        build = plan.job("build", sw.sh("echo built"))
        gate = plan.approval("ship-gate", message="ship it?").needs(build)
        plan.job("ship", sw.sh("echo shipped")).needs(gate)
'''


def test_approving_a_live_gate_lets_the_run_finish(clienv) -> None:
    clienv.add_pipeline("gated-release", GATED_RELEASE)
    proc = clienv.start("run", "gated-release", "-o", "json")

    def pending():
        listed = clienv.cli("runs", "approvals", "list", "-o", "json").stdout.splitlines()
        return [json.loads(ln) for ln in listed]

    (gate,) = clienv.wait_for(pending, what="the approval request")
    assert (gate["node_id"], gate["message"]) == ("ship-gate", "ship it?")
    ok = clienv.cli("runs", "approvals", "approve", "--run", "latest", "--node", "ship-gate",
                    "--comment", "go")
    assert ok.returncode == 0, ok.stderr
    assert proc.wait(timeout=60) == 0
    with clienv.state() as st:
        run_id = gate["run_id"]
        assert st.get_run(run_id).status == "success"
        assert st.get_node(run_id, "ship-gate").outcome == "success"
        assert st.get_node(run_id, "ship").outcome == "success"


def test_denying_a_live_gate_fails_the_run(clienv) -> None:
    clienv.add_pipeline("gated-release", GATED_RELEASE)
    proc = clienv.start("run", "gated-release", "-o", "json")
    run_id = clienv.wait_for(
        lambda: next((a["run_id"] for a in map(json.loads, clienv.cli(
            "runs", "approvals", "list", "-o", "json").stdout.splitlines())), None),
        what="the approval request")
    denied = clienv.cli("runs", "approvals", "deny", "--run", run_id, "--node", "ship-gate",
                        "--comment", "not today")
    assert denied.returncode == 0, denied.stderr
    assert proc.wait(timeout=60) == 1
    errors = json.loads(clienv.cli("runs", "errors", "--run", run_id, "-o", "json").stdout)
    assert [f["node_id"] for f in errors["failed"]] == ["ship-gate"]
    assert errors["failed"][0]["error"] == "ship-gate: denied by tester: not today"


def test_gates_of_ended_runs_are_not_listed_as_pending(clienv) -> None:
    run_id = _gate(clienv, "run-20200101-000000-0000000e")
    with clienv.state() as st:
        st.update_run(run_id, {"status": "cancelled", "finished_at": time.time()})
    assert clienv.cli("runs", "approvals", "list", "-o", "json").stdout == ""
    listed = clienv.cli("runs", "approvals", "list", "--all", "-o", "json").stdout
    assert run_id in listed

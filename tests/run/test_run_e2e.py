"""``sparkwing run`` end to end: the real CLI in a subprocess (output, exit codes, signals,
process trees); engine semantics without those are in test_engine_inprocess.py."""

from __future__ import annotations

import itertools
import json
import signal
import time
from typing import Any

from sparkwing.testing.procs import pid_alive, wait_for

Project = Any


def test_success_records_run_nodes_and_logs(project: Project) -> None:
    project.add("hello", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            a = plan.job("a", sw.sh("echo hello from a"))
            plan.job("b", lambda ctx: ctx.info("b ran")).needs(a)
    """)
    r = project.run("run", "hello")
    assert r.code == 0, r.err
    run = project.last_run()
    assert run.status == "success" and run.pipeline == "hello"
    assert run.trigger_source == "manual" and run.trigger_user
    assert run.finished_at and run.started_at and run.finished_at >= run.started_at
    nodes = project.nodes(run.id)
    assert {n: (x.status, x.outcome) for n, x in nodes.items()} == {
        "a": ("done", "success"), "b": ("done", "success")}
    msgs = [r["msg"] for r in project.log_records(run.id, "a") if r.get("event") == "exec_line"]
    assert msgs == ["hello from a"]
    env = (project.home / "runs" / run.id / "_envelope.ndjson").read_text()
    assert '"event":"run_start"' in env and '"event":"run_finish"' in env
    # NDJSON on a pipe: every line is JSON, and the last one is the run's finish
    lines = [json.loads(x) for x in r.out.splitlines()]
    assert lines[-1]["event"] == "run_finish" and lines[-1]["attrs"]["status"] == "success"


def test_failure_cascades_and_exit_code_is_1(project: Project) -> None:
    project.add("cascade", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            a = plan.job("build", sw.sh("echo compiling; exit 3"))
            b = plan.job("test", sw.sh("echo never")).needs(a)
            plan.job("deploy", sw.sh("echo never")).needs(b)
            plan.job("lint", sw.sh("echo independent"))
    """)
    r = project.run("run", "cascade")
    assert r.code == 1
    run = project.last_run()
    assert run.status == "failed"
    assert run.error == "jobs failed: build; cancelled: test, deploy"
    n = project.nodes(run.id)
    assert n["build"].outcome == "failed" and n["build"].exit_code == 3
    assert n["test"].outcome == "cancelled" and "upstream-failed" in n["test"].error
    assert n["deploy"].outcome == "cancelled"
    assert n["lint"].outcome == "success"
    st = project.state()
    try:
        kinds = [e.kind for e in st.list_events(run.id)]
        excerpt = [e for e in st.list_events(run.id) if e.kind == "node_failure_excerpt"]
    finally:
        st.close()
    assert "node_failed" in kinds and kinds[-1] == "run_finished"
    assert "compiling" in excerpt[0].payload["log_excerpt"]


def test_timeout_kills_the_whole_process_tree(project: Project) -> None:
    project.add("slow", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("slow", sw.sh("sleep 60 & echo $! > child.pid; echo started; sleep 60")).timeout(1)
    """)
    t0 = time.monotonic()
    r = project.run("run", "slow")
    assert r.code == 1
    assert time.monotonic() - t0 < 20
    run = project.last_run()
    node = project.nodes(run.id)["slow"]
    assert node.outcome == "failed" and node.failure_reason == "timeout"
    assert "timeout exceeded" in node.error
    child = int((project.root / "child.pid").read_text())
    wait_for(lambda: not pid_alive(child), timeout=10)


def test_ctrl_c_cancels_run_and_kills_children(project: Project) -> None:
    project.add("long", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("long", sw.sh("echo $$ > shell.pid; sleep 60"))
            plan.job("after", sw.sh("echo never")).needs("long")
    """)
    proc = project.popen("run", "long")
    pidfile = project.root / "shell.pid"
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    shell = int(pidfile.read_text())
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 1
    run = project.last_run()
    assert run.status == "cancelled"
    n = project.nodes(run.id)
    assert n["long"].outcome == "cancelled" and n["after"].outcome == "cancelled"
    wait_for(lambda: not pid_alive(shell), timeout=10)


def test_ctrl_c_cancels_a_process_run_and_its_node_exec_children(project: Project) -> None:
    project.add("long", """
        import os
        import sparkwing as sw
        def body(ctx):
            with open(ctx.path("exec.pid"), "w") as f:
                f.write(str(os.getpid()))
            ctx.sh("echo $$ > shell.pid; sleep 60")
        def plan(plan, inputs, run):
            plan.job("long", body)
            plan.job("after", sw.sh("echo never")).needs("long")
    """)
    proc = project.popen("run", "long", "--sw-executor", "process")
    pidfile = project.root / "shell.pid"
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "", timeout=30)
    shell = int(pidfile.read_text())
    node_exec = int((project.root / "exec.pid").read_text())
    assert node_exec != proc.pid
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 1
    run = project.last_run()
    assert run.status == "cancelled"
    n = project.nodes(run.id)
    assert n["long"].outcome == "cancelled" and n["after"].outcome == "cancelled"
    wait_for(lambda: not pid_alive(shell) and not pid_alive(node_exec), timeout=15)


def test_typed_inputs_become_flags(project: Project) -> None:
    project.add("release", """
        from dataclasses import dataclass
        from typing import Literal
        import sparkwing as sw
        @dataclass
        class Inputs:
            version: str = sw.arg(help="version to release", short="v")
            channel: Literal["stable", "beta"] = "stable"
            dry: bool = False
            count: int = 1
            targets: list[str] = sw.arg(default_factory=list)
        def plan(plan, inputs: Inputs, run):
            plan.job("show", lambda ctx: {"v": inputs.version, "ch": inputs.channel,
                                          "dry": inputs.dry, "n": inputs.count, "t": inputs.targets})
    """)
    r = project.run("run", "release", "-v", "2.0", "--channel=beta", "--dry", "--count", "3",
                    "--targets", "linux,mac")
    assert r.code == 0, r.err
    run = project.last_run()
    assert project.nodes(run.id)["show"].output == {
        "v": "2.0", "ch": "beta", "dry": True, "n": 3, "t": ["linux", "mac"]}
    assert run.args["version"] == "2.0"
    help_out = project.run("run", "release", "--help")
    assert help_out.code == 0 and "--version" in help_out.out and "required" in help_out.out
    for args, needle in [
        (["--channel", "nightly", "-v", "1"], '--channel="nightly" not allowed'),
        (["-v", "1", "--count", "x"], '--count="x" is not a valid int'),
        (["-v", "1", "--nope"], "unknown flag --nope"),
        ([], "requires --version"),
    ]:
        bad = project.run("run", "release", *args)
        assert bad.code == 2, (args, bad.err)
        assert needle in bad.err and len(bad.err.strip().splitlines()) == 1, bad.err
        assert "Traceback" not in bad.err


def test_secrets_are_masked_in_logs_and_args(project: Project) -> None:
    cfg = project.root.parent / "config" / "sparkwing"
    cfg.mkdir(parents=True)
    (cfg / "secrets.env").write_text("API_TOKEN=tok-supersecret-123\n")
    project.add("secret", """
        from dataclasses import dataclass
        import sparkwing as sw
        @dataclass
        class Inputs:
            password: str = sw.arg(default="", secret=True)
        def use(ctx):
            tok = ctx.secret("API_TOKEN")
            ctx.sh(f"echo token={tok}; echo pw={ctx.inputs.password}")
            ctx.info(f"done with {tok}")
        def plan(plan, inputs: Inputs, run):
            plan.job("use", use)
    """)
    r = project.run("run", "secret", "--password", "hunter2-pw")
    assert r.code == 0, r.err
    run = project.last_run()
    text = (project.home / "runs" / run.id / "use.log").read_text()
    assert "tok-supersecret-123" not in text and "hunter2-pw" not in text
    assert "token=***" in text and "pw=***" in text
    assert "hunter2-pw" not in r.out and "tok-supersecret-123" not in r.out
    assert run.args["password"] == "***" and run.secret_args == ["password"]
    envelope = (project.home / "runs" / run.id / "_envelope.ndjson").read_text()
    assert "hunter2-pw" not in envelope


def test_step_fail_fast_and_finally(project: Project) -> None:
    project.add("steps", """
        import sparkwing as sw
        class T(sw.Job):
            def work(self, w):
                setup = w.step("setup", lambda ctx: None)
                w.step("slow", lambda ctx: ctx.sh("sleep 30")).needs(setup)
                bad = w.step("bad", lambda ctx: ctx.sh("sleep 0.3; exit 4")).needs(setup)
                w.step("after-bad", lambda ctx: None).needs(bad)
                w.step("cleanup", lambda ctx: ctx.info("cleaning")).needs(bad).finally_()
        def plan(plan, inputs, run):
            plan.job("t", T())
    """)
    t0 = time.monotonic()
    r = project.run("run", "steps")
    assert r.code == 1 and time.monotonic() - t0 < 20
    run = project.last_run()
    st = project.state()
    try:
        steps = {s.step_id: s.status for s in st.list_steps(run.id, "t")}
    finally:
        st.close()
    assert steps["bad"] == "failed" and steps["slow"] == "cancelled"
    assert steps["after-bad"] == "cancelled" and steps["cleanup"] == "passed"
    assert project.nodes(run.id)["t"].exit_code == 4


def test_plan_time_io_is_refused(project: Project) -> None:
    project.add("impure", """
        import sparkwing as sw
        from sparkwing.dsl.planning import ensure_not_planning
        def plan(plan, inputs, run):
            ensure_not_planning("sw.hash_files()")
    """)
    r = project.run("run", "impure")
    assert r.code == 2
    assert "cannot be called while building the plan" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_unknown_pipeline_suggests_nearest(project: Project) -> None:
    project.add("deploy", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("a", sw.sh("true"))
    """)
    r = project.run("run", "deplyo")
    assert r.code == 2 and 'did you mean "deploy"' in r.err and "Traceback" not in r.err


def test_workers_flag_limits_parallelism(project: Project) -> None:
    project.add("par", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            for i in range(4):
                plan.job(f"j{i}", sw.sh("date +%s.%N > start.$SPARKWING_NODE_ID; sleep 0.4; date +%s.%N > end.$SPARKWING_NODE_ID"))
    """)
    r = project.run("run", "par", "--sw-workers", "1")
    assert r.code == 0
    spans = sorted(
        (float((project.root / f"start.j{i}").read_text()), float((project.root / f"end.j{i}").read_text()))
        for i in range(4)
    )
    for (_, e1), (s2, _) in itertools.pairwise(spans):
        assert s2 >= e1  # never two at once
    bad = project.run("run", "par", "--sw-workers", "0")
    assert bad.code == 2 and "--sw-workers" in bad.err


def test_secret_in_a_failing_command_is_masked_in_error_and_excerpt(project: Project) -> None:
    cfg = project.root.parent / "config" / "sparkwing"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "secrets.env").write_text("DEPLOY_KEY=dk-very-secret-9\n")
    project.add("leak", """
        import sparkwing as sw
        def deploy(ctx):
            key = ctx.secret("DEPLOY_KEY")
            ctx.sh(f"echo deploying with {key}; exit 5")
        def plan(plan, inputs, run):
            plan.job("deploy", deploy)
    """)
    r = project.run("run", "leak")
    assert r.code == 1
    run = project.last_run()
    node = project.nodes(run.id)["deploy"]
    assert "dk-very-secret-9" not in node.error and "***" in node.error
    st = project.state()
    try:
        events = st.list_events(run.id)
    finally:
        st.close()
    assert "dk-very-secret-9" not in json.dumps([e.payload for e in events])
    assert "dk-very-secret-9" not in r.out + r.err

"""Full local semantics through the real CLI: memoize, concurrency groups, approvals, fan-out,
spawn, dry-run, risk labels, --sw-only/--sw-start-at/--sw-stop-at, debug pauses. Cross-process
features run several ``sparkwing`` processes at once against one ``SPARKWING_HOME``."""

from __future__ import annotations

import json
import time
from typing import Any

from sparkwing.testing.procs import wait_for

Project = Any

MEMO = """
import time, os
import sparkwing as sw
def compute(ctx):
    with open(ctx.path("computed.log"), "a") as f:
        f.write(ctx.run.run_id + "\\n")
    time.sleep(float(os.environ.get("WORK_S", "0.2")))
    if os.environ.get("FAIL_LEADER") and not os.path.exists(ctx.path("leader-failed")):
        open(ctx.path("leader-failed"), "w").close()
        raise RuntimeError("leader fails")
    return {"value": 42}
def plan(plan, inputs, run):
    c = plan.job("compute", compute).memoize(lambda ctx: sw.key("compute", "v1"))
    plan.job("use", lambda ctx: ctx.info(f"got {c.output.get(ctx)}")).needs(c)
"""


def _runs(project: Project) -> list[Any]:
    st = project.state()
    try:
        from sparkwing.storage.records import RunFilter

        return st.list_runs(RunFilter(limit=100))
    finally:
        st.close()


def test_memoize_hit_replays_output(project: Project) -> None:
    project.add("memo", MEMO)
    assert project.run("run", "memo").code == 0
    r = project.run("run", "memo")
    assert r.code == 0, r.err
    runs = _runs(project)
    n = project.nodes(runs[0].id)
    assert n["compute"].outcome == "cached" and n["compute"].output == {"value": 42}
    assert n["use"].outcome == "success"
    assert len((project.root / "computed.log").read_text().splitlines()) == 1
    # --sw-no-cache skips the read but still writes
    assert project.run("run", "memo", "--sw-no-cache").code == 0
    assert len((project.root / "computed.log").read_text().splitlines()) == 2
    ls = project.run("cache", "ls", "-o", "json")
    if ls.code == 0 and ls.out.strip():
        assert "ck:" in ls.out


def test_memoize_in_flight_dedupe_across_processes(project: Project) -> None:
    project.add("memo", MEMO)
    procs = [project.popen("run", "memo") for _ in range(5)]
    for p in procs:
        p.env = None
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len((project.root / "computed.log").read_text().splitlines()) == 1
    outcomes = sorted(project.nodes(r.id)["compute"].outcome for r in _runs(project))
    assert outcomes == ["cached"] * 4 + ["success"]


def test_memoize_follower_runs_itself_when_leader_fails(project: Project) -> None:
    project.add("memo", MEMO)
    project.env["FAIL_LEADER"] = "1"
    project.env["WORK_S"] = "0.5"
    procs = [project.popen("run", "memo") for _ in range(4)]
    for p in procs:
        p.communicate(timeout=60)
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 0, 0, 1]
    # the leader failed, exactly one follower computed again, the rest replayed it
    assert len((project.root / "computed.log").read_text().splitlines()) == 2


def test_concurrency_group_box_scope_across_processes(project: Project) -> None:
    project.add("conc", """
        import time
        import sparkwing as sw
        DEPLOY = sw.concurrency_group("deploy", capacity=2, scope="box")
        def work(ctx):
            with open(ctx.path("spans.log"), "a") as f:
                f.write(f"start {time.time()}\\n")
            time.sleep(0.4)
            with open(ctx.path("spans.log"), "a") as f:
                f.write(f"end {time.time()}\\n")
        def plan(plan, inputs, run):
            plan.job("deploy", work).concurrency(DEPLOY)
    """)
    procs = [project.popen("run", "conc") for _ in range(5)]
    for p in procs:
        p.communicate(timeout=60)
    assert all(p.returncode == 0 for p in procs)
    events = sorted(
        (float(t), kind) for kind, t in
        (line.split() for line in (project.root / "spans.log").read_text().splitlines())
    )
    live = peak = 0
    for _, kind in events:
        live += 1 if kind == "start" else -1
        peak = max(peak, live)
    assert peak == 2


def test_approval_resolved_from_cli(project: Project) -> None:
    project.add("gate", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            ok = plan.approval("approve", message="ship it?", timeout=60)
            plan.job("ship", sw.sh("echo shipped")).needs(ok)
    """)
    proc = project.popen("run", "gate")

    def pending() -> bool:
        try:
            runs = _runs(project)
            return bool(runs) and project.nodes(runs[0].id)["approve"].status == "approval_pending"
        except Exception:
            return False

    wait_for(pending, timeout=30)
    run_id = _runs(project)[0].id
    r = project.run("runs", "approvals", "approve", "--run", run_id, "--node", "approve",
                    "--comment", "lgtm")
    assert r.code == 0, r.err
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    n = project.nodes(run_id)
    assert n["approve"].outcome == "success" and "lgtm" in n["approve"].summary
    assert n["ship"].outcome == "success"
    st = project.state()
    try:
        ap = st.get_approval(run_id, "approve")
    finally:
        st.close()
    assert ap is not None and ap.resolution == "approved" and ap.comment == "lgtm"


def test_dry_run_and_risk_labels(project: Project) -> None:
    project.add("risky", """
        import sparkwing as sw
        class Deploy(sw.Job):
            def work(self, w):
                w.step("plan", lambda ctx: ctx.sh("echo planning")).safe_without_dry_run()
                w.step("apply", lambda ctx: ctx.sh("touch applied")).risk("prod", "destructive").dry_run(
                    lambda ctx: ctx.info("would apply"))
                w.step("notify", lambda ctx: ctx.sh("touch notified")).risk("prod")
        def plan(plan, inputs, run):
            plan.job("deploy", Deploy())
            plan.job("plain", sw.sh("touch plain"))
    """)
    refused = project.run("run", "risky")
    assert refused.code == 1 and "--sw-allow destructive,prod" in refused.err
    assert not (project.root / "applied").exists() and not _runs(project)
    partial = project.run("run", "risky", "--sw-allow", "prod")
    assert partial.code == 1 and "--sw-allow destructive" in partial.err
    dry = project.run("run", "risky", "--sw-dry-run")
    assert dry.code == 0, dry.err
    assert not (project.root / "applied").exists() and not (project.root / "plain").exists()
    run = project.last_run()
    st = project.state()
    try:
        steps = {s.step_id: s.status for s in st.list_steps(run.id, "deploy")}
    finally:
        st.close()
    assert steps == {"plan": "passed", "apply": "passed", "notify": "skipped"}
    assert project.nodes(run.id)["plain"].outcome == "skipped"
    ok = project.run("run", "risky", "--sw-allow", "prod,destructive")
    assert ok.code == 0 and (project.root / "applied").exists()


def test_only_and_start_stop(project: Project) -> None:
    project.add("shape", """
        import sparkwing as sw
        class Pipe(sw.Job):
            def work(self, w):
                a = w.step("fetch", lambda ctx: ctx.sh("touch fetch"))
                b = w.step("build", lambda ctx: ctx.sh("touch build")).needs(a)
                c = w.step("test", lambda ctx: ctx.sh("touch test")).needs(b)
                w.step("ship", lambda ctx: ctx.sh("touch ship")).needs(c)
        def plan(plan, inputs, run):
            lint = plan.job("lint", sw.sh("touch lint"))
            unit = plan.job("test-unit", sw.sh("touch unit")).needs(lint)
            plan.job("test-e2e", sw.sh("touch e2e"))
            plan.job("pipe", Pipe())
    """)
    r = project.run("run", "shape", "--sw-only", "test-u*")
    assert r.code == 0, r.err
    n = project.nodes(project.last_run().id)
    assert n["test-unit"].outcome == "success" and n["lint"].outcome == "success"
    assert n["test-e2e"].outcome == "skipped" and "outside --sw-only" in n["test-e2e"].error
    for f in ("lint", "unit", "e2e", "fetch"):
        (project.root / f).unlink(missing_ok=True)
    r = project.run("run", "shape", "--sw-start-at", "build", "--sw-stop-at", "test")
    assert r.code == 0, r.err
    made = {f for f in ("fetch", "build", "test", "ship") if (project.root / f).exists()}
    assert made == {"build", "test"}
    bad = project.run("run", "shape", "--sw-start-at", "biuld")
    assert bad.code == 2 and 'did you mean "build"' in bad.err
    bad = project.run("run", "shape", "--sw-only", "nothing*")
    assert bad.code == 2


def test_debug_pause_released_from_cli(project: Project) -> None:
    project.add("dbg", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("a", sw.sh("echo a"))
    """)
    proc = project.popen("run", "dbg", "--sw-pause-before", "a")

    def paused() -> bool:
        try:
            runs = _runs(project)
            return bool(runs) and project.nodes(runs[0].id)["a"].status == "paused"
        except Exception:
            return False

    wait_for(paused, timeout=30)
    run_id = _runs(project)[0].id
    ls = project.run("debug", "list", "-o", "json")
    assert ls.code == 0 and "pause-before" in ls.out
    r = project.run("debug", "release", "--run", run_id, "--node", "a")
    assert r.code == 0, r.err
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    st = project.state()
    try:
        p = st.get_pause(run_id, "a")
    finally:
        st.close()
    assert p is not None and p.release_kind == "manual"


def test_runs_retry_failed_reuses_passed(project: Project) -> None:
    project.add("rt", """
        import os
        import sparkwing as sw
        def flaky(ctx):
            if not os.path.exists(ctx.path("fixed")):
                raise RuntimeError("broken")
            return "ok"
        def plan(plan, inputs, run):
            a = plan.job("build", lambda ctx: open(ctx.path("builds"), "a").write("x") and "built")
            plan.job("test", flaky).needs(a)
    """)
    assert project.run("run", "rt").code == 1
    first = project.last_run()
    (project.root / "fixed").write_text("")
    r = project.run("runs", "retry", "--run", first.id, "--failed")
    assert r.code == 0, r.out + r.err
    second = _runs(project)[0]
    assert second.retry_of == first.id
    n = project.nodes(second.id)
    assert n["build"].outcome == "cached" and n["test"].outcome == "success"
    assert (project.root / "builds").read_text() == "x"
    time.sleep(0)
    json.dumps(n["build"].output)


def test_four_runs_waiting_on_approvals_resolved_from_other_processes(project: Project) -> None:
    project.add("gate4", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            ok = plan.approval("approve", message="go?", timeout=120)
            plan.job("after", sw.sh("echo went")).needs(ok)
    """)
    procs = [project.popen("run", "gate4") for _ in range(4)]

    def all_pending() -> bool:
        try:
            runs = _runs(project)
            return len(runs) == 4 and all(
                project.nodes(r.id)["approve"].status == "approval_pending" for r in runs)
        except Exception:
            return False

    wait_for(all_pending, timeout=60)
    runs = sorted(r.id for r in _runs(project))
    import subprocess
    import sys

    resolvers = [
        subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", "runs", "approvals",
             "approve" if i % 2 == 0 else "deny", "--run", run_id, "--node", "approve",
             "--comment", f"decision {i}"],
            cwd=project.root, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for i, run_id in enumerate(runs)
    ]
    assert [r.wait(timeout=60) for r in resolvers] == [0, 0, 0, 0]
    codes = {p.pid: p.wait(timeout=60) for p in procs}
    assert sorted(codes.values()) == [0, 0, 1, 1]
    for i, run_id in enumerate(runs):
        n = project.nodes(run_id)
        want = "success" if i % 2 == 0 else "failed"
        assert n["approve"].outcome == want
        assert n["after"].outcome == ("success" if want == "success" else "cancelled")
        st = project.state()
        try:
            ap = st.get_approval(run_id, "approve")
        finally:
            st.close()
        assert ap is not None and ap.comment == f"decision {i}" and ap.approver
    # a second decision on a resolved gate is refused with one line
    again = project.run("runs", "approvals", "approve", "--run", runs[0], "--node", "approve")
    assert again.code != 0 and len(again.err.strip().splitlines()) == 1


def test_debug_pause_expires_after_its_timeout(project: Project) -> None:
    project.add("dbg2", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("a", sw.sh("exit 3"))
    """)
    r = project.run("run", "dbg2", "--sw-pause-on-failure", env={"SPARKWING_PAUSE_TIMEOUT": "0.5s"})
    assert r.code == 1
    run = project.last_run()
    st = project.state()
    try:
        p = st.get_pause(run.id, "a")
        kinds = [e.kind for e in st.list_events(run.id)]
    finally:
        st.close()
    assert p is not None and p.reason == "pause-on-failure" and p.release_kind == "timeout-released"
    assert "node_paused" in kinds and "node_resumed" in kinds
    bad = project.run("run", "dbg2", env={"SPARKWING_PAUSE_TIMEOUT": "soon"})
    assert bad.code == 2 and "SPARKWING_PAUSE_TIMEOUT" in bad.err


def test_verify_and_no_progress_timeout(project: Project) -> None:
    project.add("checks", """
        import sparkwing as sw
        def check(ctx):
            if not ctx.path("artifact.txt").exists():
                raise RuntimeError("artifact.txt missing")
        def plan(plan, inputs, run):
            plan.job("build-ok", sw.sh("touch artifact.txt")).verify(check)
            plan.job("build-bad", sw.sh("true")).needs("build-ok").verify(
                lambda ctx: (_ for _ in ()).throw(RuntimeError("bad result")))
            plan.job("hung", sw.sh("echo start; sleep 30")).no_progress_timeout(1).timeout(20)
            plan.job("chatty", sw.sh("for i in 1 2 3 4; do echo $i; sleep 0.4; done")).no_progress_timeout(1.5)
    """)
    t0 = time.monotonic()
    r = project.run("run", "checks", "--sw-workers", "4")
    assert r.code == 1 and time.monotonic() - t0 < 15
    n = project.nodes(project.last_run().id)
    assert n["build-ok"].outcome == "success"
    assert n["build-bad"].outcome == "failed" and n["build-bad"].failure_reason == "verify"
    assert "bad result" in n["build-bad"].error
    assert n["hung"].outcome == "failed" and n["hung"].failure_reason == "no_progress_timeout"
    assert n["chatty"].outcome == "success"


def test_cancel_others_supersedes_the_older_holder(project: Project) -> None:
    project.add("excl", """
        import os, time
        import sparkwing as sw
        G = sw.concurrency_group("deploy-env", capacity=1, scope="box", on_limit="cancel_others")
        def deploy(ctx):
            open(ctx.path("started." + ctx.run.run_id), "w").close()
            time.sleep(float(os.environ.get("HOLD_S", "0.2")))
        def plan(plan, inputs, run):
            plan.job("deploy", deploy).concurrency(G)
    """)
    project.env["HOLD_S"] = "15"
    first = project.popen("run", "excl")
    wait_for(lambda: any(p.name.startswith("started.") for p in project.root.iterdir()), timeout=30)
    project.env["HOLD_S"] = "0.1"
    second = project.run("run", "excl")
    first.env = None
    first.communicate(timeout=30)
    assert second.code == 0, second.err
    assert first.returncode == 1
    runs = _runs(project)
    older, newer = sorted(runs, key=lambda r: r.id)
    assert older.status == "cancelled"
    assert project.nodes(older.id)["deploy"].outcome == "superseded"
    assert project.nodes(newer.id)["deploy"].outcome == "success"


def test_crashed_holder_frees_its_units_by_lease_expiry(project: Project) -> None:
    import os
    import signal as sig

    project.add("lease", """
        import time
        import sparkwing as sw
        G = sw.concurrency_group("one", capacity=1, scope="box")
        def work(ctx):
            open(ctx.path("holding." + ctx.run.run_id), "w").close()
            time.sleep(60)
        def plan(plan, inputs, run):
            plan.job("hold", work).concurrency(G)
    """)
    project.env["SPARKWING_LEASE_S"] = "2"
    holder = project.popen("run", "lease")
    wait_for(lambda: any(p.name.startswith("holding.") for p in project.root.iterdir()), timeout=30)
    os.kill(holder.pid, sig.SIGKILL)
    holder.communicate(timeout=10)
    project.add("lease2", """
        import sparkwing as sw
        G = sw.concurrency_group("one", capacity=1, scope="box")
        def plan(plan, inputs, run):
            plan.job("next", lambda ctx: "got it").concurrency(G)
    """)
    t0 = time.monotonic()
    r = project.run("run", "lease2", timeout=60)
    assert r.code == 0, r.err
    assert time.monotonic() - t0 < 30
    assert project.nodes(project.last_run().id)["next"].output == "got it"


def test_risk_gate_covers_jobs_pulled_in_by_only(project: Project) -> None:
    project.add("riskonly", """
        import sparkwing as sw
        class Migrate(sw.Job):
            def work(self, w):
                w.step("migrate", lambda ctx: ctx.sh("touch migrated")).risk("prod")
        def plan(plan, inputs, run):
            m = plan.job("migrate", Migrate())
            plan.job("smoke", sw.sh("true")).needs(m)
            plan.job("other", Migrate())
    """)
    refused = project.run("run", "riskonly", "--sw-only", "smoke")
    assert refused.code == 1 and "--sw-allow prod" in refused.err
    assert not (project.root / "migrated").exists()
    ok = project.run("run", "riskonly", "--sw-only", "smoke", "--sw-allow", "prod")
    assert ok.code == 0, ok.err
    n = project.nodes(project.last_run().id)
    assert n["migrate"].outcome == "success" and n["other"].outcome == "skipped"

"""Engine semantics through the in-process harness (no CLI process per test).

Signals, process groups and several processes sharing one home stay in the
subprocess tests (``test_run_e2e.py``, ``test_semantics_e2e.py``).
"""

from __future__ import annotations

from sparkwing import events
from sparkwing.testing.harness import Harness


def test_retry_then_success(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("flaky", """
        import sparkwing as sw
        def flaky(ctx):
            p = ctx.path("attempts.txt")
            n = int(p.read_text()) + 1 if p.exists() else 1
            p.write_text(str(n))
            if n < 3:
                raise RuntimeError(f"attempt {n} failed")
            return n
        def plan(plan, inputs, run):
            plan.job("flaky", flaky).retry(3, backoff=0.05)
    """)
    run = sparkwing_harness.run("flaky")
    assert run.status == "success"
    node = run.node("flaky")
    assert node.outcome == "success" and node.attempts == 3 and node.output == 3
    retries = [r for r in run.logs["flaky"] if r.get("event") == "retry"]
    assert [r["attrs"]["attempt"] for r in retries] == [1, 2]
    finished = [e.payload for e in run.events if e.kind == events.ATTEMPT_FINISHED]
    assert [(p["attempt"], p["outcome"]) for p in finished] == [
        (1, "failed"), (2, "failed"), (3, "success")]
    assert finished[0]["error"] == "flaky: RuntimeError: attempt 1 failed"


def test_skip_if_optional_and_continue_on_error(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("shapes", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            s = plan.job("skipped", sw.sh("echo never")).skip_if(lambda ctx: True)
            plan.job("after-skip", sw.sh("echo ran")).needs(s)
            o = plan.job("optional", sw.sh("exit 1")).optional()
            plan.job("after-optional", sw.sh("echo ran")).needs(o)
            c = plan.job("coe", sw.sh("exit 2")).continue_on_error()
            plan.job("after-coe", sw.sh("echo ran")).needs(c)
    """)
    run = sparkwing_harness.run("shapes")
    n = run.outcomes
    assert n["skipped"] == "skipped" and n["after-skip"] == "success"
    assert n["optional"] == "failed" and n["after-optional"] == "success"
    assert n["coe"] == "failed" and n["after-coe"] == "success"
    # the optional failure does not fail the run, the continue_on_error one does
    assert run.status == "failed" and "coe" in run.run.error
    assert "optional" not in run.run.error.replace("after-optional", "")


def test_optional_failure_alone_keeps_run_green(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("opt", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("flaky-lint", sw.sh("exit 1")).optional()
            plan.job("main", sw.sh("echo ok"))
    """)
    assert sparkwing_harness.run("opt").status == "success"


def test_on_failure_runs_only_when_parent_fails(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("recover", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("deploy", sw.sh("exit 1")).on_failure("rollback", sw.sh("echo rolling back"))
            plan.job("ok", sw.sh("true")).on_failure("never", sw.sh("echo no"))
    """)
    run = sparkwing_harness.run("recover")
    assert run.status == "failed"  # a successful recovery does not turn the run green
    assert run.node("rollback").outcome == "success" and run.node("rollback").kind == "recovery"
    assert run.node("never").outcome == "skipped"
    assert run.output_lines("rollback") == ["rolling back"]


def test_typed_outputs_flow_between_jobs_and_steps(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("outputs", """
        import sparkwing as sw
        def version(ctx):
            return {"version": "1.2.3", "files": ["a.whl"]}
        class Build(sw.Job):
            def __init__(self, ver):
                self.ver = ver
            def work(self, w):
                a = w.step("read", lambda ctx: self.ver.get(ctx)["version"])
                b = w.step("name", lambda ctx: f"app-{a.output.get(ctx)}.tar").needs(a)
                return b
        def plan(plan, inputs, run):
            v = plan.job("version", version)
            b = plan.job("build", Build(v.output)).needs(v)
            plan.job("publish", lambda ctx: ctx.info("publishing " + b.output.get(ctx))).needs(b)
            plan.job("bad", lambda ctx: object())
    """)
    run = sparkwing_harness.run("outputs")
    assert run.node("version").output == {"version": "1.2.3", "files": ["a.whl"]}
    assert run.node("build").output == "app-1.2.3.tar"
    assert "publishing app-1.2.3.tar" in run.messages("publish")
    assert {s.step_id: s.status for s in run.steps if s.node_id == "build"} == {
        "read": "passed", "name": "passed"}
    assert run.event_kinds("build").count(events.STEP_FINISHED) == 2
    bad = run.node("bad")
    assert bad.outcome == "failed" and "not JSON-serialisable" in bad.error
    assert run.status == "failed"


def test_async_jobs(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("asyncp", """
        import asyncio
        import sparkwing as sw
        async def fetch(ctx):
            await asyncio.sleep(0.05)
            out = await ctx.sh_async("echo from-async", capture="text")
            return out
        class Steps(sw.Job):
            def work(self, w):
                async def s1(ctx):
                    await asyncio.sleep(0.01)
                    return 7
                a = w.step("s1", s1)
                return w.step("s2", lambda ctx: a.output.get(ctx) * 6).needs(a)
        def plan(plan, inputs, run):
            f = plan.job("fetch", fetch)
            plan.job("steps", Steps()).needs(f)
    """)
    run = sparkwing_harness.run("asyncp")
    assert run.status == "success"
    assert run.node("fetch").output == "from-async" and run.node("steps").output == 42


def test_concurrency_group_skip_and_fail_policies(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("pol", """
        import time
        import sparkwing as sw
        ONE_SKIP = sw.concurrency_group("one-skip", capacity=1, on_limit="skip")
        ONE_FAIL = sw.concurrency_group("one-fail", capacity=1, on_limit="fail")
        def plan(plan, inputs, run):
            plan.job("a", lambda ctx: time.sleep(0.5)).concurrency(ONE_SKIP)
            plan.job("b", lambda ctx: time.sleep(0.5)).concurrency(ONE_SKIP)
            plan.job("c", lambda ctx: time.sleep(0.5)).concurrency(ONE_FAIL)
            plan.job("d", lambda ctx: time.sleep(0.5)).concurrency(ONE_FAIL)
    """)
    run = sparkwing_harness.run("pol", workers=4)
    n = run.outcomes
    assert sorted([n["a"], n["b"]]) == ["skipped-concurrent", "success"]
    assert sorted([n["c"], n["d"]]) == ["failed", "success"]
    failed = next(x for x in ("c", "d") if n[x] == "failed")
    assert run.node(failed).failure_reason == "concurrency_full"
    assert run.status == "failed"


def test_queue_timeout(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("qt", """
        import time
        import sparkwing as sw
        G = sw.concurrency_group("slow", capacity=1, queue_timeout=0.5)
        def plan(plan, inputs, run):
            plan.job("holder", lambda ctx: time.sleep(2)).concurrency(G)
            plan.job("waiter", lambda ctx: None).concurrency(G)
    """)
    run = sparkwing_harness.run("qt", workers=4)
    outcomes = {k: (v.outcome, v.failure_reason) for k, v in run.nodes.items()}
    assert ("failed", "queue_timeout") in outcomes.values()
    assert events.CONCURRENCY_WAIT in run.event_kinds()


def test_approval_expiry_policies(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("expire", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            a = plan.approval("auto", timeout=0.3, on_expiry="approve")
            d = plan.approval("deny", timeout=0.3, on_expiry="deny")
            plan.job("after-auto", sw.sh("true")).needs(a)
            plan.job("after-deny", sw.sh("true")).needs(d)
    """)
    run = sparkwing_harness.run("expire")
    assert run.status == "failed"
    assert run.outcomes["auto"] == "success" and run.outcomes["after-auto"] == "success"
    assert run.outcomes["deny"] == "failed" and "policy=deny" in run.node("deny").error
    assert run.outcomes["after-deny"] == "cancelled"
    assert run.node("auto").summary == "auto-approved (timed out)"
    assert any("approval \"auto\" is waiting" in w for w in run.warnings)
    resolved = [e.payload for e in run.events if e.kind == events.APPROVAL_RESOLVED]
    assert {p["resolution"] for p in resolved} == {"timed_out"}


def test_dynamic_fan_out_and_spawn(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("dyn", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            src = plan.job("list", lambda ctx: ["a", "b", "c"])
            fan = plan.fan_out_dynamic("shards", src, lambda item: (f"shard-{item}", lambda ctx, i=item: i.upper()))
            join = plan.job("join", lambda ctx: ctx.info("joined"))
            fan.needed_by(join)
            def parent(ctx):
                out = ctx.spawn("child", lambda c: "from child")
                return out + "!"
            plan.job("parent", parent)
    """)
    run = sparkwing_harness.run("dyn")
    assert run.status == "success"
    n = run.nodes
    assert {k: v.output for k, v in n.items() if k.startswith("shard-")} == {
        "shard-a": "A", "shard-b": "B", "shard-c": "C"}
    assert n["join"].started_at >= max(n[f"shard-{x}"].finished_at for x in "abc")
    assert n["parent/child"].output == "from child" and n["parent"].output == "from child!"
    assert events.FAN_OUT_EXPANDED in run.event_kinds("list")


def test_a_failed_fan_out_expansion_cancels_its_dependents(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("badfan", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            src = plan.job("list", lambda ctx: "not a list")
            fan = plan.fan_out_dynamic("shards", src, lambda item: (f"s-{item}", lambda ctx: 1))
            join = plan.job("join", lambda ctx: None)
            fan.needed_by(join)
    """)
    run = sparkwing_harness.run("badfan")
    assert run.outcomes == {"list": "success", "join": "cancelled"}
    assert run.node("join").error == "expansion failed: output of list is str, not a list"
    assert events.EXPANSION_FAILED in run.event_kinds("list")


def test_spawn_from_inside_a_step(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("spawnstep", """
        import sparkwing as sw
        class Release(sw.Job):
            def work(self, w):
                prep = w.step("prep", lambda ctx: ["linux", "mac"])
                def build_all(ctx):
                    return [ctx.spawn(f"build-{t}", sw.sh(f"echo building {t}")) for t in prep.output.get(ctx)]
                return w.step("build", build_all).needs(prep)
        def plan(plan, inputs, run):
            plan.job("release", Release())
    """)
    run = sparkwing_harness.run("spawnstep", workers=1)
    assert run.status == "success"
    assert run.outcomes["release/build-linux"] == "success"
    assert run.outcomes["release/build-mac"] == "success"
    assert run.node("release").output == [None, None]
    assert run.output_lines("release/build-mac") == ["building mac"]


def test_memoize_replays_a_stored_output(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("memo", """
        import sparkwing as sw
        def compute(ctx):
            with open(ctx.path("computed.log"), "a") as f:
                f.write("x\\n")
            return {"value": 42}
        def plan(plan, inputs, run):
            c = plan.job("compute", compute).memoize(lambda ctx: sw.key("compute", "v1"))
            plan.job("use", lambda ctx: c.output.get(ctx)["value"] + 1).needs(c)
    """)
    first = sparkwing_harness.run("memo")
    second = sparkwing_harness.run("memo")
    assert first.outcomes == {"compute": "success", "use": "success"}
    assert second.outcomes == {"compute": "cached", "use": "success"}
    assert second.node("compute").output == {"value": 42} and second.node("use").output == 43
    assert events.CACHE_HIT in second.event_kinds("compute")
    assert (sparkwing_harness.root / "computed.log").read_text() == "x\n"
    third = sparkwing_harness.run("memo", no_cache=True)
    assert third.outcomes["compute"] == "success"


def test_hooks_before_and_after_every_attempt(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("hooks", """
        import sparkwing as sw
        seen = []
        def after(ctx, err):
            ctx.info(f"after: {type(err).__name__}: {err}")
        def plan(plan, inputs, run):
            plan.job("fails", sw.sh("exit 5")).retry(1).before_run(
                lambda ctx: ctx.info("before")).after_run(after)
            plan.job("refused", sw.sh("true")).before_run(lambda ctx: 1 / 0)
    """)
    run = sparkwing_harness.run("hooks")
    msgs = run.messages("fails")
    assert msgs.count("before") == 1
    assert "after: CommandError: command exited with code 5: exit 5" in msgs
    refused = run.node("refused")
    assert refused.failure_reason == "before_run" and "ZeroDivisionError" in refused.error


def test_run_plan_takes_a_plan_function(sparkwing_harness: Harness) -> None:
    def build(plan):
        a = plan.job("a", lambda ctx: 41)
        plan.job("b", lambda ctx: a.output.get(ctx) + 1).needs(a)

    run = sparkwing_harness.run_plan(build)
    assert run.status == "success" and run.outputs == {"a": 41, "b": 42}
    assert run.run.pipeline == "plan" and run.run.trigger_source == "harness"

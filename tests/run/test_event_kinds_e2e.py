"""What a real run records uses only the kinds ``sparkwing.events`` names."""

from __future__ import annotations

import json

from sparkwing import events
from sparkwing.storage.fs_logs import FilesystemLogStore

#: Retries, steps (one failing under fail-fast), annotations, a skip, a failure
#: with an excerpt, a job never reached, a memoized job (a cache hit on the second run).
PIPELINE = """
from pathlib import Path

import sparkwing as sw


def flaky(ctx):
    marker = Path("flaky-marker")
    if not marker.exists():
        marker.write_text("x")
        raise RuntimeError("first attempt fails")
    ctx.annotate("passed on the second attempt")
    ctx.summary("**ok**")


class Checks(sw.Job):
    def work(self, w):
        w.step("lint", lambda ctx: ctx.info("lint ok"))
        w.step("types", lambda ctx: ctx.sh("echo typing; exit 5") and None)


def plan(plan, inputs, run):
    first = plan.job("first", sw.sh("echo one"))
    plan.job("flaky", flaky).retry(1).needs(first)
    plan.job("checks", Checks()).needs(first)
    plan.job("skipped", sw.sh("echo no")).skip_if(lambda ctx: True)
    plan.job("memo", sw.sh("echo memo")).memoize(lambda ctx: "fixed-key")
    bad = plan.job("bad", sw.sh("echo before; exit 2")).needs(first)
    plan.job("after", sw.sh("echo after")).needs(bad)
"""


def test_recorded_events_and_log_markers_are_named_kinds(project) -> None:
    project.add("kinds", PIPELINE)
    for _ in range(2):
        result = project.run("run", "kinds", "-o", "json")
        assert result.code == 1, result.err
    st = project.state()
    try:
        runs = st.list_runs()
        assert len(runs) == 2
        state_kinds: set[str] = set()
        for run in runs:
            state_kinds |= {e.kind for e in st.list_events(run.id, 0, 10_000)}
    finally:
        st.close()
    logs = FilesystemLogStore(project.home / "runs")
    log_kinds: set[str] = set()
    try:
        for run in runs:
            for stream in logs.streams(run.id):
                for line in logs.read(run.id, stream).lines:
                    log_kinds.add(json.loads(line).get("event") or "")
    finally:
        logs.close()
    log_kinds.discard("")

    assert state_kinds <= events.STATE_KINDS, state_kinds - events.STATE_KINDS
    assert log_kinds <= events.LOG_KINDS, log_kinds - events.LOG_KINDS
    # the run exercised what it was meant to (so the checks above are not vacuous)
    assert {events.RUN_STARTED, events.RUN_FINISHED, events.NODE_FAILED, events.ATTEMPT_RETRY,
            events.STEP_STARTED, events.STEP_FINISHED, events.NODE_SKIPPED,
            events.NODE_FAILURE_EXCERPT, events.CACHE_HIT, events.NODE_CANCELLED} <= state_kinds
    assert {events.LOG_RUN_START, events.LOG_RUN_FINISH, events.LOG_EXEC_LINE,
            events.LOG_EXEC_START, events.LOG_STEP_START, events.LOG_STEP_END, events.LOG_RETRY,
            events.LOG_NODE_ANNOTATION, events.LOG_NODE_SUMMARY} <= log_kinds

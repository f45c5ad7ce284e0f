"""``sparkwing triggers tick``: schedules fire once per matching minute."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

from sparkwing.triggers.keys import schedule_key
from sparkwing.triggers.schedule import due_requests, parse_now

from .conftest import Project

NIGHTLY = """
schedule:
  - cron: "0 3 * * 1-5"
  - cron: "30 3 * * *"
"""


def test_a_matching_minute_starts_the_run(project: Project) -> None:
    project.add("nightly", on=NIGHTLY)
    project.add("other")
    body = project.cli_json("triggers", "tick", "--now", "2026-01-05T03:00:42Z")  # a Monday
    assert body["minute"] == "2026-01-05T03:00:00Z"
    (due,) = body["due"]
    assert (due["pipeline"], due["cron"], due["outcome"], due["run_status"]) == (
        "nightly", "0 3 * * 1-5", "started", "success")
    (run,) = project.runs()
    assert run.id == due["run_id"] and run.pipeline == "nightly"
    assert run.trigger_source == "schedule"
    assert run.invocation["trigger"]["event"] == "cron"
    assert run.invocation["trigger"]["extra"] == {"cron": "0 3 * * 1-5",
                                                  "minute": "2026-01-05T03:00:00Z"}
    (row,) = project.triggers()
    assert (row.source, row.status, row.run_id, row.id) == (
        "schedule", "done", run.id, due["trigger_id"])
    assert row.idempotency_key == schedule_key(
        project.root, "nightly", "0 3 * * 1-5", datetime(2026, 1, 5, 3, 0, tzinfo=UTC))


def test_a_minute_that_matches_nothing_starts_nothing(project: Project) -> None:
    project.add("nightly", on=NIGHTLY)
    proc = project.cli("triggers", "tick", "--now", "2026-01-03T03:00:00Z")  # a Saturday
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2026-01-03T03:00Z: no schedule due (2 schedule(s) declared)\n"
    assert project.cli_json("triggers", "tick", "--now", "2026-01-05T03:01Z")["due"] == []
    assert project.runs() == [] and project.triggers() == []


def test_two_ticks_in_one_minute_start_one_run(project: Project) -> None:
    project.add("nightly", on=NIGHTLY)
    first = project.cli("triggers", "tick", "--now", "2026-01-06T03:30:05Z")
    assert first.returncode == 0, first.stderr
    assert "nightly  [30 3 * * *]  started run run-" in first.stdout
    second = project.cli_json("triggers", "tick", "--now", "2026-01-06T03:30:59Z")
    (due,) = second["due"]
    assert due["outcome"] == "duplicate" and due["run_id"] == project.runs()[0].id
    text = project.cli("triggers", "tick", "--now", "2026-01-06T03:30Z")
    assert "already requested as trigger trg-" in text.stdout and "nothing started" in text.stdout
    assert len(project.runs()) == 1 and len(project.triggers()) == 1
    # the next day's minute is another run
    project.cli_json("triggers", "tick", "--now", "2026-01-07T03:30:00+00:00")
    assert len(project.runs()) == 2


def test_two_ticks_racing_on_one_minute_start_one_run(project: Project) -> None:
    project.add("nightly", on=NIGHTLY)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "sparkwing_cli.main", "triggers", "tick", "--now",
         "2026-01-05T03:00:00Z", "-o", "json"], cwd=project.root, env=project.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outcomes += [d["outcome"] for d in json.loads(out)["due"]]
    assert sorted(outcomes) == ["duplicate", "duplicate", "started"]
    assert len(project.runs()) == 1 and len(project.triggers()) == 1


def test_pipeline_filter_and_a_failing_scheduled_run(project: Project) -> None:
    project.add("nightly", on=NIGHTLY)
    project.add("broken", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("boom", sw.sh("exit 4"))
    """, on="schedule: '0 3 * * *'")
    only = project.cli_json("triggers", "tick", "--now", "2026-01-05T03:00Z",
                            "--pipeline", "nightly")
    assert [d["pipeline"] for d in only["due"]] == ["nightly"]
    proc = project.cli("triggers", "tick", "--now", "2026-01-05T03:00Z")
    assert proc.returncode == 1  # the broken pipeline's run failed
    assert "broken  [0 3 * * *]  started run run-" in proc.stdout and "(failed)" in proc.stdout
    assert "nightly  [0 3 * * 1-5]  already requested" in proc.stdout
    unknown = project.cli("triggers", "tick", "--pipeline", "nope")
    assert unknown.returncode == 2 and 'unknown pipeline "nope"' in unknown.stderr


def test_tick_refuses_a_bad_cron_expression_and_a_bad_time(project: Project) -> None:
    project.add("nightly", on="schedule: [{cron: '0 25 * * *'}]")
    proc = project.cli("triggers", "tick")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: .sparkwing/sparkwing.yaml:")
    assert 'bad cron expression "0 25 * * *"' in proc.stderr and "hour field" in proc.stderr
    bad_time = project.cli("triggers", "tick", "--now", "tomorrow")
    assert bad_time.returncode == 2 and "--now 'tomorrow' is not an ISO-8601 time" in bad_time.stderr
    # `sparkwing run` does not evaluate schedules: the pipeline still runs
    assert project.cli("run", "nightly", "-o", "json").returncode == 0


def test_due_requests_and_times(project: Project) -> None:
    from sparkwing.config import load_project

    project.add("nightly", on=NIGHTLY)
    loaded = load_project(project.root)
    monday = parse_now("2026-01-05T04:00:00+01:00")  # 03:00 UTC
    assert monday == datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    (req,) = due_requests(loaded, monday)
    assert (req.pipeline, req.trigger.source, req.trigger.event) == ("nightly", "schedule", "cron")
    assert req.workdir == loaded.root and req.idempotency_key.endswith(":2026-01-05T03:00Z")
    assert parse_now("2026-01-05T03:00") == monday  # naive: UTC
    assert due_requests(loaded, monday, pipelines=["other"]) == []


RUN_IMPORTS = """
import sys
from sparkwing_cli.runner import execute, split_args
code = execute(split_args(["nightly", "-o", "json"]))
print("croniter" in sys.modules, code, file=sys.stderr)
"""


def test_sparkwing_run_does_not_import_the_cron_library(project: Project) -> None:
    project.add("nightly", on=NIGHTLY)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(RUN_IMPORTS)],
                          cwd=project.root, env=project.env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "False 0"

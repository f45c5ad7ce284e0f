"""The one dispatch function: one row per idempotency key, one run per row."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sparkwing.errors import PluginError, UsageError
from sparkwing.runs.start import StartOptions, start_run
from sparkwing.triggers.contracts import RunRequest, TriggerMeta
from sparkwing.triggers.dispatch import dispatch, run_queued

from .conftest import WITH_INPUT, Project


def request(project: Project, pipeline: str = "build", key: str = "", **kw: Any) -> RunRequest:
    kw.setdefault("trigger", TriggerMeta(source="manual", actor="ann", event="test",
                                         delivery_id="d-1", extra={"pr": 7}))
    return RunRequest(pipeline=pipeline, idempotency_key=key, workdir=project.root, **kw)


def test_dispatching_one_key_twice_starts_one_run(project: Project) -> None:
    project.add("build")
    first = dispatch(request(project, key="delivery-42"))
    assert first.created and not first.duplicate
    assert first.run is not None and first.run.status == "success"
    second = dispatch(request(project, key="delivery-42"))
    assert second.duplicate and second.run is None
    assert second.row.id == first.row.id and second.row.run_id == first.run.id
    assert "duplicate request (key delivery-42)" in second.describe()
    assert [r.id for r in project.runs()] == [first.run.id]
    (row,) = project.triggers()
    assert first.row == row  # the answer's row is the one stored (it is not read back)
    assert (row.idempotency_key, row.source, row.status, row.run_id, row.pipeline) == (
        "delivery-42", "manual", "done", first.run.id, "build")
    assert row.claimed_by == "" and row.claims == 1 and row.finished_at is not None
    assert row.request["trigger"] == {"source": "manual", "actor": "ann", "event": "test",
                                      "delivery_id": "d-1", "extra": {"pr": 7}}
    # the run records the trigger metadata and the row it came from
    run = project.runs()[0]
    assert (run.trigger_source, run.trigger_user) == ("manual", "ann")
    assert run.invocation["trigger"] == {"source": "manual", "user": "ann", "event": "test",
                                         "delivery_id": "d-1", "extra": {"pr": 7}, "id": row.id}


def test_requests_without_a_key_each_start_a_run(project: Project) -> None:
    project.add("build")
    a = dispatch(request(project))
    b = dispatch(request(project))
    assert a.created and b.created and a.row.id != b.row.id
    assert a.row.idempotency_key.startswith("manual:")
    assert a.row.idempotency_key != b.row.idempotency_key
    assert len(project.runs()) == 2


def test_inputs_of_the_request_reach_the_run(project: Project) -> None:
    project.add("greet", WITH_INPUT)
    result = dispatch(request(project, "greet", inputs={"who": "trigger"}))
    assert result.run is not None and result.run.args == {"who": "trigger"}
    # flags typed on a command line come after the request's inputs and win
    run = start_run(request(project, "greet", inputs={"who": "trigger"}),
                    StartOptions(pipeline_args=["--who=cli"]))
    assert run.args == {"who": "cli"} and run.status == "success"


def test_an_unknown_source_is_refused_before_anything_is_recorded(project: Project) -> None:
    project.add("build")
    with pytest.raises(PluginError) as info:
        dispatch(request(project, trigger=TriggerMeta(source="gitlab")))
    assert str(info.value).startswith('no plugin provides trigger type "gitlab"; installed: '
                                      "ci-embedded, git-hook, github, manual, retry, schedule")
    assert project.triggers() == [] and project.runs() == []


def test_a_request_that_cannot_start_is_recorded_failed(project: Project) -> None:
    project.add("greet", WITH_INPUT)
    with pytest.raises(UsageError) as info:
        dispatch(request(project, "greet", key="k-bad", inputs={"whom": "x"}))
    (row,) = project.triggers()
    assert row.status == "failed" and row.run_id == "" and row.error == str(info.value)
    assert "whom" in row.error
    assert project.runs() == []
    # the key is taken: replaying the bad request starts nothing either
    again = dispatch(request(project, "greet", key="k-bad", inputs={"whom": "x"}))
    assert again.duplicate and again.row.status == "failed"


def test_queued_requests_wait_for_a_runner(project: Project) -> None:
    project.add("build")
    queued = dispatch(request(project, key="q-1"), queue=True)
    assert queued.created and queued.run is None and queued.row.status == "pending"
    assert dispatch(request(project, key="q-1"), queue=True).duplicate
    assert project.runs() == []
    st = project.state()
    try:
        result = run_queued(st)
        assert result is not None and result.run is not None
        assert result.run.status == "success"
        assert result.row.status == "done" and result.row.run_id == result.run.id
        assert run_queued(st) is None
    finally:
        st.close()
    assert [r.id for r in project.runs()] == [result.run.id]


def test_the_retry_path_records_a_retry_request(project: Project) -> None:
    project.add("build")
    first = project.cli("run", "build", "-o", "json")
    assert first.returncode == 0, first.stderr
    (original,) = project.runs()
    retry = project.cli("runs", "retry", "--run", original.id, "--all", "-o", "json")
    assert retry.returncode == 0, retry.stderr
    newest = project.runs()[0]
    assert newest.retry_of == original.id and newest.trigger_source == "retry"
    rows = project.triggers()
    assert [(t.source, t.status, t.run_id) for t in rows] == [
        ("retry", "done", newest.id), ("manual", "done", original.id)]
    assert rows[0].request["trigger"]["extra"] == {"retry_of": original.id, "mode": "all"}


RACE = """
import json, os, sys, time
from pathlib import Path
from sparkwing.triggers.contracts import RunRequest, TriggerMeta
from sparkwing.triggers.dispatch import dispatch

go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
result = dispatch(RunRequest(pipeline="build", idempotency_key="race-key",
                             trigger=TriggerMeta(source="manual"), workdir=Path(sys.argv[1])))
print(json.dumps({"created": result.created, "row": result.row.id,
                  "run": result.run.id if result.run else ""}))
"""


def test_racing_processes_with_one_key_start_one_run(project: Project, tmp_path: Path) -> None:
    """Four processes dispatch one key at the same moment: one run, one row."""
    project.add("build")
    script = tmp_path / "race.py"
    script.write_text(textwrap.dedent(RACE))
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(script), str(project.root), str(go)],
                              env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    time.sleep(1.0)  # let every process import and wait (correctness does not depend on it)
    go.write_text("go")
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert sum(r["created"] for r in results) == 1
    assert len({r["row"] for r in results}) == 1
    (winner,) = [r for r in results if r["created"]]
    assert [r.id for r in project.runs()] == [winner["run"]]
    (row,) = project.triggers()
    assert row.status == "done" and row.run_id == winner["run"]


def test_an_unavailable_executor_is_refused(project: Project) -> None:
    project.add("build")
    with pytest.raises(PluginError, match='--sw-executor nomad: no plugin provides executor '
                                          'type "nomad"') as info:
        start_run(request(project), StartOptions(executor="nomad"))
    assert info.value.exit_code == 2
    assert project.runs() == []
    assert start_run(request(project), StartOptions(executor="local")).status == "success"
    assert start_run(request(project), StartOptions(executor="process")).status == "success"

"""``sparkwing triggers list|show|run``: sources, recorded requests, queued requests."""

from __future__ import annotations

import pytest
from sparkwing.errors import UsageError
from sparkwing.triggers.contracts import RunRequest, TriggerMeta
from sparkwing.triggers.dispatch import dispatch, run_queued

from .conftest import Project


def test_list_shows_the_sources_and_recent_requests(project: Project) -> None:
    project.add("build")
    project.add("nightly", on="schedule: [{cron: '0 3 * * *'}]")
    assert project.cli("run", "build").returncode == 0
    assert project.cli("triggers", "tick", "--now", "2026-01-05T03:00Z").returncode == 0
    proc = project.cli("triggers", "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Sources:"
    assert lines[1].split() == ["NAME", "PLUGIN", "WHAT"]
    names = [line.split()[0] for line in lines[2:8]]
    # sparkwing-github is a workspace member, so its source is installed too
    assert names == ["ci-embedded", "git-hook", "github", "manual", "retry", "schedule"]
    assert [line.split()[1] for line in lines[2:8]] == [
        "builtin_sources", "builtin_sources", "github", *["builtin_sources"] * 3]
    assert lines[8] == "" and lines[9] == "Recent requests:"
    assert lines[10].split() == ["TRIGGER", "SOURCE", "PIPELINE", "STATUS", "RUN", "CREATED"]
    rows = [line.split() for line in lines[11:]]
    runs = project.runs()
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("schedule", "nightly", "done", runs[0].id), ("manual", "build", "done", runs[1].id)]

    body = project.cli_json("triggers", "list")
    assert [s["name"] for s in body["sources"]] == ["ci-embedded", "git-hook", "github", "manual",
                                                    "retry", "schedule"]
    assert body["sources"][3] == {"name": "manual", "provider": "builtin_sources",
                                  "description": "sparkwing run on a command line"}
    listed = body["triggers"]
    assert [(t["source"], t["pipeline"], t["run_id"]) for t in listed] == [
        ("schedule", "nightly", runs[0].id), ("manual", "build", runs[1].id)]
    assert listed[1]["actor"] and listed[1]["request"]["pipeline"] == "build"
    assert listed[0]["event"] == "cron"

    only = project.cli_json("triggers", "list", "--source", "manual", "--limit", "5")
    assert [t["pipeline"] for t in only["triggers"]] == ["build"]
    assert project.cli_json("triggers", "list", "--status", "pending")["triggers"] == []
    assert len(project.cli_json("triggers", "list", "--limit", "1")["triggers"]) == 1
    bad = project.cli("triggers", "list", "--status", "lost")
    assert bad.returncode == 2 and "--status" in bad.stderr


def test_list_with_no_requests_yet(project: Project) -> None:
    project.add("build")
    proc = project.cli("triggers", "list")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "No trigger requests recorded yet."


def test_show_one_request_with_its_run(project: Project) -> None:
    project.add("build")
    result = dispatch(RunRequest(
        pipeline="build", idempotency_key="gh-delivery-9", workdir=project.root,
        trigger=TriggerMeta(source="manual", actor="ann", event="push", delivery_id="dlv-9",
                            extra={"pr": 12})))
    assert result.run is not None
    row = result.row
    proc = project.cli("triggers", "show", row.id)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{row.id}  build  done"
    assert "  source:    manual by ann (push)" in lines
    assert "  delivery:  dlv-9" in lines
    assert "  key:       gh-delivery-9" in lines
    assert f"  run:       {result.run.id}  success" in lines
    assert "  extra:     pr=12" in lines
    assert f"  workdir:   {project.root}" in lines

    body = project.cli_json("triggers", "show", row.id)
    assert body["trigger"]["id"] == row.id and body["trigger"]["status"] == "done"
    assert body["trigger"]["delivery_id"] == "dlv-9"
    assert body["trigger"]["request"]["idempotency_key"] == "gh-delivery-9"
    assert body["run"]["id"] == result.run.id and body["run"]["status"] == "success"

    missing = project.cli("triggers", "show", "trg-20260101-000000-00000000")
    assert missing.returncode == 1
    assert missing.stderr == ("error: trigger trg-20260101-000000-00000000 not found "
                              "(see: sparkwing triggers list)\n")


def test_show_a_request_that_failed_to_start(project: Project) -> None:
    project.add("build")
    st = project.state()
    try:
        queued = dispatch(RunRequest(pipeline="build", workdir=project.root), queue=True,
                          state=st)
        project.write_yaml("pipelines: []\n")  # gone before a runner picks it up
        with pytest.raises(UsageError) as info:
            run_queued(st)
    finally:
        st.close()
    error = str(info.value)
    body = project.cli_json("triggers", "show", queued.row.id)
    assert body["run"] is None and body["trigger"]["status"] == "failed"
    assert body["trigger"]["error"] == error and 'unknown pipeline "build"' in error
    text = project.cli("triggers", "show", queued.row.id).stdout
    assert f"  error:     {error}" in text.splitlines()


def test_run_starts_a_queued_request(project: Project) -> None:
    project.add("build")
    nothing = project.cli("triggers", "run")
    assert nothing.returncode == 1
    assert "no queued trigger (see: sparkwing triggers list --status pending)" in nothing.stderr
    queued = dispatch(RunRequest(pipeline="build", workdir=project.root, idempotency_key="q"),
                      queue=True)
    proc = project.cli("triggers", "run", "--id", queued.row.id)
    assert proc.returncode == 0, proc.stderr
    (run,) = project.runs()
    assert proc.stdout.strip() == f"trigger {queued.row.id} started run {run.id} (success)"
    (row,) = project.triggers()
    assert (row.status, row.run_id, row.claims) == ("done", run.id, 1)
    again = project.cli("triggers", "run", "--id", queued.row.id)
    assert again.returncode == 1 and f"trigger {queued.row.id} is not queued" in again.stderr

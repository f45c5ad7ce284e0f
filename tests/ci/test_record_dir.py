"""``sparkwing run --sw-record-dir DIR`` and ``sparkwing runs ... --from DIR``, through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import Machine, git, tree

GITLAB = {
    "GITLAB_CI": "true", "CI_PROJECT_PATH": "group/app", "CI_COMMIT_REF_NAME": "feature-y",
    "CI_MERGE_REQUEST_IID": "17", "CI_JOB_URL": "https://gitlab.example.com/group/app/-/jobs/55",
    "CI_PIPELINE_ID": "900", "CI_PIPELINE_SOURCE": "merge_request_event",
    "GITLAB_USER_LOGIN": "gl-user",
}


def test_a_recorded_run_reads_back_from_its_directory_without_changing_it(
        machine: Machine, tmp_path: Path) -> None:
    record = tmp_path / "upload" / "record"
    done = machine.sparkwing("run", "ci", "--sw-record-dir", str(record), "-o", "json",
                             extra_env={**GITLAB, "CI_COMMIT_SHA": machine.sha})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (record / "state").is_dir() and (record / "logs").is_dir()
    # Nothing went to the laptop stores of this home.
    home = Path(machine.env["SPARKWING_HOME"])
    assert not (home / "state.db").exists()
    assert not (home / "runs").exists()

    # Read from elsewhere: another directory, another (empty) home, as after a download.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = tree(record)
    other = Machine(machine.project, {**machine.env, "SPARKWING_HOME": str(tmp_path / "h2")},
                    machine.sha)
    runs = other.json_lines("runs", "list", "--from", str(record), cwd=elsewhere)
    assert len(runs) == 1, runs
    run = runs[0]
    assert (run["pipeline"], run["status"], run["trigger_source"], run["trigger_user"],
            run["git_branch"], run["git_sha"], run["profile"]) == (
        "ci", "success", "ci-embedded", "gl-user", "feature-y", machine.sha, "record-dir")

    status = other.sparkwing("runs", "status", "--from", str(record), "-o", "json", cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    payload = json.loads(status.stdout)
    trigger = payload["run"]["invocation"]["trigger"]
    assert (trigger["source"], trigger["event"]) == ("ci-embedded", "merge_request_event")
    assert trigger["extra"] == {
        "vendor": "gitlab-ci", "repository": "group/app", "sha": machine.sha,
        "branch": "feature-y", "pull_request": "17",
        "job_url": "https://gitlab.example.com/group/app/-/jobs/55", "build_id": "900",
    }
    assert {n["node_id"]: n["outcome"] for n in payload["nodes"]} == {
        "lint": "success", "test": "success", "build": "success", "smoke": "success"}

    pretty = other.sparkwing("runs", "status", "--from", str(record), cwd=elsewhere)
    assert pretty.returncode == 0, pretty.stderr
    assert ("  ci:       gitlab-ci group/app PR #17 build 900 "
            "https://gitlab.example.com/group/app/-/jobs/55\n") in pretty.stdout
    assert "profile: record-dir" in pretty.stdout

    logs = other.sparkwing("runs", "logs", "--from", str(record), "--run", run["id"],
                           "--node", "smoke", "-o", "plain", cwd=elsewhere)
    assert logs.returncode == 0, logs.stderr
    assert "job smoke succeeded" in logs.stdout

    errors = other.sparkwing("runs", "errors", "--from", str(record), "-o", "json", cwd=elsewhere)
    assert errors.returncode == 0 and json.loads(errors.stdout)["failed"] == []
    got = other.sparkwing("runs", "get", "--from", str(record), run["id"], cwd=elsewhere)
    assert got.returncode == 0 and json.loads(got.stdout)["run"]["id"] == run["id"]

    assert tree(record) == before, "reading with --from changed the record directory"
    # The reading home got no copy of the run either.
    assert not (tmp_path / "h2" / "state.db").exists()


def test_two_runs_share_one_record_directory_and_a_failure_is_recorded(
        machine: Machine, tmp_path: Path) -> None:
    record = tmp_path / "record"
    ok = machine.sparkwing("run", "ci", "--sw-record-dir", str(record), "-o", "json")
    assert ok.returncode == 0, ok.stderr[-2000:]
    broken = machine.sparkwing("run", "ci", "--sw-only", "nothing-*", "--sw-record-dir",
                               str(record), "-o", "json")
    assert broken.returncode == 2, broken.stderr  # refused before any run exists
    (machine.project / "src" / "textstats" / "broken.py").write_text("x = 1   \n")  # trailing spaces: style fails
    git(machine.project, "add", "-A")
    git(machine.project, "commit", "-q", "-m", "break it")
    failed = machine.sparkwing("run", "ci", "--sw-record-dir", str(record), "-o", "json")
    assert failed.returncode == 1, failed.stderr[-2000:]
    runs = machine.json_lines("runs", "list", "--from", str(record))
    assert [(r["status"], r["trigger_source"]) for r in runs] == [
        ("failed", "manual"), ("success", "manual")]
    errors = machine.sparkwing("runs", "errors", "--from", str(record), "-o", "json")
    assert errors.returncode == 0, errors.stderr
    assert [f["node_id"] for f in json.loads(errors.stdout)["failed"]] == ["lint"]


def test_record_dir_and_from_refuse_what_does_not_fit(machine: Machine, tmp_path: Path) -> None:
    record = tmp_path / "record"
    both = machine.sparkwing("run", "ci", "--sw-record-dir", str(record), "--profile", "laptop")
    assert both.returncode == 2
    assert both.stderr == (
        "error: --sw-record-dir cannot be combined with --profile laptop: the record directory "
        "holds the run's state, logs and cache\n")
    local = machine.sparkwing("run", "ci", "--sw-record-dir", str(record), "--sw-local-only")
    assert local.returncode == 2 and "--sw-local-only" in local.stderr
    empty = machine.sparkwing("run", "ci", "--sw-record-dir=")
    assert empty.returncode == 2 and empty.stderr == "error: --sw-record-dir needs a directory\n"
    assert not record.exists()

    missing = machine.sparkwing("runs", "list", "--from", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr == f"error: --from {tmp_path / 'nope'}: no such directory\n"
    parent = tmp_path / "parent"
    (parent / "record").mkdir(parents=True)
    wrong = machine.sparkwing("runs", "status", "--from", str(parent))
    assert wrong.returncode == 2
    assert wrong.stderr.startswith(f"error: --from {parent}: no runs recorded there (expected ")
    assert wrong.stderr.count("\n") == 1
    ok = machine.sparkwing("run", "ci", "--sw-record-dir", str(record), "-o", "json")
    assert ok.returncode == 0, ok.stderr[-2000:]
    follow = machine.sparkwing("runs", "status", "--from", str(record), "-f")
    assert follow.returncode == 2 and "--follow cannot be combined with --from" in follow.stderr
    with_profile = machine.sparkwing("runs", "list", "--from", str(record), "--profile", "laptop")
    assert with_profile.returncode == 2 and "cannot be combined with --profile" in with_profile.stderr


def test_record_dir_keeps_the_run_fast_path_free_of_heavy_imports(
        machine: Machine, tmp_path: Path) -> None:
    done = machine.sparkwing("run", "ci", "--sw-record-dir", str(tmp_path / "record"), "-o", "json",
                             python_flags=("-X", "importtime"),
                             extra_env={"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "a/b"})
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {m.group(1) for m in re.finditer(r"^import time:.*\|\s+(\S+)$", done.stderr, re.M)}
    assert "sparkwing.triggers.civendor" in imported
    assert "sparkwing.storage.blobs.dirstore" in imported
    heavy = {"click", "aiohttp", "sqlalchemy", "structlog", "croniter", "sparkwing_server"}
    assert not heavy & imported, sorted(heavy & imported)


def test_a_read_only_dir_store_refuses_writes_and_a_missing_directory(tmp_path: Path) -> None:
    import pytest
    from sparkwing.errors import ConfigError, StoreError
    from sparkwing.plugins.registry import BackendContext
    from sparkwing.storage.blobs.register import make_dir_blobs

    context = BackendContext(home=tmp_path, profile="p")
    writer = make_dir_blobs({"type": "dir", "path": str(tmp_path / "d")}, context)
    writer.check()
    writer.put("a/b.json", b"{}")
    reader = make_dir_blobs({"type": "dir", "path": str(tmp_path / "d"), "read_only": True},
                            context)
    reader.check()
    blob = reader.get("a/b.json")
    assert blob is not None and blob.data == b"{}"
    with pytest.raises(StoreError, match=re.escape("opened read-only: cannot change 'a/c.json'")):
        reader.put("a/c.json", b"x")
    with pytest.raises(StoreError, match="opened read-only"):
        reader.delete("a/b.json")
    assert reader.get("a/b.json") is not None and reader.head("a/c.json") is None
    missing = make_dir_blobs({"type": "dir", "path": str(tmp_path / "nope"), "read_only": True},
                             context)
    with pytest.raises(ConfigError, match="is not an existing directory"):
        missing.check()
    assert not (tmp_path / "nope").exists()
    with pytest.raises(ConfigError, match="read_only must be true or false"):
        make_dir_blobs({"type": "dir", "path": str(tmp_path), "read_only": "yes"}, context)

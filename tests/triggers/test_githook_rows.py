"""Git hooks go through dispatch: each hooked run leaves a ``git-hook`` trigger row."""

from __future__ import annotations

import subprocess

from .conftest import Project


def git(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=project.root, env=project.env, capture_output=True,
                          text=True, check=False)


def test_a_commit_records_git_hook_trigger_rows(project: Project) -> None:
    project.env.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
                       GIT_AUTHOR_NAME="Ann", GIT_AUTHOR_EMAIL="ann@example.invalid",
                       GIT_COMMITTER_NAME="Ann", GIT_COMMITTER_EMAIL="ann@example.invalid")
    assert git(project, "init", "-q", "-b", "main").returncode == 0
    project.add("lint", on="pre_commit: {}")
    project.add("notify", on="post_commit: {}")
    installed = project.cli("pipeline", "hooks", "install")
    assert installed.returncode == 0, installed.stderr
    (project.root / "a.txt").write_text("a\n")
    git(project, "add", "a.txt")
    commit = git(project, "commit", "-q", "-m", "first")
    assert commit.returncode == 0, commit.stderr
    runs = {r.pipeline: r for r in project.runs()}
    assert set(runs) == {"lint", "notify"}
    rows = {t.pipeline: t for t in project.triggers(source="git-hook")}
    assert set(rows) == {"lint", "notify"}
    for pipeline, event in (("lint", "pre_commit"), ("notify", "post_commit")):
        row, run = rows[pipeline], runs[pipeline]
        assert (row.status, row.run_id) == ("done", run.id)
        assert row.request["trigger"]["event"] == event
        assert run.trigger_source == "git-hook"
        assert run.invocation["trigger"]["event"] == event
        assert run.invocation["trigger"]["id"] == row.id
    # the hook's runs are listed with their event
    listed = project.cli_json("triggers", "list", "--source", "git-hook")["triggers"]
    assert sorted(t["event"] for t in listed) == ["post_commit", "pre_commit"]


def test_hooks_written_by_older_versions_still_record_git_hook(project: Project) -> None:
    """Old hook scripts export SPARKWING_TRIGGER_SOURCE=pre_push (the hook's name)."""
    project.add("check")
    project.env["SPARKWING_TRIGGER_SOURCE"] = "pre_push"
    done = project.cli("run", "check", "-o", "json")
    assert done.returncode == 0, done.stderr
    (row,) = project.triggers()
    assert row.source == "git-hook" and row.request["trigger"]["event"] == "pre_push"

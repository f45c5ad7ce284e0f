"""``sparkwing pipeline hooks`` with real git repositories, real commits and real runs."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

Repo = Any

GOOD = """
    import sparkwing as sw
    def plan(plan, inputs, run):
        plan.job("ok", sw.sh('echo "$SPARKWING_TRIGGER_SOURCE $SPARKWING_TRIGGER_EVENT" >> "$OUT/good.log"'))
"""
BAD = """
    import sparkwing as sw
    def plan(plan, inputs, run):
        plan.job("boom", sw.sh('echo "bad ran" >> "$OUT/bad.log"; exit 3'))
"""
HEAD = """
    import sparkwing as sw
    def plan(plan, inputs, run):
        plan.job("head", sw.sh('git rev-parse HEAD > "$OUT/head"'))
"""


def test_failing_pre_commit_pipeline_blocks_the_commit(repo: Repo) -> None:
    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on: {pre_commit: {}}
        - name: bad
          entrypoint: pipelines.bad:plan
          on: {pre_commit: {}}
    """, {"good": GOOD, "bad": BAD})
    before = repo.commits()
    r = repo.hooks("install")
    assert r.returncode == 0, r.stderr
    hook = repo.root / ".git" / "hooks" / "pre-commit"
    assert hook.stat().st_mode & stat.S_IXUSR
    assert "# Installed by sparkwing" in hook.read_text()
    proc = repo.commit_file("a.txt")
    assert proc.returncode != 0
    assert repo.commits() == before
    assert "pre-commit pipeline(s) failed: bad; commit blocked" in proc.stderr
    # both pipelines ran (the good one is not skipped because the bad one failed)
    out = Path(repo.env["OUT"])
    assert (out / "bad.log").read_text() == "bad ran\n"
    assert (out / "good.log").read_text() == "git-hook pre_commit\n"
    runs = {r.pipeline: r for r in repo.runs()}
    assert runs["bad"].status == "failed" and runs["bad"].trigger_source == "git-hook"
    assert runs["good"].status == "success" and runs["good"].trigger_source == "git-hook"
    assert runs["good"].invocation["trigger"]["event"] == "pre_commit"


def test_passing_pre_commit_pipeline_lets_the_commit_through(repo: Repo) -> None:
    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on:
            pre_commit:
    """, {"good": GOOD})
    assert repo.hooks("install").returncode == 0
    proc = repo.commit_file("a.txt")
    assert proc.returncode == 0, proc.stderr
    assert repo.commits() == 1
    runs = repo.runs()
    assert [(r.pipeline, r.status, r.trigger_source) for r in runs] == [
        ("good", "success", "git-hook")]
    # a second commit runs it again
    assert repo.commit_file("b.txt").returncode == 0
    assert repo.commits() == 2 and len(repo.runs()) == 2


def test_post_commit_runs_after_the_commit_and_never_blocks(repo: Repo) -> None:
    repo.write_pipelines("""
        - name: head
          entrypoint: pipelines.head:plan
          on: {post_commit: {}}
        - name: bad
          entrypoint: pipelines.bad:plan
          on: {post_commit: {}}
    """, {"head": HEAD, "bad": BAD})
    assert repo.hooks("install").returncode == 0
    proc = repo.commit_file("a.txt")
    assert proc.returncode == 0, proc.stderr
    assert repo.commits() == 1
    assert "post-commit pipeline(s) failed: bad (the commit stands)" in proc.stderr
    head = repo.git("rev-parse", "HEAD").stdout.strip()
    # the pipeline saw the new commit: it ran after it was made
    assert (Path(repo.env["OUT"]) / "head").read_text().strip() == head
    runs = {r.pipeline: r for r in repo.runs()}
    assert runs["head"].trigger_source == "git-hook" and runs["head"].status == "success"
    assert runs["head"].invocation["trigger"]["event"] == "post_commit"
    assert runs["head"].git_sha == head
    assert runs["bad"].status == "failed"


def test_pre_push_blocks_a_push_when_its_pipeline_fails(repo: Repo, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    repo.git("init", "-q", "--bare", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.write_pipelines("""
        - name: bad
          entrypoint: pipelines.bad:plan
          on: {pre_push: {}}
    """, {"bad": BAD})
    assert repo.commit_file("a.txt").returncode == 0
    assert repo.hooks("install").returncode == 0
    proc = repo.git("push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert "pre-push pipeline(s) failed: bad; push blocked" in proc.stderr
    assert repo.git("--git-dir", str(remote), "rev-parse", "--verify", "-q", "refs/heads/main",
                    check=False).returncode != 0
    assert repo.runs()[0].trigger_source == "git-hook"
    assert repo.runs()[0].invocation["trigger"]["event"] == "pre_push"
    # with a passing pipeline the push goes through
    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on: {pre_push: {}}
    """, {"good": GOOD})
    r = repo.hooks("install")
    assert r.returncode == 0 and "pre-push     updated     good" in r.stdout
    assert repo.git("push", "origin", "main", check=False).returncode == 0
    assert repo.git("--git-dir", str(remote), "rev-parse", "refs/heads/main").stdout.strip() == \
        repo.git("rev-parse", "HEAD").stdout.strip()


def test_unmanaged_hook_is_left_alone(repo: Repo) -> None:
    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on: {pre_commit: {}, post_commit: {}}
    """, {"good": GOOD})
    hooks = repo.root / ".git" / "hooks"
    mine = "#!/bin/sh\necho my own hook >> \"$OUT/mine.log\"\n"
    (hooks / "pre-commit").write_text(mine)
    os.chmod(hooks / "pre-commit", 0o755)
    r = repo.hooks("install")
    assert r.returncode == 1
    assert "pre-commit   skipped     .git/hooks/pre-commit exists and was not written by " \
        "sparkwing; left untouched" in r.stdout
    assert r.stderr.splitlines() == [
        "error: .git/hooks/pre-commit not installed: an existing hook file was not written by "
        "sparkwing (move it aside, then run sparkwing pipeline hooks install again)"]
    assert (hooks / "pre-commit").read_text() == mine
    # the other declared hook was still installed
    assert "# Installed by sparkwing" in (hooks / "post-commit").read_text()
    st = json.loads(repo.hooks("status", "-o", "json").stdout)
    states = {h["hook"]: (h["state"], h["installed"], h["declared"]) for h in st["hooks"]}
    assert states == {
        "pre-commit": ("unmanaged", [], ["good"]),
        "pre-push": ("absent", [], []),
        "post-commit": ("managed", ["good"], ["good"]),
    }
    r = repo.hooks("uninstall")
    assert r.returncode == 0, r.stderr
    assert "pre-commit   left alone  .git/hooks/pre-commit was not written by sparkwing" in r.stdout
    assert "post-commit  removed     .git/hooks/post-commit" in r.stdout
    assert (hooks / "pre-commit").read_text() == mine
    assert not (hooks / "post-commit").exists()
    # the user's hook still runs on commit, sparkwing's do not
    assert repo.commit_file("a.txt").returncode == 0
    assert (Path(repo.env["OUT"]) / "mine.log").read_text() == "my own hook\n"
    assert repo.runs() == []


def test_status_pretty_and_reinstall_cycle(repo: Repo) -> None:
    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on: {pre_commit: {}}
        - name: head
          entrypoint: pipelines.head:plan
    """, {"good": GOOD, "head": HEAD})
    r = repo.hooks("status")
    assert r.returncode == 0
    assert r.stdout.splitlines() == [
        "hooks dir: .git/hooks",
        "pre-commit   absent     declared: good; run sparkwing pipeline hooks install",
        "pre-push     absent     -",
        "post-commit  absent     -",
    ]
    assert repo.hooks("install").returncode == 0
    r = repo.hooks("install")
    assert "pre-commit   up to date  good -> .git/hooks/pre-commit" in r.stdout
    assert repo.hooks("status").stdout.splitlines()[1] == "pre-commit   managed    good"
    # the pipeline now declares post_commit instead: status says the hook is stale,
    # install moves it
    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on: {post_commit: {}}
    """, {"good": GOOD})
    lines = repo.hooks("status").stdout.splitlines()
    assert lines[1] == ("pre-commit   managed    good; no pipeline declares it now "
                        "(install removes it)")
    assert lines[3] == "post-commit  absent     declared: good; run sparkwing pipeline hooks install"
    r = repo.hooks("install", "-o", "json")
    assert r.returncode == 0
    actions = {h["hook"]: h["action"] for h in json.loads(r.stdout)["hooks"]}
    assert actions == {"pre-commit": "removed", "pre-push": "none", "post-commit": "installed"}
    hooks = repo.root / ".git" / "hooks"
    assert not (hooks / "pre-commit").exists() and (hooks / "post-commit").exists()


def test_core_hooks_path_is_respected(repo: Repo) -> None:
    repo.git("config", "core.hooksPath", "githooks")
    repo.write_pipelines("""
        - name: bad
          entrypoint: pipelines.bad:plan
          on: {pre_commit: {}}
    """, {"bad": BAD})
    r = repo.hooks("install")
    assert r.returncode == 0, r.stderr
    assert (repo.root / "githooks" / "pre-commit").is_file()
    assert not (repo.root / ".git" / "hooks" / "pre-commit").exists()
    assert json.loads(repo.hooks("status", "-o", "json").stdout)["hooks_dir"] == \
        str(repo.root / "githooks")
    (repo.root / "a.txt").write_text("a")
    repo.git("add", "a.txt")
    assert repo.git("commit", "-m", "x", check=False).returncode != 0
    assert repo.commits() == 0


def test_project_in_a_subdirectory_of_the_repository(new_repo: Any) -> None:
    repo = new_repo("services/api")
    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on: {pre_commit: {}}
    """, {"good": GOOD})
    r = repo.hooks("install")
    assert r.returncode == 0, r.stderr
    text = (repo.root / ".git" / "hooks" / "pre-commit").read_text()
    assert '"$SPARKWING" run "$pipeline" -C services/api' in text
    assert repo.commit_file("top.txt").returncode == 0
    assert [(r.pipeline, r.trigger_source) for r in repo.runs()] == [("good", "git-hook")]
    # status/uninstall work from anywhere in the repository
    assert repo.hooks("uninstall", cwd=repo.root).returncode == 0
    assert not (repo.root / ".git" / "hooks" / "pre-commit").exists()


def test_falls_back_to_sparkwing_on_path(repo: Repo) -> None:
    from sparkwing.config import load_project
    from sparkwing.githooks import HookManager

    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on: {pre_commit: {}}
    """, {"good": GOOD})
    manager = HookManager.at(repo.project, load_project(repo.project),
                             sparkwing="/nonexistent/sparkwing")
    assert [c.action for c in manager.install()] == ["installed", "none", "none"]
    bindir = str(Path(sys.executable).parent)
    env = {**repo.env, "PATH": bindir + os.pathsep + repo.env.get("PATH", "")}
    (repo.root / "a.txt").write_text("a")
    repo.git("add", "a.txt")
    repo.env = env
    proc = repo.git("commit", "-m", "x", check=False)
    assert proc.returncode == 0, proc.stderr
    assert [r.trigger_source for r in repo.runs()] == ["git-hook"]


def test_missing_sparkwing_blocks_pre_commit_with_a_message(repo: Repo) -> None:
    from sparkwing.config import load_project
    from sparkwing.githooks import HookManager

    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on: {pre_commit: {}}
    """, {"good": GOOD})
    HookManager.at(repo.project, load_project(repo.project),
                   sparkwing="/nonexistent/sparkwing").install()
    repo.env = {**repo.env, "PATH": "/usr/bin:/bin"}
    (repo.root / "a.txt").write_text("a")
    repo.git("add", "a.txt")
    proc = repo.git("commit", "-m", "x", check=False)
    assert proc.returncode != 0 and repo.commits() == 0
    assert "sparkwing: command not found; cannot run the pre-commit pipelines (good)" in proc.stderr


def test_errors_are_one_line(repo: Repo, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / ".sparkwing").mkdir()
    (plain / ".sparkwing" / "sparkwing.yaml").write_text("pipelines: []\n")
    r = repo.hooks("status", cwd=plain)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [f"error: {plain}: not inside a git work tree "
                                     "(git hooks need one)"]
    empty = tmp_path / "empty"
    empty.mkdir()
    r = repo.hooks("install", cwd=empty)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert r.stderr.startswith("error: no .sparkwing/sparkwing.yaml found")


def test_install_with_no_git_hook_pipelines_installs_nothing(repo: Repo) -> None:
    repo.write_pipelines("""
        - name: good
          entrypoint: pipelines.good:plan
          on: {push: {branches: [main]}}
    """, {"good": GOOD})
    r = repo.hooks("install")
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1] == ("no pipeline declares on: pre_commit, pre_push or "
                                         "post_commit; nothing to install")
    assert not any(p.name in ("pre-commit", "pre-push", "post-commit")
                   for p in (repo.root / ".git" / "hooks").iterdir())

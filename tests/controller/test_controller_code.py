"""Code shipped to the controller as git bundles: negotiate, upload, chain, fetch, rebuild.

Real git repositories on both sides, a real controller subprocess, its
SQLite/file stores; the runner side rebuilds the commit from the bundles
the controller hands out and its tree must equal the sender's files.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sparkwing.gitbundle import RepoCache, Sender, parse_header

OCTET = {"Content-Type": "application/octet-stream"}


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.invalid",
           "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@example.invalid"}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A repository with two commits and an ignored file."""
    root = tmp_path / "src"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / ".gitignore").write_text("*.log\n")
    (root / "a.txt").write_text("one\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "first")
    (root / "b.txt").write_text("two\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "second")
    (root / "debug.log").write_text("ignored\n")
    return root


def _send(controller: Any, token: str, sender: Sender, sha: str) -> dict[str, Any]:
    """Negotiate and upload what the controller lacks, as `pipeline trigger` does."""
    offered = sender.candidates(sha)
    known = controller.post("/api/v1/code/negotiate", {"commits": offered}, token).json()["known"]
    if sha in known:
        return {"sent": False, "known": known}
    data = sender.bundle(sha, known)
    answer = controller.request("PUT", "/api/v1/code/bundles", token, raw=data, headers=OCTET)
    assert answer.status == 201, answer.body
    return {"sent": True, "known": known, "header": parse_header(data), **answer.json()}


def _rebuild(controller: Any, token: str, sha: str, cache: Path, dest: Path) -> Path:
    chain = controller.get(f"/api/v1/code/commits/{sha}", token).json()["bundles"]
    repo = RepoCache(cache).ensure()
    for digest in chain:
        got = controller.get(f"/api/v1/code/bundles/{digest}", token)
        assert got.status == 200 and got.headers["Content-Type"] == "application/octet-stream"
        repo.apply(got.body)
    return repo.export(sha, dest)


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def test_a_checkout_reaches_a_runner_through_incremental_bundles(
        controller: Any, checkout: Path, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner = controller.token("runner", "box", "runner")
    controller.start("--require-auth")
    sender = Sender(checkout)

    clean = sender.snapshot()
    assert not clean.dirty and clean.sha == clean.head and clean.branch == "main"
    first = _send(controller, admin, sender, clean.sha)
    assert first["sent"] and first["header"].prerequisites == ()  # nothing known yet: all
    assert first["tips"] == [clean.sha]
    # the same commit again: nothing to send
    again = _send(controller, admin, sender, clean.sha)
    assert again == {"sent": False, "known": [clean.sha]}

    # uncommitted changes: a tracked edit, a new untracked file; the ignored file stays out
    (checkout / "a.txt").write_text("one, edited\n")
    (checkout / "sub").mkdir()
    (checkout / "sub" / "new.txt").write_text("new\n")
    dirty = sender.snapshot()
    assert dirty.dirty and dirty.head == clean.sha and dirty.sha != clean.sha
    assert sender.snapshot().sha == dirty.sha  # deterministic: same tree, same commit
    second = _send(controller, admin, sender, dirty.sha)
    assert second["header"].prerequisites == (clean.sha,)  # only the new commit travels
    assert second["size"] < first["size"] + 400
    assert _send(controller, admin, sender, dirty.sha)["sent"] is False

    rebuilt = _rebuild(controller, runner, dirty.sha, tmp_path / "cache.git", tmp_path / "out")
    assert _files(rebuilt) == {".gitignore": "*.log\n", "a.txt": "one, edited\n",
                               "b.txt": "two\n", "sub/new.txt": "new\n"}
    # the worktree of the sender is untouched: still dirty, HEAD unchanged, no ref left behind
    assert _git(checkout, "rev-parse", "HEAD") == clean.sha
    assert "sub/" in _git(checkout, "status", "--porcelain")
    assert _git(checkout, "for-each-ref", "refs/sparkwing/") == ""
    # a second runner cache with the first commit applied already needs the same chain
    chain = controller.get(f"/api/v1/code/commits/{dirty.sha}", runner).json()["bundles"]
    assert len(chain) == 2 and chain[0] != chain[1]


def test_bad_uploads_are_refused_in_the_one_error_shape(
        controller: Any, checkout: Path, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    controller.start("--require-auth")
    sender = Sender(checkout)
    head = sender.snapshot().sha
    parent = _git(checkout, "rev-parse", "HEAD~1")
    # a bundle whose prerequisite the controller never saw
    thin = sender.bundle(head, [parent])
    refused = controller.request("PUT", "/api/v1/code/bundles", admin, raw=thin, headers=OCTET)
    body = refused.assert_error(409, "missing_prerequisites")
    assert parent in body["message"]
    # not a bundle; the wrong type; JSON with an unknown field; bad and unknown commit ids
    junk = controller.request("PUT", "/api/v1/code/bundles", admin, raw=b"hello", headers=OCTET)
    junk.assert_error(400, "bad_bundle")
    typed = controller.request("PUT", "/api/v1/code/bundles", admin, raw=thin,
                               headers={"Content-Type": "text/plain"})
    typed.assert_error(415, "unsupported_media_type")
    extra = controller.post("/api/v1/code/negotiate", {"commits": [], "have": []}, admin)
    assert extra.assert_error(400, "unknown_field")["field"] == "have"
    controller.get("/api/v1/code/commits/not-a-sha", admin).assert_error(400, "bad_request")
    controller.get(f"/api/v1/code/commits/{head}", admin).assert_error(404, "not_found")
    controller.get(f"/api/v1/code/bundles/{'0' * 64}", admin).assert_error(404, "not_found")
    # nothing was stored by the refusals
    known = controller.post("/api/v1/code/negotiate", {"commits": [head, parent]}, admin)
    assert known.json() == {"known": []}


def test_outside_a_checkout_the_sender_says_so(tmp_path: Path) -> None:
    from sparkwing.errors import UsageError

    with pytest.raises(UsageError, match="not inside a git checkout"):
        Sender(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    _git(empty, "init", "-q")
    with pytest.raises(UsageError, match="no commit yet"):
        Sender(empty).snapshot()

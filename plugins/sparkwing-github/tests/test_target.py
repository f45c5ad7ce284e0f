"""Whether the observer has work for a run: decided once per run, forgotten when it finishes."""

from __future__ import annotations

import pytest
from sparkwing.storage import records
from sparkwing_github import plugin
from sparkwing_github.target import forget, has_work


def _run(run_id: str, sha: str = "", repo: str = "") -> records.Run:
    trigger = {"source": "github", "extra": {"repository": repo}} if repo else {}
    return records.Run(run_id, "ci", git_sha=sha, invocation={"trigger": trigger})


def test_a_run_with_repository_and_sha_has_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert has_work(_run("r-both", "abc", "octo/repo"))
    assert not has_work(_run("r-sha-only", "abc"))
    assert not has_work(_run("r-repo-only", "", "octo/repo"))
    for run_id in ("r-both", "r-sha-only", "r-repo-only"):
        forget(_run(run_id))


def test_the_decision_is_kept_for_the_run_until_it_finishes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    run = _run("r-kept")
    assert not has_work(run)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert not has_work(run)  # decided when the run started: every job gets the same answer
    assert has_work(_run("r-other"))  # another run decides for itself
    monkeypatch.delenv("GITHUB_ACTIONS")
    plugin.sparkwing_run_finished(run)  # nothing to post, and the decision is dropped
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert has_work(run)
    forget(run)
    forget(_run("r-other"))

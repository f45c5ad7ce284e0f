"""``on:`` evaluation tables: push branches/tags/paths, pull_request actions and base branches."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sparkwing_github.matching import glob_match, included, match_event

from .conftest import payload


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("main", "main", True),
    ("main", "main2", False),
    ("releases/*", "releases/v1", True),
    ("releases/*", "releases/v1/hotfix", False),
    ("releases/**", "releases/v1/hotfix", True),
    ("feature-?", "feature-a", True),
    ("feature-?", "feature-ab", False),
    ("*.md", "docs/readme.md", False),
    ("**.md", "docs/readme.md", True),
    ("docs/**", "docs/a/b/c.txt", True),
    ("v1.*", "v1x2", False),  # "." is literal
])
def test_glob(pattern: str, name: str, expected: bool) -> None:
    assert glob_match(pattern, name) is expected


@pytest.mark.parametrize(("patterns", "name", "expected"), [
    ([], "anything", True),
    (["releases/**", "!releases/**-alpha"], "releases/v2", True),
    (["releases/**", "!releases/**-alpha"], "releases/v2-alpha", False),
    (["!releases/**-alpha", "releases/**"], "releases/v2-alpha", True),  # last match wins
    (["!wip/*"], "main", True),  # negations only: start from everything
    (["!wip/*"], "wip/x", False),
    (["main", "dev"], "feature", False),
])
def test_pattern_lists(patterns: list[str], name: str, expected: bool) -> None:
    assert included(patterns, name) is expected


def push(ref: str, files: list[str] | None = None, deleted: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload("push.with-new-branch"))
    data.update(ref=ref, deleted=deleted)
    if files is not None:
        data["commits"] = [{"added": files[:1], "modified": files[1:], "removed": []}]
    return data


PUSH_CASES = [
    # (on block, ref, changed files, expected, reason fragment)
    ({"push": {}}, "refs/heads/main", None, True, ""),
    ({"push": None}, "refs/tags/v1", None, True, ""),
    ({"push": {"branches": ["main"]}}, "refs/heads/main", None, True, ""),
    ({"push": {"branches": ["main"]}}, "refs/heads/dev", None, False, "branch dev"),
    ({"push": {"branches": ["main"]}}, "refs/tags/v1", None, False, "branches only"),
    ({"push": {"tags": ["v*"]}}, "refs/tags/v1.2", None, True, ""),
    ({"push": {"tags": ["v*"]}}, "refs/tags/nightly", None, False, "tag nightly"),
    ({"push": {"tags": ["v*"]}}, "refs/heads/main", None, False, "tags only"),
    ({"push": {"branches": ["**", "!wip/**"]}}, "refs/heads/wip/x", None, False, "branch wip/x"),
    ({"push": {"paths": ["src/**"]}}, "refs/heads/main", ["src/a.py"], True, ""),
    ({"push": {"paths": ["src/**"]}}, "refs/heads/main", ["README.md"], False, "on.push.paths"),
    ({"push": {"paths": ["src/**", "!src/**.md"]}}, "refs/heads/main", ["src/x.md"], False,
     "on.push.paths"),
    ({"push": {"paths": ["src/**", "!src/**.md"]}}, "refs/heads/main", ["src/x.md", "src/y.py"],
     True, ""),
    ({"pull_request": {}}, "refs/heads/main", None, False, "does not name push"),
    ({}, "refs/heads/main", None, False, "does not name push"),
]


@pytest.mark.parametrize(("on", "ref", "files", "expected", "reason"), PUSH_CASES)
def test_push_table(on: dict[str, Any], ref: str, files: list[str] | None, expected: bool,
                    reason: str) -> None:
    decision = match_event(on, "push", push(ref, files))
    assert decision.matched is expected
    assert reason in decision.reason


def test_a_deleted_ref_never_runs() -> None:
    decision = match_event({"push": {}}, "push", json.loads(payload("push")))
    assert not decision.matched and "deleted" in decision.reason


@pytest.mark.parametrize(("on", "fixture", "expected", "reason"), [
    ({"pull_request": {}}, "pull_request.opened", True, ""),
    ({"pull_request": {}}, "pull_request.synchronize", True, ""),
    ({"pull_request": {}}, "pull_request.closed", False, "action closed"),
    ({"pull_request": {"actions": ["closed"]}}, "pull_request.closed", True, ""),
    ({"pull_request": {"actions": ["closed"]}}, "pull_request.opened", False, "action opened"),
    ({"pull_request": {"branches": ["master"]}}, "pull_request.opened", True, ""),
    ({"pull_request": {"branches": ["main"]}}, "pull_request.opened", False,
     "base branch master"),
    ({"pull_request": {"branches": ["!master"]}}, "pull_request.opened", False,
     "base branch master"),
    ({"push": {}}, "pull_request.opened", False, "does not name pull_request"),
])
def test_pull_request_table(on: dict[str, Any], fixture: str, expected: bool,
                            reason: str) -> None:
    decision = match_event(on, "pull_request", json.loads(payload(fixture)))
    assert decision.matched is expected
    assert reason in decision.reason

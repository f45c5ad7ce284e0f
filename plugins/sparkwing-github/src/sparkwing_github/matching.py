"""Evaluating a pipeline's ``on:`` block against a GitHub event.

Patterns follow GitHub's filter syntax: ``*`` matches any characters but
``/``, ``**`` matches any characters, ``?`` one character, and a leading
``!`` negates. Patterns are applied in order and the last one that matches
a name decides (so ``["releases/**", "!releases/**-alpha"]`` takes every
release branch but the alphas); a list of negations only starts from
"everything".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: The pull request actions that start a pipeline whose ``on.pull_request`` names none.
DEFAULT_PR_ACTIONS = ("opened", "synchronize", "reopened")


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_match(pattern: str, name: str) -> bool:
    """Whether *name* matches one GitHub filter *pattern* (without its ``!``)."""
    return _compile(pattern).match(name) is not None


def included(patterns: Sequence[str], name: str) -> bool:
    """Whether *name* passes the pattern list (last matching pattern wins; ``!`` negates)."""
    if not patterns:
        return True
    keep = all(p.startswith("!") for p in patterns)
    for pattern in patterns:
        negated = pattern.startswith("!")
        if glob_match(pattern[1:] if negated else pattern, name):
            keep = not negated
    return keep


def any_included(patterns: Sequence[str], names: Iterable[str]) -> bool:
    """Whether at least one of *names* passes the pattern list."""
    return any(included(patterns, n) for n in names)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether an event starts a pipeline, and why not when it does not."""

    matched: bool
    reason: str = ""


def _changed_files(payload: Mapping[str, Any]) -> list[str] | None:
    """Files a push touched (``None`` when GitHub sent no file lists)."""
    commits = payload.get("commits")
    if not isinstance(commits, list) or not commits:
        return None
    files: list[str] = []
    for commit in commits:
        for key in ("added", "removed", "modified"):
            files.extend(str(f) for f in commit.get(key) or ())
    return files


def match_push(block: Mapping[str, Any], payload: Mapping[str, Any]) -> Decision:
    """Evaluate ``on.push`` (``branches``, ``tags``, ``paths``) against a push payload."""
    ref = str(payload.get("ref") or "")
    if payload.get("deleted"):
        return Decision(False, f"{ref} was deleted")
    branches = list(block.get("branches") or ())
    tags = list(block.get("tags") or ())
    if ref.startswith("refs/heads/"):
        if tags and not branches:
            return Decision(False, "on.push lists tags only")
        name = ref.removeprefix("refs/heads/")
        if not included(branches, name):
            return Decision(False, f"branch {name} is not in on.push.branches")
    elif ref.startswith("refs/tags/"):
        if branches and not tags:
            return Decision(False, "on.push lists branches only")
        name = ref.removeprefix("refs/tags/")
        if not included(tags, name):
            return Decision(False, f"tag {name} is not in on.push.tags")
    else:
        return Decision(False, f"ref {ref or '(none)'} is neither a branch nor a tag")
    paths = list(block.get("paths") or ())
    if paths:
        files = _changed_files(payload)
        if files is not None and not any_included(paths, files):
            return Decision(False, "no changed file is in on.push.paths")
    return Decision(True)


def match_pull_request(block: Mapping[str, Any], payload: Mapping[str, Any]) -> Decision:
    """Evaluate ``on.pull_request`` (``actions``, base ``branches``) against a PR payload."""
    action = str(payload.get("action") or "")
    actions = list(block.get("actions") or DEFAULT_PR_ACTIONS)
    if action not in actions:
        return Decision(False, f"action {action or '(none)'} is not in on.pull_request.actions "
                               f"({', '.join(actions)})")
    base = str(((payload.get("pull_request") or {}).get("base") or {}).get("ref") or "")
    if not included(list(block.get("branches") or ()), base):
        return Decision(False, f"base branch {base} is not in on.pull_request.branches")
    return Decision(True)


def match_event(on: Mapping[str, Any] | None, event: str,
                payload: Mapping[str, Any]) -> Decision:
    """Whether *event* with *payload* starts a pipeline whose ``on:`` block is *on*.

    A pipeline runs for a GitHub event only when its ``on:`` names it
    (``push``, ``pull_request`` or ``workflow_dispatch``).
    """
    on = on or {}
    if event not in on:
        return Decision(False, f"on: does not name {event}")
    block = on.get(event) or {}
    if event == "push":
        return match_push(block, payload)
    if event == "pull_request":
        return match_pull_request(block, payload)
    if event == "workflow_dispatch":
        return Decision(True)
    return Decision(False, f"event {event} is not handled")

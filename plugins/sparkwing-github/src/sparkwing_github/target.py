"""Whether a run is one this plugin reports on, decided without loading the reporting code.

The observer hooks run for every ``sparkwing run``; a run with no GitHub
repository and sha, outside GitHub Actions, gives them nothing to do, and
they return before :mod:`sparkwing_github.observer` (settings, annotations,
HTTP clients) is imported.
"""

from __future__ import annotations

import os
from typing import Any


def repository_of(run: Any) -> str:
    """``owner/name`` of the run's repository, or ``""`` when unknown."""
    trigger = (getattr(run, "invocation", None) or {}).get("trigger") or {}
    extra = trigger.get("extra") or {}
    # A run recorded inside another CI vendor's job names that vendor's repository.
    foreign = trigger.get("source") == "ci-embedded" and extra.get("vendor") != "github-actions"
    repo = "" if foreign else str(extra.get("repository") or "")
    if not repo and os.environ.get("GITHUB_ACTIONS") == "true":
        repo = os.environ.get("GITHUB_REPOSITORY", "")
    return repo


def target_of(run: Any) -> tuple[str, str]:
    """The ``(repository, sha)`` a status of *run* is posted to (either may be ``""``)."""
    return repository_of(run), str(getattr(run, "git_sha", "") or "")


def has_work(run: Any) -> bool:
    """True when the observer may act on *run*: it has a repository and sha, or runs in Actions.

    Decided once per run (the node hook asks for every job), until :func:`forget` of it.
    """
    key = getattr(run, "id", None)
    known = _decided.get(key) if isinstance(key, str) else None
    if known is None:
        known = os.environ.get("GITHUB_ACTIONS") == "true" or all(target_of(run))
        if isinstance(key, str):
            _decided[key] = known
    return known


def forget(run: Any) -> None:
    """Drop the decision :func:`has_work` kept for *run* (it finished)."""
    key = getattr(run, "id", None)
    if isinstance(key, str):
        _decided.pop(key, None)


#: :func:`has_work`'s decision by run id, for the runs of this process still going.
_decided: dict[str, bool] = {}

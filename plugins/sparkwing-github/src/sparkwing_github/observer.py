"""The run observer: commit statuses on GitHub for runs started by a GitHub delivery.

A run is reported when its repository and commit are known: the
``repository`` its GitHub trigger recorded (or ``GITHUB_REPOSITORY`` inside
GitHub Actions) and the run's git sha. The status context is
``sparkwing/<pipeline>``; it goes ``pending`` when the run starts and
``success``, ``failure`` (naming the failed jobs) or ``error`` (cancelled)
when it ends, linking to the run in the dashboard when
``SPARKWING_GITHUB_DASHBOARD_URL`` is set. Without a token nothing is posted.
"""

from __future__ import annotations

import os
from typing import Any

from .actions import Failure
from .actions import report as actions_report
from .statuses import DASHBOARD_URL_ENV, StatusClient, api_token, api_url

#: Failed jobs seen per run id (filled by node hooks, read when the run ends).
_FAILED: dict[str, list[Failure]] = {}


def repository_of(run: Any) -> str:
    """``owner/name`` of the run's repository, or ``""`` when unknown."""
    trigger = (getattr(run, "invocation", None) or {}).get("trigger") or {}
    repo = str((trigger.get("extra") or {}).get("repository") or "")
    if not repo and os.environ.get("GITHUB_ACTIONS") == "true":
        repo = os.environ.get("GITHUB_REPOSITORY", "")
    return repo


def run_link(run: Any) -> str:
    """The run's page in the dashboard, or ``""`` when no dashboard URL is configured."""
    base = os.environ.get(DASHBOARD_URL_ENV, "").rstrip("/")
    return f"{base}/#/runs/{run.id}" if base else ""


def failures_of(run: Any, seen: list[Failure]) -> list[Failure]:
    """The run's failed jobs: from the node hooks, else from the run's ``jobs failed:`` error."""
    if seen:
        return seen
    error = str(getattr(run, "error", "") or "")
    if run.status != "failed" or not error.startswith("jobs failed: "):
        return []
    names = [n.strip() for n in error.removeprefix("jobs failed: ").split(",") if n.strip()]
    return [Failure(n, f"job {n} failed (sparkwing runs logs --run {run.id} --node {n})")
            for n in names]


def final_state(run: Any, failed: list[str]) -> tuple[str, str]:
    """The status state and description for a finished *run*."""
    if run.status == "success":
        return "success", "sparkwing run succeeded"
    if run.status == "cancelled":
        reason = str(getattr(run, "error", "") or "")
        return "error", "sparkwing run was cancelled" + (f": {reason}" if reason else "")
    if failed:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        return "failure", f"failed: {shown}"
    return "failure", f"sparkwing run {run.status}"


def _post(run: Any, state: str, description: str) -> None:
    token = api_token()
    repo = repository_of(run)
    sha = str(getattr(run, "git_sha", "") or "")
    if not (token and repo and sha):
        return
    client = StatusClient(token, api_url())
    client.post_status(repo, sha, state=state, context=f"sparkwing/{run.pipeline}",
                       description=description, target_url=run_link(run))
    if client.problems:
        from sparkwing.proglog import get_logger

        for line in client.problems:
            get_logger("sparkwing.github").warning(line)


def run_started(run: Any) -> None:
    """Post ``pending``."""
    _FAILED[run.id] = []
    _post(run, "pending", "sparkwing run started")


def node_finished(run: Any, node: Any) -> None:
    """Remember a failed job for the final description (else read from the run's error)."""
    if getattr(node, "outcome", "") == "failed":
        message = (str(getattr(node, "error", "") or "").strip().splitlines() or
                   [f"job {node.node_id} failed"])[0]
        _FAILED.setdefault(run.id, []).append(Failure(str(node.node_id), message))


def run_finished(run: Any) -> None:
    """Post the final state; inside GitHub Actions, annotate failures and write the summary."""
    failures = failures_of(run, _FAILED.pop(run.id, []))
    state, description = final_state(run, [f.job for f in failures])
    _post(run, state, description)
    try:
        actions_report(run, failures, run_link(run))
    except OSError as exc:  # an unwritable summary file must not fail the run
        from sparkwing.proglog import get_logger

        get_logger("sparkwing.github").warning(f"writing the step summary failed: {exc}")

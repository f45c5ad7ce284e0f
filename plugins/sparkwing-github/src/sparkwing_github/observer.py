"""The run observer: runs reported on GitHub, as commit statuses or as check runs.

A run is reported when its repository and commit are known: the
``repository`` its GitHub trigger recorded (or ``GITHUB_REPOSITORY`` inside
GitHub Actions) and the run's git sha. How depends on the credentials:

- a token (``SPARKWING_GITHUB_TOKEN``, ...): a commit status, context
  ``sparkwing/<pipeline>``, ``pending`` when the run starts and ``success``,
  ``failure`` (naming the failed jobs) or ``error`` (cancelled) at the end;
- else a GitHub App (``SPARKWING_GITHUB_APP_ID`` and its key): a check run,
  ``in_progress`` then ``success``, ``failure`` or ``cancelled``;
- neither: nothing is posted.

The token wins when both are configured. Both link to the run in the
dashboard when ``SPARKWING_GITHUB_DASHBOARD_URL`` is set. Whatever GitHub
answers (or not), the run's outcome does not change: problems are logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import settings
from .actions import Failure
from .actions import report as actions_report
from .target import repository_of as repository_of  # also importable from here
from .target import target_of

if TYPE_CHECKING:  # the HTTP clients load only when a run has something to report
    from .checkruns import CheckRunClient
    from .statuses import StatusClient

#: Failed jobs seen per run id (filled by node hooks, read when the run ends).
_FAILED: dict[str, list[Failure]] = {}
#: The check run created for each run id (App mode), completed when the run ends.
_CHECK_RUNS: dict[str, int | None] = {}


def run_link(run: Any) -> str:
    """The run's page in the dashboard, or ``""`` when no dashboard URL is configured."""
    base = settings.dashboard_url()
    return f"{base}/#/runs/{run.id}" if base else ""


def failures_of(run: Any, seen: list[Failure]) -> list[Failure]:
    """The run's failed jobs: from the node hooks, else from the run's ``jobs failed:`` error.

    Jobs the error names as cancelled (after an upstream failure) are not failures.
    """
    if seen:
        return seen
    from sparkwing.runerror import parse_job_failures

    jobs = parse_job_failures(str(getattr(run, "error", "") or ""))
    if run.status != "failed" or jobs is None:
        return []
    return [Failure(n, f"job {n} failed (sparkwing runs logs --run {run.id} --node {n})")
            for n in jobs.failed]


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


def _log(problems: list[str]) -> None:
    if problems:
        from sparkwing.proglog import get_logger

        for line in problems:
            get_logger("sparkwing.github").warning(line)


def reporter() -> StatusClient | CheckRunClient | None:
    """What reports runs with the current settings: the token's, else the App's, else none."""
    from .api import ApiClient
    from .app_auth import AppAuth, default_cache
    from .checkruns import CheckRunClient
    from .statuses import StatusClient

    client = ApiClient(settings.api_url())
    token = settings.api_token()
    if token:
        return StatusClient(token, client)
    if not settings.app_configured():
        return None
    app = settings.app_settings()
    problem = app.problem()
    if problem:
        _log([f"github app not usable, nothing is posted: {problem}"])
        return None
    return CheckRunClient(AppAuth(app, client, default_cache()))


def run_started(run: Any) -> None:
    """Post ``pending`` (a token) or create an ``in_progress`` check run (an App)."""
    _FAILED[run.id] = []
    repo, sha = target_of(run)
    if not (repo and sha):
        return
    poster = reporter()
    if poster is None:
        return
    from .statuses import StatusClient

    if isinstance(poster, StatusClient):
        poster.post_status(repo, sha, state="pending", context=f"sparkwing/{run.pipeline}",
                           description="sparkwing run started", target_url=run_link(run))
    else:
        _CHECK_RUNS[run.id] = poster.start(repo, run, run_link(run))
    _log(poster.problems)


def node_finished(run: Any, node: Any) -> None:
    """Remember a failed job for the final description (else read from the run's error)."""
    if getattr(node, "outcome", "") == "failed":
        message = (str(getattr(node, "error", "") or "").strip().splitlines() or
                   [f"job {node.node_id} failed"])[0]
        _FAILED.setdefault(run.id, []).append(Failure(str(node.node_id), message))


def run_finished(run: Any) -> None:
    """Report the final state; inside GitHub Actions, annotate failures and write the summary."""
    failures = failures_of(run, _FAILED.pop(run.id, []))
    state, description = final_state(run, [f.job for f in failures])
    check_run_id = _CHECK_RUNS.pop(run.id, None)
    repo, sha = target_of(run)
    poster = reporter() if repo and sha else None
    if poster is not None:
        from .statuses import StatusClient

        if isinstance(poster, StatusClient):
            poster.post_status(repo, sha, state=state, context=f"sparkwing/{run.pipeline}",
                               description=description, target_url=run_link(run))
        else:
            poster.finish(repo, run, failures, run_link(run), description, check_run_id)
        _log(poster.problems)
    try:
        actions_report(run, failures, run_link(run))
    except OSError as exc:  # an unwritable summary file must not fail the run
        from sparkwing.proglog import get_logger

        get_logger("sparkwing.github").warning(f"writing the step summary failed: {exc}")

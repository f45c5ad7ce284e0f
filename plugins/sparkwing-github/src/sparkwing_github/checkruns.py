"""Check runs (``POST``/``PATCH /repos/{repo}/check-runs``), the report made as a GitHub App.

Only a GitHub App may create check runs. A run's check run is named
``sparkwing/<pipeline>``, carries the run id as ``external_id`` and links
to the run in the dashboard (``details_url``). It is created
``in_progress`` when the run starts and completed with ``success``,
``failure`` or ``cancelled`` when it ends, with a title and a Markdown
summary naming the failed jobs. A run whose start was not recorded on
GitHub (GitHub down at the time) gets a completed check run at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .actions import Failure, summary_markdown
from .api import ApiClient, Response
from .app_auth import AppAuth
from .statuses import clip

#: GitHub caps ``output.summary`` at 65535 characters.
MAX_SUMMARY = 65535


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def conclusion_of(run: Any) -> str:
    """``success``, ``cancelled`` or ``failure`` for a finished *run*."""
    return {"success": "success", "cancelled": "cancelled"}.get(str(run.status), "failure")


def output_of(run: Any, failures: Sequence[Failure], link: str, title: str) -> dict[str, str]:
    """The check run's ``output``: *title* and a summary of the run and its failed jobs."""
    summary = summary_markdown(run, failures, link).strip()
    return {"title": clip(title, 255), "summary": clip(summary, MAX_SUMMARY)}


def start_body(run: Any, link: str) -> dict[str, Any]:
    """The body creating *run*'s check run ``in_progress``."""
    body: dict[str, Any] = {
        "name": f"sparkwing/{run.pipeline}", "head_sha": run.git_sha, "status": "in_progress",
        "external_id": str(run.id), "started_at": _now(),
        "output": {"title": "sparkwing run started",
                   "summary": f"Run `{run.id}` of pipeline `{run.pipeline}` started."
                   + (f" [Follow it in the dashboard]({link})." if link else "")}}
    if link:
        body["details_url"] = link
    return body


def finish_body(run: Any, failures: Sequence[Failure], link: str,
                title: str) -> dict[str, Any]:
    """The body completing *run*'s check run (``PATCH``, or ``POST`` with name and sha)."""
    body: dict[str, Any] = {"status": "completed", "conclusion": conclusion_of(run),
                            "completed_at": _now(), "external_id": str(run.id),
                            "output": output_of(run, failures, link, title)}
    if link:
        body["details_url"] = link
    return body


@dataclass(slots=True)
class CheckRunClient:
    """Creates and completes check runs with installation tokens from *auth*."""

    auth: AppAuth

    @property
    def client(self) -> ApiClient:
        """The API client (shared with *auth*: one retry policy, one problem list)."""
        return self.auth.client

    @property
    def problems(self) -> list[str]:
        """Calls that did not succeed (one line each, for the caller to log)."""
        return self.client.problems

    def _call(self, method: str, repo: str, path: str, body: dict[str, Any]) -> Response | None:
        token = self.auth.token(repo)
        if not token:
            return None
        resp = self.client.call(method, path, f"Bearer {token}", body)
        if resp.status == 401:  # revoked or expired early: one fresh token, one more try
            self.auth.forget(repo)
            token = self.auth.token(repo)
            if token:
                resp = self.client.call(method, path, f"Bearer {token}", body)
        return resp

    def start(self, repo: str, run: Any, link: str) -> int | None:
        """Create *run*'s check run ``in_progress``; its id, or ``None`` when not posted."""
        resp = self._call("POST", repo, f"/repos/{repo}/check-runs", start_body(run, link))
        if resp is None:
            self.problems.append(f"github check run for {repo}@{run.git_sha[:12]} not started: "
                                 "no installation token")
            return None
        found = resp.data.get("id") if resp.ok and isinstance(resp.data, dict) else None
        if not isinstance(found, int):
            self.problems.append(f"github check run for {repo}@{run.git_sha[:12]} not started: "
                                 f"{resp.describe()}")
            return None
        return found

    def finish(self, repo: str, run: Any, failures: Sequence[Failure], link: str, title: str,
               check_run_id: int | None) -> bool:
        """Complete *run*'s check run (create it completed when *check_run_id* is ``None``)."""
        body = finish_body(run, failures, link, title)
        if check_run_id is None:
            body.update(name=f"sparkwing/{run.pipeline}", head_sha=run.git_sha)
            resp = self._call("POST", repo, f"/repos/{repo}/check-runs", body)
        else:
            resp = self._call("PATCH", repo, f"/repos/{repo}/check-runs/{check_run_id}", body)
        if resp is not None and resp.ok:
            return True
        self.problems.append(f"github check run {conclusion_of(run)} for "
                             f"{repo}@{run.git_sha[:12]} not posted: "
                             + (resp.describe() if resp is not None else "no installation token"))
        return False

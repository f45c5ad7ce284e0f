"""The CI vendor job a ``sparkwing run`` runs inside, read from its environment.

Each supported vendor marks its jobs with one variable and describes the
build in others:

========================  =====================================================
vendor                    read from
========================  =====================================================
``github-actions``        ``GITHUB_ACTIONS=true``; ``GITHUB_REPOSITORY``,
                          ``GITHUB_SHA``, ``GITHUB_REF``/``GITHUB_REF_NAME``/
                          ``GITHUB_REF_TYPE``/``GITHUB_HEAD_REF`` (a pull
                          request's ``GITHUB_REF`` is ``refs/pull/N/merge``),
                          ``GITHUB_SERVER_URL`` + ``GITHUB_RUN_ID`` (job URL),
                          ``GITHUB_EVENT_NAME``, ``GITHUB_ACTOR``
``gitlab-ci``             ``GITLAB_CI=true``; ``CI_PROJECT_PATH``,
                          ``CI_COMMIT_SHA``, ``CI_COMMIT_REF_NAME``,
                          ``CI_COMMIT_TAG``, ``CI_MERGE_REQUEST_IID``,
                          ``CI_JOB_URL``, ``CI_PIPELINE_ID``,
                          ``CI_PIPELINE_SOURCE``, ``GITLAB_USER_LOGIN``
``buildkite``             ``BUILDKITE=true``; ``BUILDKITE_REPO``,
                          ``BUILDKITE_COMMIT``, ``BUILDKITE_BRANCH``,
                          ``BUILDKITE_TAG``, ``BUILDKITE_PULL_REQUEST``
                          (``false`` when none), ``BUILDKITE_BUILD_URL``,
                          ``BUILDKITE_BUILD_NUMBER``, ``BUILDKITE_SOURCE``,
                          ``BUILDKITE_BUILD_CREATOR``
========================  =====================================================

:func:`detect_ci` returns a :class:`CIJob` for the first vendor whose
marker is set (``None`` outside CI). A run started in such a job records
it as its trigger (see :mod:`sparkwing.triggers.environment`): source
``ci-embedded``, the vendor's event, the vendor's actor, and the job's
facts in ``extra``. Standard library only: this is on the path of every
``sparkwing run``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .cimarkers import CI_EMBEDDED as CI_EMBEDDED
from .cimarkers import VENDOR_MARKERS as VENDOR_MARKERS

GITHUB_ACTIONS = "github-actions"
GITLAB_CI = "gitlab-ci"
BUILDKITE = "buildkite"

#: The keys :meth:`CIJob.extra` may record.
CI_KEYS = ("vendor", "repository", "sha", "branch", "tag", "pull_request", "job_url", "build_id")

# Pattern sources, not compiled: ``re`` compiles and caches one on first use (start-up).
_FULL_SHA = r"[0-9a-f]{40}|[0-9a-f]{64}"
_GITHUB_PR_REF = r"refs/pull/(\d+)/(?:merge|head)"


@dataclass(frozen=True, slots=True)
class CIJob:
    """One CI vendor's job as its environment describes it (empty strings: not given)."""

    #: ``github-actions``, ``gitlab-ci`` or ``buildkite``.
    vendor: str
    #: The repository: ``owner/name`` (GitHub), the project path (GitLab), the clone URL (Buildkite).
    repository: str = ""
    #: The commit the job checked out.
    sha: str = ""
    #: The branch built (a pull request's source branch); empty for a tag.
    branch: str = ""
    #: The tag built, when the job builds a tag.
    tag: str = ""
    #: The pull (merge) request number, when the job builds one.
    pull_request: str = ""
    #: The page of the job (or build) on the vendor's site.
    job_url: str = ""
    #: The vendor's id of the build (GitHub run id, GitLab pipeline id, Buildkite build number).
    build_id: str = ""
    #: The vendor's name for what started the build (``push``, ``pull_request``, ...).
    event: str = ""
    #: Who started the build, as the vendor names them.
    actor: str = ""

    def extra(self) -> dict[str, str]:
        """The facts recorded in ``TriggerMeta.extra`` (vendor first; empty ones left out)."""
        facts = {key: str(getattr(self, key)) for key in CI_KEYS}
        return {k: v for k, v in facts.items() if v}

    def git_sha(self) -> str:
        """The checked-out commit when the vendor gives a full hex sha (``""`` otherwise)."""
        sha = self.sha.lower()
        return sha if re.fullmatch(_FULL_SHA, sha) else ""


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def github_actions(env: Mapping[str, str]) -> CIJob | None:
    """The GitHub Actions job of *env* (``GITHUB_ACTIONS=true``), else ``None``."""
    if _get(env, "GITHUB_ACTIONS") != "true":
        return None
    ref = _get(env, "GITHUB_REF")
    pr = re.fullmatch(_GITHUB_PR_REF, ref)
    ref_type = _get(env, "GITHUB_REF_TYPE")
    tag = ""
    if ref.startswith("refs/tags/") or ref_type == "tag":
        tag = _get(env, "GITHUB_REF_NAME") or ref.removeprefix("refs/tags/")
        branch = ""
    elif pr:
        branch = _get(env, "GITHUB_HEAD_REF")
    else:
        branch = _get(env, "GITHUB_REF_NAME") or ref.removeprefix("refs/heads/")
    repo, run_id = _get(env, "GITHUB_REPOSITORY"), _get(env, "GITHUB_RUN_ID")
    server = (_get(env, "GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    url = f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else ""
    return CIJob(
        vendor=GITHUB_ACTIONS, repository=repo, sha=_get(env, "GITHUB_SHA"), branch=branch,
        tag=tag, pull_request=pr.group(1) if pr else "", job_url=url, build_id=run_id,
        event=_get(env, "GITHUB_EVENT_NAME"), actor=_get(env, "GITHUB_ACTOR"),
    )


def gitlab_ci(env: Mapping[str, str]) -> CIJob | None:
    """The GitLab CI job of *env* (``GITLAB_CI=true``), else ``None``."""
    if _get(env, "GITLAB_CI") != "true":
        return None
    tag = _get(env, "CI_COMMIT_TAG")
    branch = "" if tag else (_get(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
                             or _get(env, "CI_COMMIT_REF_NAME"))
    return CIJob(
        vendor=GITLAB_CI, repository=_get(env, "CI_PROJECT_PATH"), sha=_get(env, "CI_COMMIT_SHA"),
        branch=branch, tag=tag, pull_request=_get(env, "CI_MERGE_REQUEST_IID"),
        job_url=_get(env, "CI_JOB_URL"), build_id=_get(env, "CI_PIPELINE_ID"),
        event=_get(env, "CI_PIPELINE_SOURCE"), actor=_get(env, "GITLAB_USER_LOGIN"),
    )


def buildkite(env: Mapping[str, str]) -> CIJob | None:
    """The Buildkite job of *env* (``BUILDKITE=true``), else ``None``."""
    if _get(env, "BUILDKITE") != "true":
        return None
    pr = _get(env, "BUILDKITE_PULL_REQUEST")
    tag = _get(env, "BUILDKITE_TAG")
    return CIJob(
        vendor=BUILDKITE, repository=_get(env, "BUILDKITE_REPO"),
        sha=_get(env, "BUILDKITE_COMMIT"), branch="" if tag else _get(env, "BUILDKITE_BRANCH"),
        tag=tag, pull_request="" if pr in ("", "false") else pr,
        job_url=_get(env, "BUILDKITE_BUILD_URL"), build_id=_get(env, "BUILDKITE_BUILD_NUMBER"),
        event=_get(env, "BUILDKITE_SOURCE"), actor=_get(env, "BUILDKITE_BUILD_CREATOR"),
    )


#: The vendors, in the order they are tried.
DETECTORS: tuple[Callable[[Mapping[str, str]], CIJob | None], ...] = (
    github_actions, gitlab_ci, buildkite,
)


def detect_ci(env: Mapping[str, str]) -> CIJob | None:
    """The CI vendor job *env* belongs to, or ``None`` outside a known vendor's job."""
    for detect in DETECTORS:
        job = detect(env)
        if job is not None:
            return job
    return None


def describe(extra: Mapping[str, Any]) -> str:
    """One line naming a recorded CI job, from trigger extras.

    ``github-actions acme/app PR #42 build 99 https://github.com/...``.
    """
    parts = [str(extra.get("vendor") or ""), str(extra.get("repository") or "")]
    if extra.get("pull_request"):
        parts.append(f"PR #{extra['pull_request']}")
    elif extra.get("branch"):
        parts.append(f"branch {extra['branch']}")
    elif extra.get("tag"):
        parts.append(f"tag {extra['tag']}")
    if extra.get("build_id"):
        parts.append(f"build {extra['build_id']}")
    if extra.get("job_url"):
        parts.append(str(extra["job_url"]))
    return " ".join(p for p in parts if p)

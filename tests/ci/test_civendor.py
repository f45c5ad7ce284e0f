"""Detecting the CI vendor job a run starts in, and what its trigger records."""

from __future__ import annotations

import pytest
from sparkwing.triggers.civendor import CIJob, describe, detect_ci
from sparkwing.triggers.environment import trigger_from_env

SHA = "0123456789abcdef0123456789abcdef01234567"

GITHUB_PR = {
    "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/widgets", "GITHUB_SHA": SHA,
    "GITHUB_REF": "refs/pull/42/merge", "GITHUB_REF_NAME": "42/merge",
    "GITHUB_HEAD_REF": "feature-x", "GITHUB_RUN_ID": "7001", "GITHUB_EVENT_NAME": "pull_request",
    "GITHUB_SERVER_URL": "https://github.example.com", "GITHUB_ACTOR": "octo",
}
GITLAB_MR = {
    "GITLAB_CI": "true", "CI_PROJECT_PATH": "group/sub/app", "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_REF_NAME": "feature-y", "CI_MERGE_REQUEST_IID": "17",
    "CI_JOB_URL": "https://gitlab.example.com/group/sub/app/-/jobs/55", "CI_PIPELINE_ID": "900",
    "CI_PIPELINE_SOURCE": "merge_request_event", "GITLAB_USER_LOGIN": "gl-user",
}
BUILDKITE_PUSH = {
    "BUILDKITE": "true", "BUILDKITE_REPO": "git@github.com:acme/widgets.git",
    "BUILDKITE_COMMIT": SHA, "BUILDKITE_BRANCH": "main", "BUILDKITE_PULL_REQUEST": "false",
    "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/widgets/builds/12",
    "BUILDKITE_BUILD_NUMBER": "12", "BUILDKITE_SOURCE": "webhook",
    "BUILDKITE_BUILD_CREATOR": "Ada",
}


@pytest.mark.parametrize(("env", "expected"), [
    (GITHUB_PR, CIJob(
        vendor="github-actions", repository="acme/widgets", sha=SHA, branch="feature-x",
        pull_request="42", job_url="https://github.example.com/acme/widgets/actions/runs/7001",
        build_id="7001", event="pull_request", actor="octo")),
    ({**GITHUB_PR, "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main",
      "GITHUB_HEAD_REF": "", "GITHUB_EVENT_NAME": "push", "GITHUB_SERVER_URL": ""},
     CIJob(vendor="github-actions", repository="acme/widgets", sha=SHA, branch="main",
           job_url="https://github.com/acme/widgets/actions/runs/7001", build_id="7001",
           event="push", actor="octo")),
    ({**GITHUB_PR, "GITHUB_REF": "refs/tags/v1.2", "GITHUB_REF_NAME": "v1.2",
      "GITHUB_REF_TYPE": "tag", "GITHUB_HEAD_REF": "", "GITHUB_EVENT_NAME": "push"},
     CIJob(vendor="github-actions", repository="acme/widgets", sha=SHA, tag="v1.2",
           job_url="https://github.example.com/acme/widgets/actions/runs/7001",
           build_id="7001", event="push", actor="octo")),
    (GITLAB_MR, CIJob(
        vendor="gitlab-ci", repository="group/sub/app", sha=SHA, branch="feature-y",
        pull_request="17", job_url="https://gitlab.example.com/group/sub/app/-/jobs/55",
        build_id="900", event="merge_request_event", actor="gl-user")),
    ({**GITLAB_MR, "CI_COMMIT_TAG": "v3", "CI_COMMIT_REF_NAME": "v3",
      "CI_MERGE_REQUEST_IID": ""},
     CIJob(vendor="gitlab-ci", repository="group/sub/app", sha=SHA, tag="v3",
           job_url="https://gitlab.example.com/group/sub/app/-/jobs/55", build_id="900",
           event="merge_request_event", actor="gl-user")),
    (BUILDKITE_PUSH, CIJob(
        vendor="buildkite", repository="git@github.com:acme/widgets.git", sha=SHA,
        branch="main", job_url="https://buildkite.com/acme/widgets/builds/12", build_id="12",
        event="webhook", actor="Ada")),
    ({**BUILDKITE_PUSH, "BUILDKITE_PULL_REQUEST": "8", "BUILDKITE_BRANCH": "fix"},
     CIJob(vendor="buildkite", repository="git@github.com:acme/widgets.git", sha=SHA,
           branch="fix", pull_request="8",
           job_url="https://buildkite.com/acme/widgets/builds/12", build_id="12",
           event="webhook", actor="Ada")),
], ids=["github-pr", "github-push", "github-tag", "gitlab-mr", "gitlab-tag", "buildkite-push",
        "buildkite-pr"])
def test_each_vendor_is_read_from_its_variables(env: dict[str, str], expected: CIJob) -> None:
    assert detect_ci(env) == expected


@pytest.mark.parametrize("env", [
    {},
    {"GITHUB_ACTIONS": "false", "GITHUB_REPOSITORY": "acme/widgets"},
    {"GITLAB_CI": "", "CI_PROJECT_PATH": "group/app"},
    {"BUILDKITE_REPO": "git@x:y.git", "CI": "true"},
])
def test_outside_a_known_vendor_nothing_is_detected(env: dict[str, str]) -> None:
    assert detect_ci(env) is None
    meta = trigger_from_env(env, actor="me")
    assert (meta.source, meta.actor, meta.extra) == ("manual", "me", {})


def test_the_trigger_of_a_ci_job_is_ci_embedded_with_the_vendor_facts() -> None:
    meta = trigger_from_env(GITLAB_MR, actor="runner")
    assert meta.source == "ci-embedded"
    assert meta.event == "merge_request_event"
    assert meta.actor == "gl-user"
    assert meta.extra == {
        "vendor": "gitlab-ci", "repository": "group/sub/app", "sha": SHA, "branch": "feature-y",
        "pull_request": "17", "job_url": "https://gitlab.example.com/group/sub/app/-/jobs/55",
        "build_id": "900",
    }
    assert describe(meta.extra) == (
        "gitlab-ci group/sub/app PR #17 build 900 "
        "https://gitlab.example.com/group/sub/app/-/jobs/55"
    )


def test_a_git_hook_source_wins_over_the_detection() -> None:
    env = {**GITHUB_PR, "SPARKWING_TRIGGER_SOURCE": "git-hook",
           "SPARKWING_TRIGGER_EVENT": "pre_push"}
    meta = trigger_from_env(env, actor="me")
    assert (meta.source, meta.event, meta.actor, meta.extra) == ("git-hook", "pre_push", "me", {})


def test_a_nested_run_keeps_the_ci_facts() -> None:
    # A job's own `sparkwing run` inherits SPARKWING_TRIGGER_SOURCE=ci-embedded.
    meta = trigger_from_env({**BUILDKITE_PUSH, "SPARKWING_TRIGGER_SOURCE": "ci-embedded"})
    assert meta.source == "ci-embedded" and meta.extra["vendor"] == "buildkite"


def test_only_a_full_hex_sha_overrides_the_checkout() -> None:
    assert CIJob("buildkite", sha=SHA.upper()).git_sha() == SHA
    assert CIJob("buildkite", sha="HEAD").git_sha() == ""
    assert CIJob("buildkite", sha=SHA[:12]).git_sha() == ""

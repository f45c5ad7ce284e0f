"""Reporting as a GitHub App: JWT, installation tokens, check runs, against the fake GitHub API.

The fake verifies every JWT with the public half of a key pair made for
the session, so a run configured with another key gets nothing posted.
Runs are real: a signed delivery through the dashboard (a detached
worker), or ``sparkwing run`` in a git repository inside a GitHub
Actions-like environment; each process is separate, so the token cache
shared between runs is the one on disk under ``SPARKWING_HOME``.
"""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from .conftest import (
    FAILING,
    FakeGitHub,
    Project,
    actions_env,
    event_of,
    eventually,
    git_repo,
    headers,
    payload,
    rsa_pem,
    sparkwing_run,
)

pytestmark = pytest.mark.asyncio

DASHBOARD = "http://dash.example:4040"


@pytest_asyncio.fixture
async def github_app(aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch, project: Project,
                     app_keys: tuple[bytes, bytes], tmp_path: Path) -> FakeGitHub:
    """The fake GitHub API, and this process configured as the test App (no token)."""
    private, public = app_keys
    fake = FakeGitHub(public)
    server = await aiohttp_server(fake.app())
    key = tmp_path / "app.pem"
    key.write_bytes(private)
    key.chmod(0o600)
    for name in ("SPARKWING_GITHUB_TOKEN", "SPARKWING_GITHUB_TOKEN_SOURCE",
                 "SPARKWING_GITHUB_APP_INSTALLATION_ID", "SPARKWING_GITHUB_APP_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPARKWING_GITHUB_API_URL", str(server.make_url("")).rstrip("/"))
    monkeypatch.setenv("SPARKWING_GITHUB_APP_ID", FakeGitHub.APP_ID)
    monkeypatch.setenv("SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE", f"file:{key}")
    monkeypatch.setenv("SPARKWING_GITHUB_DASHBOARD_URL", DASHBOARD)
    return fake


def cache_file(project: Project) -> Path:
    return project.home / "github" / "app-tokens.json"


async def test_a_delivery_s_run_gets_a_check_run_in_progress_then_success(
    aiohttp_client: Any, project: Project, stores: Any, github_app: FakeGitHub,
) -> None:
    from sparkwing_server.localws.app import make_app

    project.add("build", on="push: {branches: [master]}")
    client = await aiohttp_client(make_app(stores, project_root=project.root))
    raw = payload("push.with-new-branch")
    resp = await client.post("/webhooks/github/build", data=raw,
                             headers=headers(event_of("push.with-new-branch"), "app-1", raw))
    assert resp.status == 202
    (run,) = await eventually(lambda: [r for r in project.runs() if r.terminal], what="the run")
    assert run.status == "success"
    await eventually(lambda: len(github_app.posts) >= 2, what="two check run calls")
    sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    link = f"{DASHBOARD}/#/runs/{run.id}"
    create, update = github_app.posts
    assert (create["method"], create["path"], create["status"], create["name"],
            create["head_sha"], create["external_id"], create["details_url"]) == (
        "POST", "/repos/Codertocat/Hello-World/check-runs", "in_progress", "sparkwing/build",
        sha, run.id, link)
    assert (update["method"], update["path"], update["status"], update["conclusion"],
            update["details_url"]) == (
        "PATCH", "/repos/Codertocat/Hello-World/check-runs/1", "completed", "success", link)
    assert update["output"]["title"] == "sparkwing run succeeded"
    assert run.id in update["output"]["summary"]
    # The installation was looked up with the JWT, then one token was issued and used twice.
    assert github_app.calls[:2] == [("GET", "/repos/Codertocat/Hello-World/installation"),
                                    ("POST", "/app/installations/77/access_tokens")]
    assert github_app.access_token_calls() == 1
    assert create["auth"] == update["auth"] == "Bearer ghs_installation_1"
    assert not [c for c in github_app.calls if "/statuses/" in c[1]]
    # JWT: issued by the App, backdated a minute, living ten minutes from iat (nine from now).
    claims = github_app.jwts[0]
    assert claims["iss"] == FakeGitHub.APP_ID
    assert claims["exp"] - claims["iat"] == 600
    assert claims["seen_at"] - claims["iat"] >= 59


async def test_a_failed_run_s_check_run_fails_and_lists_its_failed_jobs(
    project: Project, github_app: FakeGitHub,
) -> None:
    project.add("ci", source=FAILING)
    env = actions_env(project)
    sha = git_repo(project.root, env)
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 1, err
    (check,) = github_app.check_runs.values()
    assert (check["path"], check["name"], check["head_sha"]) == (
        "/repos/octo/app/check-runs", "sparkwing/ci", sha)
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    assert check["output"]["title"] == "failed: unit-tests"
    assert "| `unit-tests` |" in check["output"]["summary"]
    assert "`lint`" not in check["output"]["summary"]
    assert check["details_url"] == f"{DASHBOARD}/#/runs/{check['external_id']}"


async def test_two_runs_share_one_installation_token_and_a_revoked_one_is_replaced(
    project: Project, github_app: FakeGitHub,
) -> None:
    project.add("ci")
    env = actions_env(project)
    git_repo(project.root, env)
    for _ in range(2):
        code, _out, err = await sparkwing_run(project.root, env, "ci")
        assert code == 0, err
    assert github_app.access_token_calls() == 1
    assert github_app.calls.count(("GET", "/repos/octo/app/installation")) == 1
    assert {p["auth"] for p in github_app.posts} == {"Bearer ghs_installation_1"}
    assert [c["conclusion"] for c in github_app.check_runs.values()] == ["success", "success"]
    cached = cache_file(project)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    text = cached.read_text()
    assert "ghs_installation_1" in text and "PRIVATE KEY" not in text

    github_app.revoked.add("ghs_installation_1")  # GitHub answers 401 to the cached token
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err
    assert github_app.access_token_calls() == 2
    assert [c["conclusion"] for c in github_app.check_runs.values()] == ["success"] * 3
    assert github_app.posts[-1]["auth"] == "Bearer ghs_installation_2"


async def test_a_token_about_to_expire_is_renewed_before_use(
    project: Project, github_app: FakeGitHub,
) -> None:
    github_app.expires_in = 120  # inside the five-minute margin: never reused
    project.add("ci")
    env = actions_env(project)
    git_repo(project.root, env)
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err
    assert github_app.access_token_calls() == 2
    assert [(p["method"], p["auth"]) for p in github_app.posts] == [
        ("POST", "Bearer ghs_installation_1"), ("PATCH", "Bearer ghs_installation_2")]


async def test_the_cached_token_is_used_until_shortly_before_it_expires(
    project: Project, github_app: FakeGitHub,
) -> None:
    from sparkwing_github import settings
    from sparkwing_github.api import ApiClient
    from sparkwing_github.app_auth import REFRESH_MARGIN_S, AppAuth, default_cache

    start = time.time()
    now = [start]

    def auth() -> AppAuth:  # a fresh object each time, as each run's process makes its own
        return AppAuth(settings.app_settings(), ApiClient(settings.api_url()), default_cache(),
                       clock=lambda: now[0])

    first = await asyncio.to_thread(auth().token, "octo/app")
    assert first == "ghs_installation_1"
    now[0] = start + 3600 - REFRESH_MARGIN_S - 10
    assert await asyncio.to_thread(auth().token, "octo/app") == first
    assert github_app.access_token_calls() == 1
    now[0] = start + 3600 - REFRESH_MARGIN_S + 10
    github_app.expires_in = 7200  # the next token outlives the moved clock
    holder = auth()
    assert await asyncio.to_thread(holder.token, "octo/app") == "ghs_installation_2"
    assert await asyncio.to_thread(holder.token, "octo/app") == "ghs_installation_2"
    assert github_app.access_token_calls() == 2


async def test_rate_limited_answers_are_waited_out(
    project: Project, github_app: FakeGitHub,
) -> None:
    project.add("ci")
    env = actions_env(project)
    git_repo(project.root, env)
    github_app.answers["access_tokens"] = [(429, {"Retry-After": "1"})]
    github_app.answers["check-runs"] = [
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 1)})]
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err
    assert github_app.access_token_calls() == 2
    assert [(p["method"], p["status"]) for p in github_app.posts] == [
        ("POST", "in_progress"), ("POST", "in_progress"), ("PATCH", "completed")]
    (check,) = github_app.check_runs.values()
    assert check["conclusion"] == "success"


async def test_a_check_run_not_started_is_created_completed_at_the_end(
    project: Project, github_app: FakeGitHub,
) -> None:
    project.add("ci")
    env = actions_env(project)
    sha = git_repo(project.root, env)
    github_app.answers["check-runs"] = [(502, {})] * 3  # the creation gives up
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err
    assert [p["method"] for p in github_app.posts] == ["POST"] * 4
    (check,) = github_app.check_runs.values()
    assert (check["name"], check["head_sha"], check["status"], check["conclusion"]) == (
        "sparkwing/ci", sha, "completed", "success")


async def test_a_github_that_is_down_or_refuses_the_key_never_fails_the_run(
    project: Project, github_app: FakeGitHub, monkeypatch: pytest.MonkeyPatch,
) -> None:
    project.add("ci")
    env = actions_env(project)
    git_repo(project.root, env)
    github_app.answers["access_tokens"] = [(500, {})] * 6  # three tries at start, three at end
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err
    assert github_app.access_token_calls() == 6
    assert github_app.posts == []

    code, _out, err = await sparkwing_run(project.root, env | {
        "SPARKWING_GITHUB_API_URL": "http://127.0.0.1:9"}, "ci")  # nothing listens there
    assert code == 0, err

    other_private, _ = rsa_pem()
    accepted = len(github_app.jwts)
    code, _out, err = await sparkwing_run(project.root, env | {
        "SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE": "env:OTHER_APP_KEY",
        "OTHER_APP_KEY": other_private.decode()}, "ci")
    assert code == 0, err
    assert len(github_app.jwts) == accepted  # the fake refused every JWT of the wrong key
    assert github_app.posts == []

    code, _out, err = await sparkwing_run(project.root, env | {
        "SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE": "env:NOT_A_KEY",
        "NOT_A_KEY": "not a pem"}, "ci")
    assert code == 0, err
    assert github_app.posts == []


async def test_a_token_wins_over_the_app(project: Project, github_app: FakeGitHub) -> None:
    project.add("ci")
    env = actions_env(project) | {"SPARKWING_GITHUB_TOKEN": FakeGitHub.PLAIN_TOKEN}
    sha = git_repo(project.root, env)
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err
    assert github_app.calls == [("POST", f"/repos/octo/app/statuses/{sha}")] * 2
    assert [p["state"] for p in github_app.posts] == ["pending", "success"]


async def test_the_configured_installation_is_used_without_a_lookup(
    project: Project, github_app: FakeGitHub,
) -> None:
    project.add("ci")
    env = actions_env(project) | {"SPARKWING_GITHUB_APP_INSTALLATION_ID": "77"}
    git_repo(project.root, env)
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err
    assert not [c for c in github_app.calls if c[1].endswith("/installation")]
    assert github_app.access_token_calls() == 1
    assert len(github_app.check_runs) == 1

"""Commit statuses: a fake GitHub API on loopback records what real runs post.

Runs are real: started by a signed delivery through the dashboard (a
detached worker) or by ``sparkwing run`` in a git repository inside a
GitHub Actions-like environment.
"""

from __future__ import annotations

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
    sparkwing_run,
)

pytestmark = pytest.mark.asyncio

@pytest_asyncio.fixture
async def github(aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch,
                 project: Project) -> FakeGitHub:
    fake = FakeGitHub()
    server = await aiohttp_server(fake.app())
    monkeypatch.setenv("SPARKWING_GITHUB_API_URL", str(server.make_url("")).rstrip("/"))
    monkeypatch.setenv("SPARKWING_GITHUB_TOKEN", "ghs_test_token")
    monkeypatch.setenv("SPARKWING_GITHUB_DASHBOARD_URL", "http://dash.example:4040")
    return fake


async def test_a_delivery_s_run_posts_pending_then_success_with_its_link(
    aiohttp_client: Any, project: Project, stores: Any, github: FakeGitHub,
) -> None:
    from sparkwing_server.localws.app import make_app

    project.add("build", on="push: {branches: [master]}")
    client = await aiohttp_client(make_app(stores, project_root=project.root))
    raw = payload("push.with-new-branch")
    resp = await client.post("/webhooks/github/build", data=raw,
                             headers=headers(event_of("push.with-new-branch"), "st-1", raw))
    assert resp.status == 202
    (run,) = await eventually(lambda: [r for r in project.runs() if r.terminal], what="the run")
    assert run.status == "success"
    await eventually(lambda: len(github.posts) >= 2, what="two statuses")
    sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert [(p["path"], p["state"], p["context"]) for p in github.posts] == [
        (f"/repos/Codertocat/Hello-World/statuses/{sha}", "pending", "sparkwing/build"),
        (f"/repos/Codertocat/Hello-World/statuses/{sha}", "success", "sparkwing/build"),
    ]
    assert {p["target_url"] for p in github.posts} == {f"http://dash.example:4040/#/runs/{run.id}"}
    assert {p["auth"] for p in github.posts} == {"Bearer ghs_test_token"}


async def test_a_failed_run_names_its_failed_jobs_after_a_retry(
    project: Project, github: FakeGitHub,
) -> None:
    project.add("ci", source=FAILING)
    env = actions_env(project)
    sha = git_repo(project.root, env)
    github.answers["statuses"] = [(502, {}), (201, {}), (500, {})]  # pending: 502 then 201; final: 500 then 201
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 1, err
    states = [(p["state"], p["path"]) for p in github.posts]
    assert states == [("pending", f"/repos/octo/app/statuses/{sha}")] * 2 + [
        ("failure", f"/repos/octo/app/statuses/{sha}")] * 2
    assert github.posts[-1]["description"] == "failed: unit-tests"


async def test_a_rate_limited_answer_waits_for_the_reset_header(
    project: Project, github: FakeGitHub,
) -> None:
    import time

    project.add("ci")
    env = actions_env(project)
    git_repo(project.root, env)
    reset = str(int(time.time()) + 1)
    github.answers["statuses"] = [(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})]
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err
    assert [p["state"] for p in github.posts] == ["pending", "pending", "success"]


async def test_a_refusing_or_absent_github_never_fails_the_run(
    project: Project, github: FakeGitHub,
) -> None:
    project.add("ci")
    env = actions_env(project)
    git_repo(project.root, env)
    github.answers["statuses"] = [(403, {})] + [(500, {})] * 3  # plain 403: no retry; 500s: give up
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err
    assert [p["state"] for p in github.posts] == ["pending"] + ["success"] * 3
    env["SPARKWING_GITHUB_API_URL"] = "http://127.0.0.1:9"  # nothing listens there
    code, _out, err = await sparkwing_run(project.root, env, "ci")
    assert code == 0, err


@pytest.mark.parametrize(("status", "error", "expected"), [
    ("success", "", ("success", "sparkwing run succeeded")),
    ("failed", "jobs failed: a, b", ("failure", "failed: a, b")),
    ("failed", "jobs failed: a; cancelled: b, c", ("failure", "failed: a")),
    ("failed", "jobs failed: " + ", ".join(f"j{i}" for i in range(7)),
     ("failure", "failed: j0, j1, j2, j3, j4 and 2 more")),
    ("failed", "plan error", ("failure", "sparkwing run failed")),
    ("cancelled", "cancelled by octo", ("error", "sparkwing run was cancelled: cancelled by octo")),
])
async def test_final_states(status: str, error: str, expected: tuple[str, str]) -> None:
    from sparkwing.storage.records import Run
    from sparkwing_github.observer import failures_of, final_state

    run = Run(id="r1", pipeline="ci", status=status, error=error)
    assert final_state(run, [f.job for f in failures_of(run, [])]) == expected

"""The webhook routes through the real dashboard application (aiohttp test client).

Accepted deliveries start runs in real detached ``sparkwing`` processes,
as they do for users.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import Project, edited, event_of, eventually, headers, payload

pytestmark = pytest.mark.asyncio

ALL_FIXTURES = ["create", "delete", "ping", "pull_request.closed", "pull_request.opened",
                "pull_request.synchronize", "push", "push.with-new-branch"]


async def client_for(aiohttp_client: Any, project: Project, stores: Any, **kw: Any) -> Any:
    from sparkwing_server.localws.app import make_app

    return await aiohttp_client(make_app(stores, project_root=project.root, **kw))


async def post(client: Any, path: str, name: str, delivery: str, body: bytes | None = None,
               **kw: Any) -> Any:
    raw = payload(name) if body is None else body
    return await client.post(path, data=raw, headers=headers(event_of(name), delivery, raw, **kw))


async def test_a_signed_push_starts_one_run_and_a_redelivery_none(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    project.add("build", on="push: {branches: [master]}")
    client = await client_for(aiohttp_client, project, stores)
    first = await post(client, "/webhooks/github/build", "push.with-new-branch", "d-1")
    assert first.status == 202
    body = await first.json()
    assert body["status"] == "dispatched"
    assert [(t["pipeline"], t["created"]) for t in body["triggers"]] == [("build", True)]
    (run,) = await eventually(lambda: [r for r in project.runs() if r.terminal],
                              what="the delivery's run")
    assert (run.pipeline, run.status, run.trigger_source, run.trigger_user) == (
        "build", "success", "github", "Codertocat")
    assert run.git_sha == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert run.git_branch == "master"
    trigger = run.invocation["trigger"]
    assert (trigger["event"], trigger["delivery_id"]) == ("push", "d-1")
    assert trigger["extra"]["repository"] == "Codertocat/Hello-World"

    again = await post(client, "/webhooks/github/build", "push.with-new-branch", "d-1")
    assert again.status == 200
    replay = await again.json()
    assert replay["status"] == "duplicate"
    assert replay["triggers"][0]["trigger"] == body["triggers"][0]["trigger"]
    assert replay["triggers"][0]["run_id"] == run.id
    await asyncio.sleep(0.5)
    assert len(project.runs()) == 1
    (row,) = project.triggers()
    assert (row.source, row.idempotency_key, row.run_id) == ("github", "github:d-1:build", run.id)


async def test_the_unscoped_route_fans_out_to_matching_pipelines(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    project.add("pr-check", on="pull_request: {branches: [master]}")
    project.add("pr-any", on="pull_request: {}")
    project.add("release", on="push: {tags: ['v*']}")
    project.add("main-only", on="pull_request: {branches: [main]}")
    client = await client_for(aiohttp_client, project, stores)
    resp = await post(client, "/webhooks/github", "pull_request.opened", "d-pr")
    assert resp.status == 202
    body = await resp.json()
    assert sorted(t["pipeline"] for t in body["triggers"]) == ["pr-any", "pr-check"]
    assert "does not name pull_request" in body["skipped"]["release"]
    assert "base branch master" in body["skipped"]["main-only"]
    runs = await eventually(lambda: [r for r in project.runs() if r.terminal] if len(
        [r for r in project.runs() if r.terminal]) == 2 else None, what="both runs")
    assert {r.pipeline for r in runs} == {"pr-any", "pr-check"}
    for r in runs:
        trig = r.invocation["trigger"]
        assert trig["event"] == "pull_request"
        assert trig["extra"]["pr_number"] == 2
        assert trig["extra"]["head_repo"] == "Codertocat/Hello-World"
        assert trig["extra"]["action"] == "opened"
        assert r.git_branch == "changes"
        assert r.git_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    # a redelivery of the fan-out starts nothing for any pipeline
    again = await post(client, "/webhooks/github", "pull_request.opened", "d-pr")
    assert again.status == 200 and (await again.json())["status"] == "duplicate"
    await asyncio.sleep(0.5)
    assert len(project.runs()) == 2 and len(project.triggers()) == 2


async def test_a_non_matching_push_starts_nothing(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    project.add("build", on="push: {branches: [main]}")
    client = await client_for(aiohttp_client, project, stores)
    resp = await post(client, "/webhooks/github/build", "push.with-new-branch", "d-2")
    assert resp.status == 202
    body = await resp.json()
    assert body["status"] == "ignored"
    assert "branch master is not in on.push.branches" in body["skipped"]["build"]
    await asyncio.sleep(0.3)
    assert project.triggers() == [] and project.runs() == []


@pytest.mark.parametrize("name", ALL_FIXTURES)
async def test_every_fixture_with_right_wrong_and_missing_signatures(
    aiohttp_client: Any, project: Project, stores: Any, name: str,
) -> None:
    project.add("ignored", on="pre_push: {}")  # names no GitHub event: nothing may start
    client = await client_for(aiohttp_client, project, stores)
    right = await post(client, "/webhooks/github", name, f"ok-{name}")
    assert right.status == (200 if name == "ping" else 202)
    assert (await right.json())["status"] == ("pong" if name == "ping" else "ignored")
    wrong = await post(client, "/webhooks/github", name, f"bad-{name}", secret="not the secret")
    assert wrong.status == 401
    assert "X-Hub-Signature-256" in (await wrong.json())["error"]
    missing = await post(client, "/webhooks/github", name, f"none-{name}", signature="")
    assert missing.status == 401
    assert project.triggers() == []


async def test_a_bad_signature_creates_nothing_even_for_a_matching_pipeline(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    project.add("build", on="push: {}")
    client = await client_for(aiohttp_client, project, stores)
    raw = payload("push.with-new-branch")
    resp = await post(client, "/webhooks/github/build", "push.with-new-branch", "d-3",
                      signature="sha256=" + "0" * 64, body=raw)
    assert resp.status == 401
    tampered = raw.replace(b"Codertocat", b"Mallory")
    from sparkwing_github.signature import sign

    resp = await client.post("/webhooks/github/build", data=tampered,
                             headers={**headers("push", "d-4", raw), "X-Hub-Signature-256":
                                      sign("test-secret-0f3c", raw)})
    assert resp.status == 401
    await asyncio.sleep(0.3)
    assert project.triggers() == [] and project.runs() == []


async def test_an_oversized_body_is_refused_before_it_is_read(
    aiohttp_client: Any, project: Project, stores: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPARKWING_GITHUB_MAX_BODY", "4096")
    project.add("build", on="push: {}")
    client = await client_for(aiohttp_client, project, stores)
    resp = await post(client, "/webhooks/github/build", "push.with-new-branch", "d-5")
    assert resp.status == 413
    assert (await resp.json()) == {"error": "body is larger than 4096 bytes"}
    small = edited("push.with-new-branch", repository={"full_name": "o/r"}, sender={},
                   pusher={"name": "o"})
    assert len(small) < 4096
    ok = await post(client, "/webhooks/github/build", "push.with-new-branch", "d-6", body=small)
    assert ok.status == 202
    assert [t.idempotency_key for t in project.triggers()] == ["github:d-6:build"]


async def test_refusals_have_clear_statuses_and_create_nothing(
    aiohttp_client: Any, project: Project, stores: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    project.add("build", on="push: {}")
    client = await client_for(aiohttp_client, project, stores)
    unknown = await post(client, "/webhooks/github/nope", "push.with-new-branch", "d-7")
    assert unknown.status == 404
    assert 'unknown pipeline "nope"' in (await unknown.json())["error"]
    raw = b"not json"
    bad_json = await client.post("/webhooks/github/build", data=raw,
                                 headers=headers("push", "d-8", raw))
    assert bad_json.status == 400 and "not JSON" in (await bad_json.json())["error"]
    raw = payload("push.with-new-branch")
    no_delivery = headers("push", "", raw)
    del no_delivery["X-GitHub-Delivery"]
    resp = await client.post("/webhooks/github/build", data=raw, headers=no_delivery)
    assert resp.status == 400 and "X-GitHub-Delivery" in (await resp.json())["error"]
    monkeypatch.delenv("SPARKWING_GITHUB_WEBHOOK_SECRET")
    unset = await post(client, "/webhooks/github/build", "push.with-new-branch", "d-9")
    assert unset.status == 503
    assert "SPARKWING_GITHUB_WEBHOOK_SECRET" in (await unset.json())["error"]
    assert project.triggers() == []


async def test_the_secret_can_come_from_a_file(
    aiohttp_client: Any, project: Project, stores: Any, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    monkeypatch.delenv("SPARKWING_GITHUB_WEBHOOK_SECRET")
    secret_file = tmp_path / "hook-secret"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("SPARKWING_GITHUB_WEBHOOK_SECRET_SOURCE", f"file:{secret_file}")
    project.add("build")
    client = await client_for(aiohttp_client, project, stores)
    ok = await post(client, "/webhooks/github", "ping", "d-10", secret="from-a-file")
    assert ok.status == 200 and (await ok.json()) == {"status": "pong"}
    wrong = await post(client, "/webhooks/github", "ping", "d-11")
    assert wrong.status == 401


async def test_the_guard_still_checks_host_and_protects_other_routes(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    project.add("build", on="push: {}")
    client = await client_for(aiohttp_client, project, stores)
    raw = payload("ping")
    foreign = await client.post("/webhooks/github", data=raw,
                                headers={**headers("ping", "d-12", raw), "Host": "evil.example"})
    assert foreign.status == 421
    # a write to the dashboard's own API without Origin or token is still refused
    api = await client.post("/api/v1/runs/x/cancel", json={})
    assert api.status == 403
    cross = await client.post("/api/v1/runs/x/cancel", json={},
                              headers={"Origin": "http://evil.example"})
    assert cross.status == 403
    # the webhook route needs no Origin or token, only its signature
    ok = await client.post("/webhooks/github", data=raw, headers=headers("ping", "d-13", raw))
    assert ok.status == 200


async def test_a_read_only_dashboard_refuses_deliveries(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    project.add("build", on="push: {}")
    client = await client_for(aiohttp_client, project, stores, read_only=True)
    resp = await post(client, "/webhooks/github/build", "push.with-new-branch", "d-14")
    assert resp.status == 405
    assert project.triggers() == []


WITH_INPUT = """
    from dataclasses import dataclass
    import sparkwing as sw

    @dataclass
    class Inputs:
        who: str = "world"
        times: int = 1

    def plan(plan, inputs: Inputs, run):
        plan.job("greet", sw.sh(f"echo hello {inputs.who} x{inputs.times}"))
"""


async def test_workflow_dispatch_inputs_become_typed_run_inputs(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    import json

    project.add("deploy", on="workflow_dispatch: {}", source=WITH_INPUT)
    project.add("other", on="push: {}")
    client = await client_for(aiohttp_client, project, stores)
    body = json.dumps({"ref": "refs/heads/main", "inputs": {"who": "octo", "times": "3"},
                       "repository": {"full_name": "o/r"}, "sender": {"login": "octo"},
                       "workflow": ".github/workflows/deploy.yml"}).encode()
    resp = await client.post("/webhooks/github", data=body,
                             headers=headers("workflow_dispatch", "wd-1", body))
    assert resp.status == 202
    assert [t["pipeline"] for t in (await resp.json())["triggers"]] == ["deploy"]
    (run,) = await eventually(lambda: [r for r in project.runs() if r.terminal], what="the run")
    assert (run.status, run.trigger_user, run.git_branch) == ("success", "octo", "main")
    assert run.args == {"who": "octo", "times": 3}
    bad = json.dumps({"ref": "refs/heads/main", "inputs": {"times": "many"},
                      "sender": {"login": "octo"}}).encode()
    resp = await client.post("/webhooks/github/deploy", data=bad,
                             headers=headers("workflow_dispatch", "wd-2", bad))
    assert resp.status == 202  # inputs are checked by the worker when it starts the run
    row = await eventually(
        lambda: [t for t in project.triggers() if t.idempotency_key == "github:wd-2:deploy"
                 and t.status == "failed"], what="the refused request")
    assert "times" in row[0].error and "\n" not in row[0].error
    assert len(project.runs()) == 1

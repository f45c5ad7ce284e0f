"""A web page cannot drive the dashboard: DNS rebinding, missing Origin, non-JSON bodies, tokens."""

from __future__ import annotations

import json
import os
import stat
import time
from typing import Any

import pytest
from sparkwing.storage.records import Approval, Node
from sparkwing_server.requestguard import RequestPolicy, new_token_file, split_host


def _gate(rec: Any) -> Any:
    run = rec.run(status="running")
    rec.state.create_nodes(run.id, [Node(run.id, "gate", kind="approval",
                                         status="approval_pending")])
    rec.state.create_approval(Approval(run.id, "gate", time.time(), message="ship?"))
    return run


async def _bare_client(aiohttp_client: Any, stores: Any, **policy: Any) -> Any:
    """A client that sends no Origin unless told to (unlike the page-like ``client`` fixture)."""
    from sparkwing_server.localws.app import make_app

    return await aiohttp_client(make_app(stores, policy=RequestPolicy(**policy)))


def _own(client: Any) -> str:
    return f"http://{client.host}:{client.port}"


@pytest.mark.asyncio
async def test_dns_rebinding_host_is_refused_for_reads_and_writes(aiohttp_client: Any,
                                                                  stores: Any, rec: Any) -> None:
    run = _gate(rec)
    client = await _bare_client(aiohttp_client, stores)
    evil = f"rebind.example:{client.port}"
    read = await client.get("/api/v1/runs", headers={"Host": evil})
    assert read.status == 421
    assert "rebind.example" in (await read.json())["error"]
    page = await client.get("/", headers={"Host": evil})
    assert page.status == 421
    # the rebinding page is same-origin with itself: Origin matches its Host, still refused
    write = await client.post(f"/api/v1/runs/{run.id}/approvals/gate",
                              json={"resolution": "approved"},
                              headers={"Host": evil, "Origin": f"http://{evil}"})
    assert write.status == 421
    assert rec.state.get_approval(run.id, "gate").resolution == ""
    ok = await client.get("/api/v1/runs", headers={"Host": f"localhost:{client.port}"})
    assert ok.status == 200


@pytest.mark.asyncio
async def test_write_without_origin_is_refused(aiohttp_client: Any, stores: Any, rec: Any) -> None:
    run = _gate(rec)
    client = await _bare_client(aiohttp_client, stores)
    refused = await client.post(f"/api/v1/runs/{run.id}/approvals/gate",
                                json={"resolution": "approved"})
    assert refused.status == 403
    assert "Origin" in (await refused.json())["error"]
    cancel = await client.post(f"/api/v1/runs/{run.id}/cancel")
    assert cancel.status == 403
    assert rec.state.get_run(run.id).cancel_requested_at is None
    assert rec.state.get_approval(run.id, "gate").resolution == ""


@pytest.mark.asyncio
async def test_text_plain_body_is_refused(aiohttp_client: Any, stores: Any, rec: Any) -> None:
    run = _gate(rec)
    client = await _bare_client(aiohttp_client, stores)
    refused = await client.post(f"/api/v1/runs/{run.id}/approvals/gate",
                                data=json.dumps({"resolution": "approved"}),
                                headers={"Origin": _own(client), "Content-Type": "text/plain"})
    assert refused.status == 415
    assert rec.state.get_approval(run.id, "gate").resolution == ""
    accepted = await client.post(f"/api/v1/runs/{run.id}/approvals/gate",
                                 json={"resolution": "approved"}, headers={"Origin": _own(client)})
    assert accepted.status == 200, await accepted.text()
    assert rec.state.get_approval(run.id, "gate").resolution == "approved"


@pytest.mark.asyncio
async def test_token_stands_in_for_origin(aiohttp_client: Any, stores: Any, rec: Any) -> None:
    run = _gate(rec)
    client = await _bare_client(aiohttp_client, stores, token="s3cret-token")
    wrong = await client.post(f"/api/v1/runs/{run.id}/cancel",
                              headers={"Authorization": "Bearer nope"})
    assert wrong.status == 403
    right = await client.post(f"/api/v1/runs/{run.id}/cancel",
                              headers={"Authorization": "Bearer s3cret-token"})
    assert right.status == 202
    assert rec.state.get_run(run.id).cancel_requested_at is not None


def test_policy_for_a_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKWING_ALLOWED_HOSTS", "ci.internal, Dash.Example")
    policy = RequestPolicy.for_listener("10.1.2.3")
    for host in ("127.0.0.1:4343", "localhost", "[::1]:80", "10.1.2.3:4343", "ci.internal:1",
                 "dash.example"):
        assert policy.host_allowed(host), host
    for host in ("evil.example:4343", "", "127.0.0.1.evil.example", "[::2]:4343"):
        assert not policy.host_allowed(host), host
    assert RequestPolicy.for_listener("0.0.0.0").hosts == frozenset({"ci.internal", "dash.example"})
    assert split_host("[::1]:4343") == ("::1", "4343")


def test_token_file_is_owner_only(tmp_path: Any) -> None:
    path = tmp_path / "home" / "dashboard.token"
    token = new_token_file(path)
    assert path.read_text().strip() == token and len(token) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert new_token_file(path) != token

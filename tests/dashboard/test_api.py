"""The dashboard's JSON API against real SQLite + filesystem stores."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sparkwing.plugins import hookimpl

pytestmark = pytest.mark.asyncio

STATIC = Path(__import__("sparkwing_server.localws.app", fromlist=["STATIC_DIR"]).STATIC_DIR)


async def get_json(client: Any, path: str, status: int = 200, **kw: Any) -> Any:
    response = await client.get(path, **kw)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def test_health_version_capabilities(client: Any) -> None:
    assert await get_json(client, "/api/health") == {"status": "ok"}
    version = await get_json(client, "/api/v1/version")
    assert version["version"] == "0.1.0" and version["component"] == "localws"
    caps = await get_json(client, "/api/v1/capabilities")
    assert caps["mode"] == "local" and caps["read_only"] is False
    assert caps["profile"] == "laptop"
    assert caps["storage"] == {"runs": "sqlite", "logs": "filesystem"}
    assert {"runs", "logs", "events", "cancel"} <= set(caps["features"])
    assert {"retry", "approvals", "pauses"} <= set(caps["features"])


async def test_runs_list_filters(client: Any, rec: Any) -> None:
    a = rec.run("build", "success", git_branch="main", git_sha="abc123")
    b = rec.run("deploy", "failed", git_branch="release", git_sha="def456")
    c = rec.run("build", "running", git_branch="feature/x", git_sha="abc999")

    def ids(body: Any) -> list[str]:
        return [r["id"] for r in body["runs"]]

    assert ids(await get_json(client, "/api/v1/runs")) == [c.id, b.id, a.id]
    assert ids(await get_json(client, "/api/v1/runs?pipeline=build")) == [c.id, a.id]
    assert ids(await get_json(client, "/api/v1/runs?status=failed,success")) == [b.id, a.id]
    assert ids(await get_json(client, "/api/v1/runs?status=!running")) == [b.id, a.id]
    assert ids(await get_json(client, "/api/v1/runs?branch=release")) == [b.id]
    assert ids(await get_json(client, "/api/v1/runs?sha=abc")) == [c.id, a.id]
    assert ids(await get_json(client, "/api/v1/runs?search=deploy")) == [b.id]
    assert ids(await get_json(client, "/api/v1/runs?pipeline=build&status=running")) == [c.id]
    row = (await get_json(client, "/api/v1/runs?pipeline=deploy"))["runs"][0]
    assert row["status"] == "failed" and row["terminal"] is True
    assert row["duration_s"] == pytest.approx(1.0, abs=0.01)
    assert "plan" not in row and "invocation" not in row
    await get_json(client, "/api/v1/runs?limit=abc", status=400)
    await get_json(client, "/api/v1/runs?since=yesterday", status=400)
    assert len((await get_json(client, "/api/v1/runs?since=1h"))["runs"]) == 3


async def test_runs_of_one_project_and_the_projects_listing(client: Any, rec: Any,
                                                             tmp_path: Path) -> None:
    alpha, beta = str(tmp_path / "alpha"), str(tmp_path / "beta")
    a1 = rec.run("build", "success", invocation={"cwd": alpha, "project": alpha})
    b1 = rec.run("build", "success", invocation={"cwd": beta + "/sub", "project": beta})
    a2 = rec.run("build", "failed", invocation={"cwd": alpha + "/src"})  # recorded before "project"
    for _ in range(3):  # more beta runs than a page holds
        rec.run("build", "success", invocation={"cwd": beta, "project": beta})
    page = await get_json(client, "/api/v1/runs", params={"project": alpha, "limit": "1"})
    assert [r["id"] for r in page["runs"]] == [a2.id]
    assert page["runs"][0]["project"] == alpha + "/src"
    nxt = await get_json(client, "/api/v1/runs",
                         params={"project": alpha, "limit": "1", "cursor": page["next_cursor"]})
    assert [r["id"] for r in nxt["runs"]] == [a1.id] and nxt["next_cursor"] is None
    everything = await get_json(client, "/api/v1/runs")
    assert len(everything["runs"]) == 6 and everything["runs"][-2]["id"] == b1.id
    listing = await get_json(client, "/api/v1/projects")
    assert listing["projects"] == [
        {"id": beta, "name": "beta", "runs": 4}, {"id": alpha, "name": "alpha", "runs": 2}]


async def test_runs_cursor_pagination_visits_every_run_once(client: Any, rec: Any) -> None:
    made = [rec.run("p", "success").id for _ in range(23)]
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        body = await get_json(client, f"/api/v1/runs?limit=5&cursor={cursor}")
        pages += 1
        seen += [r["id"] for r in body["runs"]]
        if body["next_cursor"] is None:
            break
        cursor = body["next_cursor"]
    assert seen == list(reversed(made)), (pages, len(seen), len(set(seen)))
    assert pages == 5


async def test_run_detail_nodes_steps_and_masked_secrets(client: Any, rec: Any) -> None:
    from sparkwing.storage.records import Step

    run = rec.run("build", "running", args={"target": "prod", "api-token": "s3cret"},
                  secret_args=["api-token"],
                  invocation={"args": ["--target", "prod", "--api-token", "s3cret"]},
                  plan={"nodes": [{"id": "compile", "deps": []}]})
    rec.nodes(run.id, "compile", ("test", ["compile"]))
    rec.state.upsert_step(Step(run.id, "compile", "fetch", status="passed", started_at=1.0,
                               finished_at=3.5))
    rec.state.upsert_step(Step(run.id, "compile", "build", status="running", started_at=3.5))
    body = await get_json(client, f"/api/v1/runs/{run.id}")
    assert body["run"]["args"] == {"target": "prod", "api-token": "***"}
    assert body["run"]["invocation"]["args"] == ["--target", "prod", "--api-token", "***"]
    assert "s3cret" not in str(body)
    assert body["run"]["plan"]["nodes"][0]["id"] == "compile"
    nodes = {n["node_id"]: n for n in body["nodes"]}
    assert list(nodes) == ["compile", "test"]
    assert nodes["test"]["deps"] == ["compile"]
    assert [(s["step_id"], s["status"]) for s in nodes["compile"]["steps"]] == [
        ("fetch", "passed"), ("build", "running")]
    assert nodes["compile"]["steps"][0]["duration_s"] == 2.5
    assert nodes["test"]["steps"] == []
    steps = await get_json(client, f"/api/v1/runs/{run.id}/steps?node=compile")
    assert [s["step_id"] for s in steps["steps"]] == ["fetch", "build"]
    listed = await get_json(client, f"/api/v1/runs/{run.id}/nodes")
    assert [n["node_id"] for n in listed["nodes"]] == ["compile", "test"]
    missing = await get_json(client, "/api/v1/runs/run-20990101-000000-deadbeef", status=404)
    assert "not found" in missing["error"]


async def test_node_detail_failure_excerpt_from_event_and_from_log(client: Any, rec: Any) -> None:
    run = rec.run("build", "failed")
    rec.nodes(run.id, "unit", "lint", "ok")
    rec.state.update_node(run.id, "unit", {"status": "done", "outcome": "failed",
                                           "error": "unit: exit 2", "exit_code": 2})
    rec.event(run.id, "node_failure_excerpt", "unit",
              log_excerpt="collected 3 items\nFAILED test_a - assert 1 == 2",
              log_excerpt_truncated=True)
    rec.state.update_node(run.id, "lint", {"status": "done", "outcome": "failed",
                                           "error": "lint: exit 1", "exit_code": 1})
    rec.log(run.id, "lint", "lint started", event="node_start")
    rec.log(run.id, "lint", *(f"warning {i}" for i in range(30)))
    rec.log(run.id, "lint", "\x1b[31mE501 line too long\x1b[0m")
    rec.state.update_node(run.id, "ok", {"status": "done", "outcome": "success"})

    unit = await get_json(client, f"/api/v1/runs/{run.id}/nodes/unit")
    assert unit["node"]["exit_code"] == 2
    assert unit["excerpt"]["source"] == "event"
    assert unit["excerpt"]["lines"] == ["collected 3 items", "FAILED test_a - assert 1 == 2"]
    assert unit["excerpt"]["truncated"] is True and unit["excerpt"]["error"] == "unit: exit 2"

    lint = await get_json(client, f"/api/v1/runs/{run.id}/nodes/lint")
    assert lint["excerpt"]["source"] == "log"
    assert lint["excerpt"]["lines"][-1] == "E501 line too long"
    assert len(lint["excerpt"]["lines"]) == 20 and lint["excerpt"]["truncated"] is True

    ok = await get_json(client, f"/api/v1/runs/{run.id}/nodes/ok")
    assert "excerpt" not in ok
    await get_json(client, f"/api/v1/runs/{run.id}/nodes/nope", status=404)


async def test_node_log_formats_and_negotiation(client: Any, rec: Any) -> None:
    run = rec.run()
    rec.nodes(run.id, "build")
    rec.log(run.id, "build", "$ make", event="exec_start")
    rec.log(run.id, "build", "\x1b[32mok\x1b[0m compiled")
    rec.log(run.id, "build", "disk almost full", event="", level="warn")
    base = f"/api/v1/runs/{run.id}/logs/build"

    plain = await client.get(base)
    assert plain.content_type == "text/plain"
    assert await plain.text() == "$ make\nok compiled\nwarning: disk almost full\n"
    assert plain.headers["X-Log-Lines"] == "3"

    ansi = await (await client.get(base + "?format=ansi")).text()
    assert "\x1b[32mok\x1b[0m compiled" in ansi and "\x1b[33mwarning: disk almost full" in ansi

    for query, headers in (("?format=raw", {}), ("?format=ndjson", {}),
                           ("", {"Accept": "application/x-ndjson"})):
        raw = await client.get(base + query, headers=headers)
        assert raw.content_type == "application/x-ndjson"
        lines = (await raw.text()).splitlines()
        assert len(lines) == 3 and '"event":"exec_start"' in lines[0]
        assert int(raw.headers["X-Log-Offset"]) > 0

    alias = await (await client.get(f"/api/v1/logs/{run.id}/build")).text()
    assert alias == "$ make\nok compiled\nwarning: disk almost full\n"


async def test_node_log_filters(client: Any, rec: Any) -> None:
    run = rec.run()
    rec.nodes(run.id, "test/unit")
    rec.log(run.id, "test/unit", *(f"line {i}" for i in range(1, 11)))
    base = f"/api/v1/runs/{run.id}/logs/test/unit"

    async def text(query: str) -> list[str]:
        response = await client.get(base + query)
        assert response.status == 200, await response.text()
        return (await response.text()).splitlines()

    assert await text("") == [f"line {i}" for i in range(1, 11)]
    assert await text("?tail=3") == ["line 8", "line 9", "line 10"]
    assert await text("?head=2") == ["line 1", "line 2"]
    assert await text("?lines=4:6") == ["line 4", "line 5", "line 6"]
    assert await text("?lines=9:") == ["line 9", "line 10"]
    assert await text("?grep=LINE%201") == ["line 1", "line 10"]
    assert await text("?grep=line%20[2-4]$&tail=2") == ["line 3", "line 4"]
    assert await text("?lines=2:9&grep=[13579]$&head=2") == ["line 3", "line 5"]
    assert await text("?tail=0") == []
    bad = await client.get(base + "?grep=(")
    assert bad.status == 400 and "grep" in (await bad.json())["error"]
    bad = await client.get(base + "?lines=0:4")
    assert bad.status == 400
    missing = await client.get(f"/api/v1/runs/{run.id}/logs/never-ran")
    assert missing.status == 200 and await missing.text() == ""


async def test_run_logs_concatenated_envelope_and_search(client: Any, rec: Any) -> None:
    run = rec.run()
    rec.nodes(run.id, "a", "b")
    rec.state.update_node(run.id, "a", {"status": "done", "outcome": "success"})
    rec.log(run.id, "a", "alpha one", "Needle in a")
    rec.log(run.id, "b", "beta one", "another NEEDLE")
    rec.log(run.id, "", "run started", event="run_start")
    body = await (await client.get(f"/api/v1/runs/{run.id}/logs")).text()
    assert body == ("=== a (success) ===\nalpha one\nNeedle in a\n"
                    "=== b (pending) ===\nbeta one\nanother NEEDLE\n")
    envelope = await (await client.get(f"/api/v1/runs/{run.id}/logs/_envelope?format=raw")).text()
    assert '"event":"run_start"' in envelope

    found = await get_json(client, f"/api/v1/runs/{run.id}/logs/search?q=needle")
    assert found["matches"] == [
        {"node_id": "a", "line": 2, "content": "Needle in a"},
        {"node_id": "b", "line": 2, "content": "another NEEDLE"},
    ]
    assert found["truncated"] is False
    capped = await get_json(client, f"/api/v1/runs/{run.id}/logs/search?q=one&limit=1")
    assert len(capped["matches"]) == 1 and capped["truncated"] is True
    await get_json(client, f"/api/v1/runs/{run.id}/logs/search", status=400)


async def test_events_pages(client: Any, rec: Any) -> None:
    run = rec.run()
    for i in range(7):
        rec.event(run.id, "tick", "n", i=i)
    first = await get_json(client, f"/api/v1/runs/{run.id}/events?limit=4")
    assert [e["seq"] for e in first["events"]] == [1, 2, 3, 4]
    assert first["events"][0] == {"run_id": run.id, "seq": 1, "node_id": "n", "kind": "tick",
                                  "ts": first["events"][0]["ts"], "payload": {"i": 0}}
    rest = await get_json(client, f"/api/v1/runs/{run.id}/events?after={first['next_after']}")
    assert [e["seq"] for e in rest["events"]] == [5, 6, 7]


async def test_cancel_sets_the_request_and_refuses_finished_runs(client: Any, rec: Any) -> None:
    live = rec.run(status="running")
    before = time.time()
    response = await client.post(f"/api/v1/runs/{live.id}/cancel")
    assert response.status == 202
    stored = rec.state.get_run(live.id)
    assert stored.cancel_requested_at is not None and stored.cancel_requested_at >= before
    again = await client.post(f"/api/v1/runs/{live.id}/cancel")
    assert (await again.json())["cancel_requested_at"] == stored.cancel_requested_at
    done = rec.run(status="success")
    refused = await client.post(f"/api/v1/runs/{done.id}/cancel")
    assert refused.status == 409 and "already finished" in (await refused.json())["error"]
    assert rec.state.get_run(done.id).cancel_requested_at is None


async def test_read_only_refuses_every_write_with_405(aiohttp_client: Any, stores: Any,
                                                      rec: Any) -> None:
    from sparkwing_server.localws.app import make_app

    client = await aiohttp_client(make_app(stores, read_only=True))
    run = rec.run(status="running")
    for method, path in (("POST", f"/api/v1/runs/{run.id}/cancel"), ("PUT", "/api/v1/runs"),
                         ("DELETE", f"/api/v1/runs/{run.id}"), ("PATCH", "/api/v1/anything")):
        response = await client.request(method, path)
        assert response.status == 405, (method, path)
        assert (await response.json()) == {"error": "read-only mode: writes disabled"}
    assert rec.state.get_run(run.id).cancel_requested_at is None
    caps = await get_json(client, "/api/v1/capabilities")
    assert caps["read_only"] is True and "cancel" not in caps["features"]
    assert (await get_json(client, "/api/v1/runs"))["runs"][0]["id"] == run.id


async def test_unknown_api_path_is_json_404_and_bad_ids_are_400(client: Any, rec: Any) -> None:
    body = await get_json(client, "/api/v1/nothing-here", status=404)
    assert body == {"error": "not found"}
    run = rec.run()
    bad = await get_json(client, f"/api/v1/runs/{run.id}/logs/a%5Cb", status=400)
    assert "backslash" in bad["error"]


async def test_web_ui_is_served_and_needs_nothing_from_the_network(client: Any) -> None:
    index = await client.get("/")
    assert index.status == 200 and index.content_type == "text/html"
    html = await index.text()
    assert '<script type="module" src="/static/app.js">' in html
    for path in sorted(STATIC.iterdir()):
        response = await client.get(f"/static/{path.name}")
        assert response.status == 200, path.name
        text = path.read_text()
        # Every reference is local: no http(s) URL except XML namespaces.
        urls = [u for u in re.findall(r"https?://[^\s\"')]+", text) if "www.w3.org" not in u]
        assert urls == [], (path.name, urls)
    for name in ("app.js", "run.js", "runs.js", "dag.js", "logview.js", "ansi.js", "api.js"):
        assert (STATIC / name).exists()


async def test_plugins_can_add_routes(aiohttp_client: Any, stores: Any) -> None:
    from aiohttp import web
    from sparkwing.plugins.manager import get_host
    from sparkwing_server.localws.app import make_app

    plugin = ModuleType("dashboard_test_plugin")
    seen: list[Any] = []

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "plugin"})

    @hookimpl
    def sparkwing_add_server_routes(app: Any, context: Any) -> None:
        seen.append(context)
        app.router.add_get("/api/v1/plugin-hello", hello)

    plugin.sparkwing_add_server_routes = sparkwing_add_server_routes  # type: ignore[attr-defined]
    host = get_host()
    host.pm.register(plugin, name="dashboard_test_plugin")
    try:
        client = await aiohttp_client(make_app(stores, read_only=True))
    finally:
        host.pm.unregister(plugin)
    assert await get_json(client, "/api/v1/plugin-hello") == {"hello": "plugin"}
    assert seen[0].stores is stores and seen[0].read_only is True
    refused = await client.post("/api/v1/plugin-hello")
    assert refused.status == 405


async def test_orphaned_runs_are_reconciled_unless_read_only(aiohttp_client: Any, stores: Any,
                                                             rec: Any) -> None:
    import asyncio
    import socket
    import subprocess
    import sys

    from sparkwing_server.localws.app import make_app
    from sparkwing_server.localws.context import ServerOptions

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan = rec.run(status="running", host=socket.gethostname(), pid=gone.pid)
    options = ServerOptions(reconcile_every_s=0.1)
    await aiohttp_client(make_app(stores, read_only=True, options=options))
    await asyncio.sleep(0.5)
    assert rec.state.get_run(orphan.id).status == "running"
    await aiohttp_client(make_app(stores, options=options))
    for _ in range(100):
        if rec.state.get_run(orphan.id).status != "running":
            break
        await asyncio.sleep(0.1)
    assert rec.state.get_run(orphan.id).status == "failed"


async def test_writes_from_another_origin_are_refused(client: Any, rec: Any) -> None:
    run = rec.run(status="running")
    path = f"/api/v1/runs/{run.id}/cancel"
    refused = await client.post(path, headers={"Origin": "http://evil.example"})
    assert refused.status == 403
    assert rec.state.get_run(run.id).cancel_requested_at is None
    own = f"http://{client.server.host}:{client.server.port}"
    accepted = await client.post(path, headers={"Origin": own})
    assert accepted.status == 202
    assert rec.state.get_run(run.id).cancel_requested_at is not None


async def test_a_failing_store_answers_503_and_a_bad_request_400(client: Any, rec: Any,
                                                               sparkwing_home: Path) -> None:
    """A store that cannot answer is the server's trouble (503), not the caller's (400)."""
    import sqlite3

    rec.run("build")
    bad = await client.get("/api/v1/runs?limit=nope")
    assert bad.status == 400
    db = sqlite3.connect(sparkwing_home / "state.db")
    db.execute("ALTER TABLE runs RENAME TO runs_moved_away")
    db.commit()
    db.close()
    resp = await client.get("/api/v1/runs")
    body = await resp.json()
    assert resp.status == 503, body
    assert "runs" in body["error"]

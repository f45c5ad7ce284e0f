"""Dashboard actions: approvals, debug pauses and retries, over real stores and real runs."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from sparkwing.ids import is_run_id
from sparkwing.storage.records import Approval, Node, Pause

from .conftest import eventually

pytestmark = pytest.mark.asyncio

GATED = '''
    import sparkwing as sw

    def plan(plan):
        build = plan.job("build", sw.sh("echo built"))
        gate = plan.approval("ship-gate", message="ship it?").needs(build)
        plan.job("ship", sw.sh("echo shipped")).needs(gate)
'''

FLAKY = '''
    import sparkwing as sw

    def plan(plan):
        build = plan.job("build", lambda ctx: {"built": ctx.run.run_id})
        plan.job("check", sw.sh("test ! -e fail-marker && echo checked")).needs(build)
'''

TWO_STEP = '''
    import sparkwing as sw

    def plan(plan):
        a = plan.job("a", sw.sh("echo a-ran"))
        plan.job("b", sw.sh("echo b-ran")).needs(a)
'''


async def call(client: Any, method: str, path: str, status: int, **kw: Any) -> Any:
    response = await client.request(method, path, **kw)
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/json"
    body = await response.json()
    if status >= 400:
        assert list(body) == ["error"] and "\n" not in body["error"]
    return body


def gate(rec: Any, run_id: str, node_id: str = "ship-gate", message: str = "ship it?") -> None:
    rec.state.create_nodes(run_id, [Node(run_id, node_id, kind="approval",
                                         status="approval_pending")])
    rec.state.create_approval(Approval(run_id, node_id, time.time(), message=message))


# -- approvals over recorded gates ----------------------------------------------------------------
async def test_capabilities_list_the_actions(client: Any) -> None:
    caps = await call(client, "GET", "/api/v1/capabilities", 200)
    assert {"approvals", "retry", "pauses", "cancel"} <= set(caps["features"])


async def test_pending_approvals_and_one_gate(client: Any, rec: Any) -> None:
    live = rec.run("release", "running")
    gate(rec, live.id)
    ended = rec.run("release", "cancelled")
    gate(rec, ended.id, message="stale")
    body = await call(client, "GET", "/api/v1/approvals/pending", 200)
    assert [(a["run_id"], a["node_id"]) for a in body["approvals"]] == [(live.id, "ship-gate")]
    row = body["approvals"][0]
    assert (row["pipeline"], row["message"], row["pending"], row["run_status"]) == (
        "release", "ship it?", True, "running")

    one = await call(client, "GET", f"/api/v1/runs/{live.id}/approvals/ship-gate", 200)
    assert one["approval"]["message"] == "ship it?" and one["approval"]["resolution"] == ""
    listed = await call(client, "GET", f"/api/v1/runs/{live.id}/approvals", 200)
    assert [a["node_id"] for a in listed["approvals"]] == ["ship-gate"]
    missing = await call(client, "GET", f"/api/v1/runs/{live.id}/approvals/nope", 404)
    assert missing["error"] == f'run {live.id} has no approval gate "nope"'
    await call(client, "GET", "/api/v1/runs/run-20260101-000000-00000000/approvals/ship-gate", 404)

    detail = await call(client, "GET", f"/api/v1/runs/{live.id}", 200)
    assert [a["node_id"] for a in detail["approvals"]] == ["ship-gate"]
    page = await call(client, "GET", "/api/v1/runs", 200)
    flags = {r["id"]: r["pending_approvals"] for r in page["runs"]}
    assert flags == {live.id: ["ship-gate"], ended.id: []}


async def test_resolving_records_the_decision_and_the_event(client: Any, rec: Any,
                                                            monkeypatch: Any) -> None:
    monkeypatch.setenv("USER", "dash-owner")
    run = rec.run("release", "running")
    gate(rec, run.id)
    gate(rec, run.id, "second-gate")
    path = f"/api/v1/runs/{run.id}/approvals/ship-gate"

    bad = await call(client, "POST", path, 400, json={"resolution": "maybe"})
    assert bad["error"] == 'resolution must be "approved" or "denied", got "maybe"'
    await call(client, "POST", path, 400, data="not json",
               headers={"Content-Type": "application/json"})
    await call(client, "POST", path, 400, json={"resolution": "approved", "comment": 3})
    await call(client, "POST", path, 400, json={"resolution": "approved"},
               headers={"X-Sparkwing-User": "x" * 200})
    assert rec.state.get_approval(run.id, "ship-gate").resolution == ""

    body = await call(client, "POST", path, 200, json={"resolution": "approved", "comment": "go"},
                      headers={"X-Sparkwing-User": "alice"})
    assert (body["approval"]["resolution"], body["approval"]["approver"],
            body["approval"]["comment"], body["approval"]["pending"]) == (
        "approved", "alice", "go", False)
    stored = rec.state.get_approval(run.id, "ship-gate")
    assert (stored.resolution, stored.approver, stored.comment) == ("approved", "alice", "go")
    assert stored.resolved_at is not None
    events = [e for e in rec.state.list_events(run.id) if e.kind == "approval_resolved"]
    assert [(e.node_id, e.payload) for e in events] == [
        ("ship-gate", {"resolution": "approved", "approver": "alice", "comment": "go"})]

    again = await call(client, "POST", path, 409, json={"resolution": "denied"})
    assert again["error"] == (
        f'approval "ship-gate" of run {run.id} was already resolved: approved by alice')

    denied = await call(client, "POST", f"/api/v1/runs/{run.id}/approvals/second-gate", 200,
                        json={"resolution": "denied"})
    assert denied["approval"]["approver"] == "dash-owner"  # no header: the dashboard's $USER
    assert rec.state.get_approval(run.id, "second-gate").resolution == "denied"
    await call(client, "POST", f"/api/v1/runs/{run.id}/approvals/nope", 404,
               json={"resolution": "approved"})
    pending = await call(client, "GET", "/api/v1/approvals/pending", 200)
    assert pending["approvals"] == []


# -- debug pauses over recorded pauses ------------------------------------------------------------
async def test_paused_list_and_release(client: Any, rec: Any) -> None:
    run = rec.run("p", "running")
    rec.nodes(run.id, "a", ("b", ["a"]))
    now = time.time()
    rec.state.create_pause(Pause(run.id, "a", "pause-before", now, now + 600))
    body = await call(client, "GET", f"/api/v1/runs/{run.id}/paused", 200)
    assert [(p["node_id"], p["reason"], p["held"]) for p in body["pauses"]] == [
        ("a", "pause-before", True)]
    page = await call(client, "GET", "/api/v1/runs", 200)
    assert page["runs"][0]["paused_nodes"] == ["a"]

    released = await call(client, "POST", f"/api/v1/runs/{run.id}/nodes/a/release", 200,
                          headers={"X-Sparkwing-User": "bob"})
    assert (released["pause"]["held"], released["pause"]["released_by"],
            released["pause"]["release_kind"]) == (False, "bob", "manual")
    stored = rec.state.get_pause(run.id, "a")
    assert stored.released_at is not None and stored.released_by == "bob"
    again = await call(client, "POST", f"/api/v1/runs/{run.id}/nodes/a/release", 409)
    assert "already released by bob" in again["error"]
    await call(client, "POST", f"/api/v1/runs/{run.id}/nodes/b/release", 404)
    assert (await call(client, "GET", f"/api/v1/runs/{run.id}/paused", 200))["pauses"] == []
    everything = await call(client, "GET", f"/api/v1/runs/{run.id}/paused?all=1", 200)
    assert [p["node_id"] for p in everything["pauses"]] == ["a"]


# -- guards --------------------------------------------------------------------------------------
async def test_read_only_refuses_every_action(aiohttp_client: Any, stores: Any, rec: Any) -> None:
    from sparkwing_server.localws.app import make_app

    client = await aiohttp_client(make_app(stores, read_only=True))
    run = rec.run("p", "running")
    gate(rec, run.id)
    now = time.time()
    rec.state.create_pause(Pause(run.id, "ship-gate", "pause-before", now, now + 600))
    done = rec.run("p", "failed", invocation={"cwd": os.getcwd()})
    for path, body in ((f"/api/v1/runs/{run.id}/approvals/ship-gate", {"resolution": "approved"}),
                       (f"/api/v1/runs/{run.id}/nodes/ship-gate/release", None),
                       (f"/api/v1/runs/{done.id}/retry", {"mode": "all"})):
        refused = await call(client, "POST", path, 405, json=body)
        assert refused == {"error": "read-only mode: writes disabled"}
    assert rec.state.get_approval(run.id, "ship-gate").resolution == ""
    assert rec.state.get_pause(run.id, "ship-gate").released_at is None
    assert [r.id for r in rec.state.list_runs()] == [done.id, run.id]
    caps = await call(client, "GET", "/api/v1/capabilities", 200)
    assert not {"approvals", "retry", "pauses"} & set(caps["features"])
    # reads still work
    assert len((await call(client, "GET", "/api/v1/approvals/pending", 200))["approvals"]) == 1


async def test_cross_origin_actions_are_refused(client: Any, rec: Any) -> None:
    run = rec.run("p", "running")
    gate(rec, run.id)
    refused = await call(client, "POST", f"/api/v1/runs/{run.id}/approvals/ship-gate", 403,
                         json={"resolution": "approved"},
                         headers={"Origin": "http://evil.example"})
    assert "cross-origin" in refused["error"]
    assert rec.state.get_approval(run.id, "ship-gate").resolution == ""


async def test_retry_refusals(client: Any, rec: Any, tmp_path: Any) -> None:
    live = rec.run("p", "running", invocation={"cwd": str(tmp_path)})
    body = await call(client, "POST", f"/api/v1/runs/{live.id}/retry", 409, json={"mode": "all"})
    assert body["error"] == f"run {live.id} is still running; only finished runs can be retried"
    done = rec.run("p", "failed", invocation={"cwd": str(tmp_path)})
    await call(client, "POST", f"/api/v1/runs/{done.id}/retry", 400, json={"mode": "some"})
    gone = rec.run("p", "failed", invocation={"cwd": str(tmp_path / "gone")})
    body = await call(client, "POST", f"/api/v1/runs/{gone.id}/retry", 409, json={})
    assert "working directory" in body["error"]
    await call(client, "POST", "/api/v1/runs/run-20260101-000000-00000000/retry", 404)
    assert len(rec.state.list_runs()) == 3


# -- real runs -----------------------------------------------------------------------------------
async def test_approving_a_real_run_through_the_api(client: Any, rec: Any, project: Any) -> None:
    project.add_pipeline("gated", GATED)
    proc = project.start("run", "gated", "-o", "json")

    async def waiting() -> Any:
        return (await call(client, "GET", "/api/v1/approvals/pending", 200))["approvals"]

    (pending,) = await eventually(waiting, what="the approval request")
    assert (pending["pipeline"], pending["node_id"], pending["message"]) == (
        "gated", "ship-gate", "ship it?")
    run_id = pending["run_id"]
    await call(client, "POST", f"/api/v1/runs/{run_id}/approvals/ship-gate", 200,
               json={"resolution": "approved", "comment": "looks good"},
               headers={"X-Sparkwing-User": "carol"})
    await eventually(lambda: proc.poll() is not None, what="the run to end")
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert rec.state.get_node(run_id, "ship").outcome == "success"
    gate_node = rec.state.get_node(run_id, "ship-gate")
    assert gate_node.outcome == "success" and gate_node.summary == "approved by carol · looks good"


async def test_denying_a_real_run_through_the_api(client: Any, rec: Any, project: Any) -> None:
    project.add_pipeline("gated", GATED)
    proc = project.start("run", "gated", "-o", "json")

    async def waiting() -> Any:
        return (await call(client, "GET", "/api/v1/approvals/pending", 200))["approvals"]

    (pending,) = await eventually(waiting, what="the approval request")
    await call(client, "POST", f"/api/v1/runs/{pending['run_id']}/approvals/ship-gate", 200,
               json={"resolution": "denied", "comment": "not today"},
               headers={"X-Sparkwing-User": "carol"})
    await eventually(lambda: proc.poll() is not None, what="the run to end")
    assert proc.returncode == 1
    assert rec.state.get_node(pending["run_id"], "ship-gate").error == (
        "ship-gate: denied by carol: not today")
    assert rec.state.get_node(pending["run_id"], "ship").outcome != "success"


async def test_releasing_a_real_pause_through_the_api(client: Any, rec: Any,
                                                     project: Any) -> None:
    project.add_pipeline("two", TWO_STEP)
    proc = project.start("run", "two", "--sw-pause-before", "a", "-o", "json")

    async def held() -> Any:
        runs = rec.state.list_runs()
        if not runs:
            return None
        body = await call(client, "GET", f"/api/v1/runs/{runs[0].id}/paused", 200)
        return (runs[0].id, body["pauses"]) if body["pauses"] else None

    run_id, pauses = await eventually(held, what="the pause")
    assert [(p["node_id"], p["reason"]) for p in pauses] == [("a", "pause-before")]
    detail = await call(client, "GET", f"/api/v1/runs/{run_id}", 200)
    node_a = next(n for n in detail["nodes"] if n["node_id"] == "a")
    assert (node_a["status"], node_a["status_detail"]) == ("paused", "pause-before")
    assert [p["node_id"] for p in detail["pauses"]] == ["a"]
    assert proc.poll() is None  # held: the run cannot finish on its own
    await call(client, "POST", f"/api/v1/runs/{run_id}/nodes/a/release", 200)
    await eventually(lambda: proc.poll() is not None, what="the run to end")
    assert proc.returncode == 0
    run = rec.state.get_run(run_id)
    assert run.status == "success"
    assert [rec.state.get_node(run_id, n).outcome for n in ("a", "b")] == ["success", "success"]
    assert rec.state.get_pause(run_id, "a").release_kind == "manual"


async def test_retry_starts_a_new_run_reusing_passed_jobs(client: Any, rec: Any,
                                                          project: Any) -> None:
    project.add_pipeline("flaky", FLAKY)
    (project.root / "fail-marker").write_text("x")
    first = project.cli("run", "flaky", "-o", "json")
    assert first.returncode == 1, first.stderr
    (failed,) = rec.state.list_runs()
    assert failed.status == "failed"
    (project.root / "fail-marker").unlink()

    body = await call(client, "POST", f"/api/v1/runs/{failed.id}/retry", 202,
                      json={"mode": "failed"})
    new_id = body["run_id"]
    assert is_run_id(new_id) and new_id != failed.id
    assert (body["retry_of"], body["mode"], body["started"]) == (failed.id, "failed", True)

    async def finished() -> Any:
        run = rec.state.get_run(new_id)
        return run if run is not None and run.terminal else None

    retry = await eventually(finished, what="the retry to finish")
    assert retry.status == "success" and retry.retry_of == failed.id
    assert retry.trigger_source == "retry"
    # the detached retry went through dispatch: a retry request recorded with the new run
    (request,) = rec.state.list_triggers(source="retry")
    assert (request.status, request.run_id) == ("done", new_id)
    assert retry.invocation["trigger"]["id"] == request.id
    assert retry.invocation["cwd"] == str(project.root)
    assert "--sw-run-id" not in retry.invocation["flags"]
    assert rec.state.get_node(new_id, "build").outcome == "cached"
    assert rec.state.get_node(new_id, "build").output == {"built": failed.id}
    assert rec.state.get_node(new_id, "check").outcome == "success"

    everything = await call(client, "POST", f"/api/v1/runs/{failed.id}/retry", 202,
                            json={"mode": "all"})
    again = await eventually(lambda: (r := rec.state.get_run(everything["run_id"])) is not None
                             and r.terminal and r, what="the second retry")
    assert again.status == "success"
    assert rec.state.get_node(again.id, "build").outcome == "success"
    assert rec.state.get_node(again.id, "build").output == {"built": again.id}
    assert {r.id for r in rec.state.list_runs()} == {failed.id, new_id, again.id}


async def test_retry_that_cannot_start_reports_the_error(client: Any, rec: Any,
                                                         project: Any) -> None:
    project.add_pipeline("flaky", FLAKY)
    (project.root / "fail-marker").write_text("x")
    assert project.cli("run", "flaky", "-o", "json").returncode == 1
    (failed,) = rec.state.list_runs()
    (project.root / ".sparkwing" / "sparkwing.yaml").write_text("pipelines: []\n")
    body = await call(client, "POST", f"/api/v1/runs/{failed.id}/retry", 409, json={})
    assert body["error"].startswith("retry failed to start (exit 2): ")
    assert "flaky" in body["error"]
    assert [r.id for r in rec.state.list_runs()] == [failed.id]


async def test_the_hidden_run_id_flag(rec: Any, project: Any) -> None:
    from sparkwing.ids import new_run_id

    project.add_pipeline("two", TWO_STEP)
    bad = project.cli("run", "two", "--sw-run-id", "nope")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --sw-run-id must look like run-YYYYMMDD-HHMMSS-xxxxxxxx, got 'nope'"]
    chosen = new_run_id()
    ok = project.cli("run", "two", "--sw-run-id", chosen, "-o", "json")
    assert ok.returncode == 0, ok.stderr
    assert [r.id for r in rec.state.list_runs()] == [chosen]
    assert "--sw-run-id" not in rec.state.get_run(chosen).invocation["flags"]
    taken = project.cli("run", "two", f"--sw-run-id={chosen}")
    assert taken.returncode == 2
    assert "already exists" in taken.stderr
    assert "--sw-run-id" not in project.cli("run", "two", "--sw-nope").stderr
    assert len(rec.state.list_runs()) == 1

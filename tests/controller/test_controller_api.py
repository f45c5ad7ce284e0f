"""The controller's API on a real server: revocation at once, triggers, runs, events, errors."""

from __future__ import annotations

import time
from typing import Any


def test_revocation_takes_effect_on_the_next_request(controller: Any) -> None:
    token = controller.token("user", "alice", "runs.read")
    controller.start()
    assert controller.get("/api/v1/runs", token).status == 200
    out = controller.cli("controller", "token", "revoke", token[:12])
    assert out.returncode == 0, out.stderr
    refused = controller.get("/api/v1/runs", token).assert_error(401, "unauthenticated")
    assert "revoked" in refused["message"]
    # Health and metrics still answer without a token, and count the refusal.
    assert controller.get("/api/v1/health").json()["auth"] == "enabled"
    metrics = controller.get("/metrics").body.decode()
    assert 'sparkwing_controller_auth_refusals_total{reason="revoked"} 1' in metrics
    assert ('sparkwing_controller_requests_total{method="GET",route="/api/v1/runs",'
            'status="401"} 1') in metrics


def test_rotation_while_running_switches_tokens(controller: Any) -> None:
    old = controller.token("service", "deployer", "runs.read")
    controller.start()
    assert controller.get("/api/v1/runs", old).status == 200
    out = controller.cli("controller", "token", "rotate", old[:12])
    new = out.stdout.strip()
    controller.get("/api/v1/runs", old).assert_error(401, "unauthenticated")
    assert controller.get("/api/v1/runs", new).status == 200


def test_auth_turns_on_when_the_first_token_appears(controller: Any) -> None:
    controller.start()
    assert controller.get("/api/v1/health").json()["auth"] == "disabled"
    assert controller.get("/api/v1/runs").status == 200
    controller.token("user", "root", "admin")
    controller.get("/api/v1/runs").assert_error(401, "unauthenticated")
    assert controller.get("/api/v1/health").json()["auth"] == "enabled"


def test_require_auth_without_tokens_refuses_to_start(controller: Any) -> None:
    out = controller.cli("controller", "serve", "--addr", "127.0.0.1:0", "--require-auth")
    assert out.returncode == 2 and "--require-auth" in out.stderr
    assert "token create" in out.stderr and "Traceback" not in out.stderr
    checked = controller.cli("controller", "serve", "--check-config")
    assert checked.returncode == 0 and "auth disabled" in checked.stdout
    controller.token("user", "root", "admin")
    checked = controller.cli("controller", "serve", "--check-config", "--require-auth")
    assert checked.returncode == 0, checked.stderr
    assert "1 live token(s), auth enabled" in checked.stdout


def test_trigger_enqueue_records_a_pending_row_once(controller: Any) -> None:
    writer = controller.token("user", "alice", "runs.write")
    controller.start("--require-auth")
    body = {"pipeline": "build", "inputs": {"version": "1.2"},
            "git": {"ref": "refs/heads/main", "sha": "a" * 40},
            "trigger": {"event": "push", "delivery_id": "d-1"}, "idempotency_key": "k-1"}
    first = controller.post("/api/v1/triggers", body, writer)
    assert first.status == 202, first.body
    got = first.json()
    assert got["status"] == "pending" and got["duplicate"] is False
    assert got["trigger"]["actor"] == "user:alice" and got["trigger"]["source"] == "manual"
    again = controller.post("/api/v1/triggers", body, writer)
    assert again.status == 200 and again.json()["duplicate"] is True
    assert again.json()["trigger_id"] == got["trigger_id"]
    stores = controller.open_state()
    try:
        row = stores.state.get_trigger(got["trigger_id"])
        rows = stores.state.list_triggers(limit=0)
    finally:
        stores.close()
    assert row is not None and row.status == "pending" and len(rows) == 1
    assert row.request["inputs"] == {"version": "1.2"} and row.request["git_sha"] == "a" * 40


def test_trigger_bodies_are_strict_and_errors_have_one_shape(controller: Any) -> None:
    writer = controller.token("user", "alice", "runs.write")
    controller.start("--require-auth")
    post = controller.post
    bad = post("/api/v1/triggers", {"pipeline": "b", "plan_admission": 1}, writer)
    assert bad.assert_error(400, "unknown_field")["field"] == "plan_admission"
    bad = post("/api/v1/triggers", {"pipeline": "b", "git": {"branch": "x"}}, writer)
    assert bad.assert_error(400, "unknown_field")["field"] == "git.branch"
    assert post("/api/v1/triggers", {}, writer).assert_error(400, "bad_request")["field"] \
        == "pipeline"
    unknown_source = post("/api/v1/triggers",
                          {"pipeline": "b", "trigger": {"source": "sparkwing-teamcity"}}, writer)
    assert "sparkwing-teamcity" in unknown_source.assert_error(400, "bad_request")["message"]
    post("/api/v1/triggers", raw=b"{nope", token=writer,
         headers={"Content-Type": "application/json"}).assert_error(400, "bad_request")
    post("/api/v1/triggers", raw=b"pipeline=b", token=writer,
         headers={"Content-Type": "application/x-www-form-urlencoded"}
         ).assert_error(415, "unsupported_media_type")
    controller.get("/api/v1/health", headers={"Host": "evil.example"}
                   ).assert_error(421, "misdirected_request")
    controller.get("/api/v1/nothing", writer).assert_error(404, "not_found")
    controller.request("DELETE", "/api/v1/runs", writer).assert_error(405, "method_not_allowed")


def test_runs_and_events_are_read_from_the_state_store(controller: Any) -> None:
    from sparkwing.storage.records import Node, Run

    reader = controller.token("user", "viewer", "runs.read")
    stores = controller.open_state()
    now = time.time()
    try:
        for i, (pipeline, status) in enumerate([("build", "success"), ("deploy", "failed")]):
            stores.state.create_run(Run(id=f"run-20260101-00000{i}-abcd", pipeline=pipeline,
                                        status=status, created_at=now + i))
        run_id = "run-20260101-000000-abcd"
        stores.state.create_nodes(run_id, [Node(run_id, "compile")])
        for kind in ("run_started", "node_started", "node_finished"):
            stores.state.append_event(run_id, kind, {"k": kind}, node_id="compile")
    finally:
        stores.close()
    controller.start("--require-auth")

    runs = controller.get("/api/v1/runs", reader).json()["runs"]
    assert [r["pipeline"] for r in runs] == ["deploy", "build"]
    only = controller.get("/api/v1/runs?pipeline=build&status=success", reader).json()["runs"]
    assert [r["id"] for r in only] == [run_id]
    assert len(controller.get("/api/v1/runs?limit=1", reader).json()["runs"]) == 1
    controller.get("/api/v1/runs?limit=zero", reader).assert_error(400, "bad_request")

    run = controller.get(f"/api/v1/runs/{run_id}", reader).json()
    assert run["id"] == run_id and run["status"] == "success"
    detail = controller.get(f"/api/v1/runs/{run_id}?include=nodes", reader).json()
    assert [n["node_id"] for n in detail["nodes"]] == ["compile"]
    controller.get("/api/v1/runs/run-nope", reader).assert_error(404, "not_found")

    events = controller.get(f"/api/v1/runs/{run_id}/events?after=1", reader).json()
    assert [e["kind"] for e in events["events"]] == ["node_started", "node_finished"]
    assert events["next_after"] == 3
    controller.get("/api/v1/runs/run-nope/events", reader).assert_error(404, "not_found")

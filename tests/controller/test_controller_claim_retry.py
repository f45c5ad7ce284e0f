"""Idempotent claims: a claim whose answer is lost is answered again to the retry.

A real controller; between it and the claimer, :class:`AnswerDropProxy`
forwards the claim, lets the controller commit and answer it, and closes
the claimer's connection instead of relaying the answer (what a controller
dying mid-answer, or a call timing out, does to a runner). The claimer's
retry repeats the claim's request id and gets that same claim; a claim
sent without a request id is left held by nobody and reaped ``agent_lost``
(what happened before). The same for a trigger claim. End to end, a real
``sparkwing runner`` behind the proxy runs each job of a queue-executor
run once, with no ``agent_lost``.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sparkwing.queueclient import QueueClient

from .answerdrop import AnswerDropProxy, Exchange
from .test_node_runner import (
    _events,
    _finish,
    _laptop,
    _project,
    _rows,
    _run,
    _runner,
    _stop,
)

RUN = "run-20260101-000000-abcd"
CLAIM_PATH = "/api/v1/nodes/claim"
#: Hang guard for the reaper (not a timing assertion).
REAP_DEADLINE_S = 60.0


def _drop_first_claim_answers(count: int = 1,
                              also: Callable[[dict[str, Any]], bool] = lambda body: False,
                              path: str = CLAIM_PATH) -> Callable[[Exchange], bool]:
    """A drop rule: the first *count* successful answers to claims at *path*, and every one
    whose request body *also* picks."""
    left = [count]

    def drop(exchange: Exchange) -> bool:
        if exchange.path != path or exchange.status != 200:
            return False
        if also(json.loads(exchange.body)):
            return True
        if left[0] > 0:
            left[0] -= 1
            return True
        return False

    return drop


def _claims(proxy: AnswerDropProxy) -> list[Exchange]:
    return [e for e in proxy.exchanges if e.path == CLAIM_PATH]


def _seed(controller: Any, nodes: tuple[str, ...]) -> None:
    from sparkwing.storage.records import Node, Run

    with controller.open_state() as stores:
        stores.state.create_run(Run(id=RUN, pipeline="build", status="running",
                                    created_at=time.time()))
        stores.state.create_nodes(RUN, [Node(RUN, n) for n in nodes])


def test_a_lost_claim_answer_is_answered_again_with_the_same_claim(controller: Any) -> None:
    token = controller.stored_token("runner", "box", "runner")
    controller.start("--reaper-interval", "0.5")
    _seed(controller, ("compile", "test"))
    direct = QueueClient(controller.url, token)
    for node in ("compile", "test"):
        direct.mark_ready(RUN, node)
    drop = _drop_first_claim_answers(also=lambda body: "request_id" not in body)
    with direct, AnswerDropProxy(controller.url, drop) as proxy, \
            QueueClient(proxy.url, token) as client:
        claim = client.claim_node("box-1", lease_secs=60)
        assert claim is not None
        first, again = _claims(proxy)
        # The controller claimed "compile" and answered; the answer was lost; the client sent
        # the same request id again and got the same claim, not the next attempt.
        assert (first.dropped, again.dropped) == (True, False)
        request_id = json.loads(first.body)["request_id"]
        assert len(request_id) == 32 and json.loads(again.body)["request_id"] == request_id
        answers = [json.loads(e.answer) for e in (first, again)]
        assert [(a["node_id"], a["claim_seq"], a["claim_request"]) for a in answers] == [
            ("compile", 1, request_id)] * 2
        assert (claim.node_id, claim.attempt, claim.seq) == ("compile", 1, 1)
        rows = {r["node_id"]: r for r in direct.list_queue(run_id=RUN)}
        assert (rows["compile"]["status"], rows["compile"]["claimed_by"]) == ("claimed", "box-1")
        assert rows["test"]["status"] == "ready"
        client.heartbeat_node(claim)
        client.finish_node(claim, outcome="success", exit_code=0)

        # Before request ids: a claim without one whose answer is lost is held by nobody
        # that knows it; its lease runs out and the reaper fails it agent_lost.
        parts = urlsplit(proxy.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        body = json.dumps({"holder": "box-2", "lease_secs": 1})
        with pytest.raises((http.client.HTTPException, OSError)):
            conn.request("POST", CLAIM_PATH, body, {"Content-Type": "application/json",
                                                    "Authorization": f"Bearer {token}"})
            conn.getresponse()
        conn.close()
        assert [e.dropped for e in _claims(proxy)] == [True, False, True]
        deadline = time.monotonic() + REAP_DEADLINE_S
        while True:
            lost = direct.queued_attempt(RUN, "test")
            if lost is not None and lost["status"] == "finished":
                break
            assert time.monotonic() < deadline, lost
            time.sleep(0.1)
        done = direct.queued_attempt(RUN, "compile")
    assert lost is not None and (lost["claimed_by"], lost["failure_reason"]) == (
        "box-2", "agent_lost")
    assert done is not None and (done["status"], done["outcome"], done["failure_reason"]) == (
        "finished", "success", "")


def test_a_lost_trigger_claim_answer_is_answered_again_with_the_same_claim(
        controller: Any) -> None:
    admin = controller.stored_token("user", "root", "admin")
    token = controller.stored_token("runner", "box", "runner")
    controller.start()
    for key in ("first", "second"):
        answer = controller.post("/api/v1/triggers", {"pipeline": "deploy",
                                                      "idempotency_key": key}, admin)
        assert answer.status == 202, answer.body
    path = "/api/v1/triggers/claim"
    with AnswerDropProxy(controller.url, _drop_first_claim_answers(path=path)) as proxy, \
            QueueClient(proxy.url, token) as client:
        claim = client.claim_trigger("box-1")
        claims = [e for e in proxy.exchanges if e.path == path]
    assert claim is not None and claim.seq == 1
    assert [e.dropped for e in claims] == [True, False]
    bodies = [json.loads(e.body) for e in claims]
    assert bodies[0]["request_id"] == bodies[1]["request_id"]
    answers = [json.loads(e.answer) for e in claims]
    assert [(a["id"], a["claim_seq"]) for a in answers] == [(claim.trigger_id, 1)] * 2
    with controller.open_state() as stores:
        rows = {r.idempotency_key: r for r in stores.state.list_triggers()}
    assert (rows["first"].status, rows["first"].claimed_by, rows["first"].claims) == (
        "claimed", "box-1", 1)
    assert rows["first"].id == claim.trigger_id and rows["second"].status == "pending"


def test_a_runner_whose_claim_answer_is_lost_runs_each_job_once(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    # A short lease: a claim nobody holds would fail agent_lost within seconds, not minutes.
    controller.start("--require-auth", "--lease-secs", "20", "--reaper-interval", "1")
    root = _project(tmp_path)
    env = _laptop(controller, tmp_path, admin)
    with AnswerDropProxy(controller.url, _drop_first_claim_answers()) as proxy:
        # The runner (and the `node exec` it starts) reaches the controller through the proxy.
        behind = dataclasses.replace(controller, url=proxy.url, proc=None)
        runner, log = _runner(behind, tmp_path, "box", runner_token)
        proc, run_id = _run(env, root, "two")
        try:
            code, _, err = _finish(proc)
        finally:
            _stop(runner)
        claims = [e for e in _claims(proxy) if e.status == 200]
    assert code == 0, (err[-4000:], log.read_text()[-4000:])
    # The first answer (build's claim) was lost; the retry repeated its request id and got
    # the same claim; test's claim came later with an id of its own.
    assert [e.dropped for e in claims] == [True, False, False], claims
    ids = [json.loads(e.body)["request_id"] for e in claims]
    assert ids[0] == ids[1] != ids[2], ids
    assert [(a["node_id"], a["attempt"], a["claim_seq"]) for a in
            (json.loads(e.answer) for e in claims)] == [("build", 1, 1), ("build", 1, 1),
                                                         ("test", 1, 1)]
    rows = _rows(controller, admin, run_id)
    assert set(rows) == {("build", 1), ("test", 1)}, rows
    for row in rows.values():
        assert (row["status"], row["outcome"], row["failure_reason"], row["claim_seq"]) == (
            "finished", "success", "", 1), row
        assert row["claimed_by"].startswith("box:"), row
    events = _events(log)
    assert [e["node"] for e in events if e.get("event") == "node claimed"] == ["build", "test"]
    assert [e["node"] for e in events if e.get("event") == "node started"] == ["build", "test"]
    with controller.open_state() as stores:
        run = stores.state.get_run(run_id)
        assert run is not None and run.status == "success", run
        kinds = [(e.kind, e.payload.get("attempt")) for e in
                 stores.state.list_events(run_id, 0, 1000)
                 if e.kind in ("attempt_finished", "attempt_reaped")]
    assert kinds == [("attempt_finished", 1)] * 2, kinds

"""Writes fenced by a node claim (``X-Sparkwing-Claim``) on a real controller, over real HTTP.

The remote stores (ControllerStateStore, ControllerLogStore) carry the
claim a runner hands ``node exec`` (``SPARKWING_CLAIM``); the controller
accepts their writes only while that claim is the attempt's current one.
Claims are made, released, re-claimed, finished and reaped with the
runners' QueueClient; what was written is read back without a claim.
Waits for the reaper poll with a generous deadline (a hang guard, never a
timing assertion).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sparkwing.errors import ConfigError
from sparkwing.queueclient import NodeClaim, QueueClient
from sparkwing.storage.contracts import StateWrite
from sparkwing.storage.controller.claim import CLAIM_ENV, CLAIM_HEADER, ClaimLostError, WriteClaim
from sparkwing.storage.controller.client import ControllerClient
from sparkwing.storage.controller.logs import ControllerLogStore
from sparkwing.storage.controller.state import ControllerStateStore

from .test_controller_queue import _wait_for

RUN = "run-20260101-000000-fenc"
NODE = "build/compile"
#: Upper bound for the reaper to act (a hang guard).


class Stores:
    """A state and a log store of one controller sharing one client (with or without claim)."""

    def __init__(self, url: str, token: str, claim: WriteClaim | None = None) -> None:
        self.client = ControllerClient(url, token=token, claim=claim)
        self.state = ControllerStateStore(url, client=self.client)
        self.logs = ControllerLogStore(url, client=self.client)

    def close(self) -> None:
        """Close the shared client's connections."""
        self.client.close()


def _write_claim(claim: NodeClaim) -> WriteClaim:
    return WriteClaim(claim.run_id, claim.node_id, claim.attempt, claim.seq, claim.holder)


def _record(msg: str) -> str:
    return json.dumps({"ts": time.time(), "level": "info", "msg": msg})


def _msgs(plain: Stores) -> list[str]:
    return [json.loads(line)["msg"] for line in plain.logs.read(RUN, NODE).lines]


@pytest.fixture
def setup(controller: Any) -> Iterator[tuple[Any, str, QueueClient, Stores]]:
    """A controller with a run and its node queued: (controller, token, queue client, plain)."""
    from sparkwing.storage.records import Node, Run

    token = controller.token("runner", "box-1", "runner,logs.read")
    url = controller.start("--require-auth", "--reaper-interval", "0.2")
    plain = Stores(url, token)
    plain.state.create_run(Run(id=RUN, pipeline="build", status="running",
                               created_at=time.time()))
    plain.state.create_nodes(RUN, [Node(RUN, NODE), Node(RUN, "other")])
    queue = QueueClient(url, token)
    queue.mark_ready(RUN, NODE)
    try:
        yield controller, token, queue, plain
    finally:
        plain.close()


def _refused_everywhere(stale: Stores, plain: Stores, expect: str) -> None:
    """Every kind of write under *stale* is refused with *expect* in its message, changing
    nothing; its reads still work."""
    logs_before = _msgs(plain)
    node_before = plain.state.get_node(RUN, NODE)
    events_before = plain.state.list_events(RUN)
    calls: list[Callable[[], Any]] = [
        lambda: stale.logs.append(RUN, NODE, [_record("stale line")]),
        lambda: stale.state.update_node(RUN, NODE, {"status": "done", "outcome": "success"},
                                        event=("attempt_finished", {"attempt": 1})),
        lambda: stale.state.update_node(RUN, NODE, {"outcome": "failed"}),
        lambda: stale.state.append_event(RUN, "custom", {"x": 1}, node_id=NODE),
        lambda: stale.state.write_batch([StateWrite(RUN, NODE, fields={"outcome": "failed"})]),
        lambda: stale.state.update_run(RUN, {"status": "failed"}),
    ]
    for call in calls:
        with pytest.raises(ClaimLostError) as lost:
            call()
        assert expect in str(lost.value) and "stop its work" in str(lost.value), lost.value
    writer = stale.logs.writer(RUN, NODE)
    writer.write([_record("stale buffered line")])
    with pytest.raises(ClaimLostError):
        writer.close()
    assert _msgs(plain) == logs_before
    assert plain.state.get_node(RUN, NODE) == node_before
    assert plain.state.list_events(RUN) == events_before
    assert plain.state.get_run(RUN).status == "running"  # type: ignore[union-attr]
    # reads carry no claim: a stale child can still read
    assert stale.state.get_node(RUN, NODE) == node_before


def test_writes_under_the_current_claim_pass(
        setup: tuple[Any, str, QueueClient, Stores]) -> None:
    controller, token, queue, plain = setup
    claim = queue.claim_node("box-1")
    assert claim is not None and claim.node_id == NODE
    child = Stores(controller.url, token, _write_claim(claim))
    try:
        child.logs.append(RUN, NODE, [_record("line 1")])
        writer = child.logs.writer(RUN, NODE)
        writer.write([_record("line 2")])
        writer.close()
        seq = child.state.update_node(RUN, NODE, {"status": "running"},
                                      event=("attempt_started", {"attempt": 1}))
        assert seq is not None
        child.state.write_batch([StateWrite(RUN, NODE, fields={"outcome": "success"})])
        assert _msgs(plain) == ["line 1", "line 2"]
        node = plain.state.get_node(RUN, NODE)
        assert node is not None and (node.status, node.outcome) == ("running", "success")
        # the runner finishes after the child's last write; a write after that is refused
        queue.finish_node(claim, outcome="success", exit_code=0)
        _refused_everywhere(child, plain, "finished (success, claim 1 by box-1)")
    finally:
        child.close()


def test_released_and_reclaimed_claim_is_refused(
        setup: tuple[Any, str, QueueClient, Stores]) -> None:
    controller, token, queue, plain = setup
    first = queue.claim_node("box-1")
    assert first is not None and first.seq == 1
    stale = Stores(controller.url, token, _write_claim(first))
    stale.logs.append(RUN, NODE, [_record("first claim")])
    queue.release_node(first)
    # released, not yet claimed again: refused too
    with pytest.raises(ClaimLostError, match="is ready"):
        stale.logs.append(RUN, NODE, [_record("while ready")])
    second = queue.claim_node("box-1")  # the same holder name, a new claim
    assert second is not None and second.seq == 2 and second.holder == first.holder
    current = Stores(controller.url, token, _write_claim(second))
    try:
        _refused_everywhere(stale, plain, "claimed by box-1 (claim 2), not held by box-1 "
                                          "(claim 1)")
        current.logs.append(RUN, NODE, [_record("second claim")])
        current.state.update_node(RUN, NODE, {"outcome": "success"})
        assert _msgs(plain) == ["first claim", "second claim"]
        assert plain.state.get_node(RUN, NODE).outcome == "success"  # type: ignore[union-attr]
        # the one error shape, over plain HTTP
        answer = controller.post(f"/api/v1/logs/{RUN}/lines",
                                 {"node": NODE, "text": _record("raw") + "\n"}, token,
                                 headers={CLAIM_HEADER: _write_claim(first).text()})
        data = answer.assert_error(409, "claim_lost")
        assert "claim 1" in data["message"]
        # a claim of another attempt or node is refused even for a write elsewhere
        other = WriteClaim(RUN, "other", 1, 1, "box-1")
        answer = controller.post(f"/api/v1/logs/{RUN}/lines",
                                 {"node": NODE, "text": _record("raw") + "\n"}, token,
                                 headers={CLAIM_HEADER: other.text()})
        assert "not queued" in answer.assert_error(409, "claim_lost")["message"]
        assert _msgs(plain) == ["first claim", "second claim"]
    finally:
        stale.close()
        current.close()


def test_a_reaped_claim_is_refused(setup: tuple[Any, str, QueueClient, Stores]) -> None:
    controller, token, queue, plain = setup
    claim = queue.claim_node("box-1", lease_secs=1)
    assert claim is not None
    stale = Stores(controller.url, token, _write_claim(claim))
    try:
        stale.logs.append(RUN, NODE, [_record("before the reaper")])
        _wait_for("agent_lost", lambda: queue.list_queue(run_id=RUN, status="finished"))
        _refused_everywhere(stale, plain, "agent_lost")
        # the orchestrator queues attempt 2, another runner claims it and writes
        queue.mark_ready(RUN, NODE, attempt=2)
        retry = queue.claim_node("box-2")
        assert retry is not None and retry.attempt == 2
        fresh = Stores(controller.url, token, _write_claim(retry))
        fresh.logs.append(RUN, NODE, [_record("attempt 2")])
        fresh.close()
        _refused_everywhere(stale, plain, "agent_lost")
        assert _msgs(plain) == ["before the reaper", "attempt 2"]
    finally:
        stale.close()


def test_writes_without_a_claim_are_not_fenced(
        setup: tuple[Any, str, QueueClient, Stores]) -> None:
    controller, token, queue, plain = setup
    claim = queue.claim_node("box-1")
    assert claim is not None
    queue.release_node(claim)
    assert queue.claim_node("box-2") is not None
    # nobody's claim: the orchestrator's or a laptop's writes go through as before
    plain.logs.append(RUN, NODE, [_record("no claim")])
    plain.state.update_node(RUN, NODE, {"outcome": "failed"})
    plain.state.append_event(RUN, "custom", {"x": 1}, node_id=NODE)
    assert _msgs(plain) == ["no claim"]
    assert plain.state.get_node(RUN, NODE).outcome == "failed"  # type: ignore[union-attr]
    # a malformed header is refused in the one shape, naming the header
    answer = controller.post(f"/api/v1/logs/{RUN}/lines",
                             {"node": NODE, "text": _record("raw") + "\n"}, token,
                             headers={CLAIM_HEADER: "run=x&seq=nope"})
    data = answer.assert_error(400, "bad_request")
    assert data["field"] == CLAIM_HEADER
    assert _msgs(plain) == ["no claim"]


def test_the_claim_comes_from_the_environment(
        setup: tuple[Any, str, QueueClient, Stores], monkeypatch: pytest.MonkeyPatch) -> None:
    controller, token, queue, plain = setup
    first = queue.claim_node("box:1:abc")
    assert first is not None
    claim = _write_claim(first)
    assert WriteClaim.parse(claim.text()) == claim  # node ids with "/", holders with ":"
    monkeypatch.setenv(CLAIM_ENV, claim.text())
    child = ControllerLogStore(controller.url, token=token)
    try:
        assert child.client.claim == claim
        child.append(RUN, NODE, [_record("from env")])
        queue.release_node(first)
        with pytest.raises(ClaimLostError):
            child.append(RUN, NODE, [_record("after release")])
    finally:
        child.close()
    assert _msgs(plain) == ["from env"]
    monkeypatch.setenv(CLAIM_ENV, "run=r&node=n")
    with pytest.raises(ConfigError, match=CLAIM_ENV):
        ControllerStateStore(controller.url, token=token)
    monkeypatch.setenv(CLAIM_ENV, "")
    assert ControllerStateStore(controller.url, token=token).client.claim is None


def test_a_stopped_runner_s_child_cannot_record_after_its_claim_was_reaped(
        controller: Any, tmp_path: Path) -> None:
    """End to end: runner A is frozen (SIGSTOP) while its ``node exec`` sleeps in the job;
    its claim is reaped and attempt 2 runs on runner B. A's child, still alive, wakes up and
    tries to record its attempt: refused, so the run keeps only the orchestrator's
    ``agent_lost`` for attempt 1 and B's result for attempt 2."""
    from .test_node_runner import (
        RUN_TIMEOUT_S,
        _alive,
        _finish,
        _laptop,
        _markers,
        _project,
        _rows,
        _run,
        _runner,
        _stop,
    )

    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    controller.start("--require-auth", "--lease-secs", "2", "--reaper-interval", "0.2")
    root = _project(tmp_path)
    env = _laptop(controller, tmp_path, admin)
    markers = tmp_path / "markers"
    job_env = {"SPARKWING_TEST_MARKERS": str(markers), "SPARKWING_TEST_SLEEP": "6"}
    a, a_log = _runner(controller, tmp_path, "a", runner_token, env=job_env)
    proc, run_id = _run(env, root, "flaky")
    b: subprocess.Popen[str] | None = None
    b_log = tmp_path / "b.log"
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not _markers(markers):  # A's node exec is in the sleeping job
            assert a.poll() is None and proc.poll() is None, a_log.read_text()[-4000:]
            assert time.monotonic() < deadline, a_log.read_text()[-4000:]
            time.sleep(0.05)
        first = _markers(markers)[0]
        os.kill(a.pid, signal.SIGSTOP)  # A alone: its child runs on and is not watched
        b, b_log = _runner(controller, tmp_path, "b", runner_token, env=job_env)
        code, _, err = _finish(proc)
        while _alive(first["pid"]):  # A's child woke, was refused and ended
            assert time.monotonic() < deadline, "A's node exec did not end"
            time.sleep(0.05)
    finally:
        os.kill(a.pid, signal.SIGCONT)
        _stop(a)
        if b is not None:
            _stop(b)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 0, (err[-4000:], b_log.read_text()[-4000:])
    old = next(m for m in _markers(markers) if m["pid"] == first["pid"])
    assert "end" in old, old  # attempt 1's job did finish its body
    rows = _rows(controller, admin, run_id)
    lost, retried = rows[("sleep", 1)], rows[("sleep", 2)]
    assert lost["failure_reason"] == "agent_lost" and lost["claimed_by"].startswith("a:"), lost
    assert retried["outcome"] == "success" and retried["claimed_by"].startswith("b:"), retried
    with controller.open_state() as stores:
        events = stores.state.list_events(run_id, 0, 1000)
        node = stores.state.get_node(run_id, "sleep")
    finished = [(e.payload["attempt"], e.payload["outcome"], e.payload.get("failure_reason"))
                for e in events if e.kind == "attempt_finished"]
    assert finished == [(1, "failed", "agent_lost"), (2, "success", None)], finished
    assert node is not None and node.outcome == "success", node
    assert "claim_lost" in a_log.read_text() or "stop its work" in a_log.read_text(), (
        a_log.read_text()[-4000:])

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
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sparkwing.errors import ConfigError
from sparkwing.queueclient import NodeClaim, QueueClient
from sparkwing.storage.contracts import StateWrite
from sparkwing.storage.controller.claim import CLAIM_ENV, CLAIM_HEADER, ClaimLostError, WriteClaim
from sparkwing.storage.controller.client import ControllerClient
from sparkwing.storage.controller.logs import ControllerLogStore
from sparkwing.storage.controller.state import ControllerStateStore

RUN = "run-20260101-000000-fenc"
NODE = "build/compile"
#: Upper bound for the reaper to act (a hang guard).
REAP_DEADLINE_S = 60.0


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


def _wait_for(what: str, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + REAP_DEADLINE_S
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what}: not seen within {REAP_DEADLINE_S} s")


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

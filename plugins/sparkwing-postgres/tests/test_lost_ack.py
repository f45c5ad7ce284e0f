"""A lost acknowledgement: the server committed a write, the client's connection dropped
before it heard so, and the store retried. The write must be recorded exactly once.

The fault is real: :class:`~sparkwing_postgres.faultproxy.LostAckProxy` sits between
the store and the test cluster and closes the connection right after the server's
"transaction ended" message, instead of passing it on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sparkwing.errors import StoreError
from sparkwing.storage.contracts import StateWrite
from sparkwing.storage.records import Node, Run, Step
from sparkwing_postgres.cluster import TempCluster
from sparkwing_postgres.faultproxy import LostAckProxy
from sparkwing_postgres.store import PostgresStateStore


@pytest.fixture
def proxied(pg_config: dict[str, Any], pg_running: TempCluster
            ) -> Iterator[tuple[PostgresStateStore, LostAckProxy]]:
    with LostAckProxy(pg_running.port) as proxy:
        config = {**pg_config, "sslmode": "disable",
                  "url": f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"}
        with PostgresStateStore.from_config(config) as store:
            store.create_run(Run(id="run-1", pipeline="p"))
            store.create_nodes("run-1", [Node("run-1", "a")])
            assert store.append_event("run-1", "before", {}) == 1
            yield store, proxy


def _events(store: PostgresStateStore) -> list[tuple[int, str, str]]:
    return [(e.seq, e.node_id, e.kind) for e in store.list_events("run-1", limit=0)]


def test_append_event_whose_ack_is_lost_is_recorded_once(
    proxied: tuple[PostgresStateStore, LostAckProxy],
) -> None:
    store, proxy = proxied
    proxy.arm()
    assert store.append_event("run-1", "during", {"n": 1}) == 2
    assert proxy.dropped == 1  # the fault happened: the commit's answer never arrived
    assert store.append_event("run-1", "after", {}) == 3
    assert _events(store) == [(1, "", "before"), (2, "", "during"), (3, "", "after")]


def test_node_update_with_event_whose_ack_is_lost_is_recorded_once(
    proxied: tuple[PostgresStateStore, LostAckProxy],
) -> None:
    store, proxy = proxied
    proxy.arm()
    seq = store.update_node("run-1", "a", {"status": "running", "attempts": 1},
                            ("node_started", {}))
    assert seq == 2 and proxy.dropped == 1
    node = store.get_node("run-1", "a")
    assert node is not None and (node.status, node.attempts) == ("running", 1)
    assert _events(store) == [(1, "", "before"), (2, "a", "node_started")]


def test_a_batch_whose_commit_ack_is_lost_is_applied_once(
    proxied: tuple[PostgresStateStore, LostAckProxy],
) -> None:
    store, proxy = proxied
    step = Step("run-1", "a", "compile", "running", started_at=1.0)
    proxy.arm()
    store.write_batch([
        StateWrite("run-1", "a", fields={"status": "running"}, event=("node_started", {})),
        StateWrite("run-1", "a", step=step, event=("step_started", {"step": "compile"})),
        StateWrite("run-1", "a", event=("note", {"text": "hello"})),
    ])
    assert proxy.dropped == 1
    assert _events(store) == [(1, "", "before"), (2, "a", "node_started"),
                              (3, "a", "step_started"), (4, "a", "note")]
    assert [s.step_id for s in store.list_steps("run-1")] == ["compile"]
    assert store.append_event("run-1", "after", {}) == 5


def test_two_identical_appends_are_two_events(
    proxied: tuple[PostgresStateStore, LostAckProxy],
) -> None:
    store, proxy = proxied
    # Only a retry recognises its own row: equal content in separate calls is kept twice.
    assert store.append_event("run-1", "tick", {}, ts=5.0) == 2
    proxy.arm()
    assert store.append_event("run-1", "tick", {}, ts=5.0) == 3
    assert proxy.dropped == 1
    assert [k for _, _, k in _events(store)] == ["before", "tick", "tick"]


def test_a_batch_given_up_after_its_commit_is_applied_once_when_sent_again(
    pg_config: dict[str, Any], pg_running: TempCluster,
) -> None:
    # retry_timeout 0: the store gives up at the first failure, not knowing the commit
    # happened; the run journal sends the same batch again later (see RunJournal.finish).
    with LostAckProxy(pg_running.port) as proxy:
        config = {**pg_config, "sslmode": "disable", "retry_timeout": 0,
                  "url": f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"}
        with PostgresStateStore.from_config(config) as store:
            store.create_run(Run(id="run-1", pipeline="p"))
            batch = [StateWrite("run-1", event=("one", {})), StateWrite("run-1", event=("two", {}))]
            proxy.arm()
            with pytest.raises(StoreError, match="unreachable after 0 s of retries"):
                store.write_batch(batch)
            assert proxy.dropped == 1
            store.write_batch(batch)
            store.write_batch([StateWrite("run-1", event=("three", {}))])
            assert _events(store) == [(1, "", "one"), (2, "", "two"), (3, "", "three")]

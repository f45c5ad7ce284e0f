"""The run journal's group commit and the SQLite store's ``write_batch`` behind it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sparkwing import events
from sparkwing.errors import NotFoundError
from sparkwing.orchestrator.journal import RunJournal
from sparkwing.orchestrator.reporting import Reporter
from sparkwing.runtime.secrets import Masker
from sparkwing.storage.contracts import BatchingStateStore, StateStore, StateWrite
from sparkwing.storage.records import Node, Run, Step
from sparkwing_sqlite.store import SqliteStateStore


@pytest.fixture
def store(tmp_path: Path):
    st = SqliteStateStore(tmp_path / "state.db")
    st.create_run(Run("r1", "p", status="running"))
    st.create_nodes("r1", [Node("r1", "a"), Node("r1", "b")])
    yield st
    st.close()


def test_sqlite_offers_batches(store: SqliteStateStore) -> None:
    assert isinstance(store, BatchingStateStore)


def test_a_batch_applies_every_write_in_order(store: SqliteStateStore) -> None:
    store.write_batch([
        StateWrite("r1", "a", fields={"status": "running"}, event=(events.NODE_STARTED, {}),
                   ts=10.0),
        StateWrite("r1", "a", step=Step("r1", "a", "s1", "running", started_at=11.0),
                   event=(events.STEP_STARTED, {"step": "s1"})),
        StateWrite("r1", "b", event=(events.ATTEMPT_FINISHED, {"attempt": 1})),
        StateWrite("r1", "a", fields={"status": "done", "outcome": "success"},
                   event=(events.NODE_SUCCEEDED, {})),
    ])
    assert [(e.seq, e.node_id, e.kind) for e in store.list_events("r1")] == [
        (1, "a", events.NODE_STARTED), (2, "a", events.STEP_STARTED),
        (3, "b", events.ATTEMPT_FINISHED), (4, "a", events.NODE_SUCCEEDED)]
    assert store.list_events("r1")[0].ts == 10.0
    node = store.get_node("r1", "a")
    assert node is not None and (node.status, node.outcome) == ("done", "success")
    assert [(s.step_id, s.status) for s in store.list_steps("r1", "a")] == [("s1", "running")]


def test_a_failing_write_fails_the_whole_batch(store: SqliteStateStore) -> None:
    with pytest.raises(NotFoundError, match="node ghost of run r1 not found"):
        store.write_batch([
            StateWrite("r1", "a", fields={"status": "running"}, event=(events.NODE_STARTED, {})),
            StateWrite("r1", "ghost", fields={"status": "running"}),
        ])
    assert store.list_events("r1") == []
    node = store.get_node("r1", "a")
    assert node is not None and node.status == "pending"


class _Unbatched:
    """A state store without ``write_batch``: only the contract's single calls."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner

    def update_node(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.inner.update_node(*args, **kwargs)

    def append_event(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.inner.append_event(*args, **kwargs)


def _journal(state: object) -> RunJournal:
    journal = RunJournal(state, None, Reporter(), Masker())
    journal.attach(Run("r1", "p"), batching=True)
    return journal


def test_queued_writes_are_committed_together_within_the_window(
    store: SqliteStateStore,
) -> None:
    journal = _journal(store)

    async def go() -> tuple[int, int]:
        journal.update("a", {"status": "running"}, events.NODE_STARTED, {})
        journal.event(events.ATTEMPT_FINISHED, {"attempt": 1}, node_id="a")
        journal.update("b", {"status": "running"}, events.NODE_STARTED, {})
        queued = len(store.list_events("r1"))
        deadline = time.monotonic() + 5
        while not store.list_events("r1") and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        return queued, len(store.list_events("r1"))

    queued, committed = asyncio.run(go())
    assert (queued, committed) == (0, 3)


def test_flush_commits_at_once(store: SqliteStateStore) -> None:
    journal = _journal(store)

    async def go() -> int:
        journal.update("a", {"status": "running"}, events.NODE_STARTED, {})
        journal.flush()
        return len(store.list_events("r1"))

    assert asyncio.run(go()) == 1


def test_a_store_without_batches_gets_every_write_at_once(store: SqliteStateStore) -> None:
    journal = _journal(_Unbatched(store))

    async def go() -> int:
        journal.update("a", {"status": "running"}, events.NODE_STARTED, {})
        return len(store.list_events("r1"))

    assert asyncio.run(go()) == 1

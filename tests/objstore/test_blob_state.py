"""The state store over blobs passes the StateStore conformance suite on the dir backend."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from sparkwing.storage.records import Run, RunFilter
from sparkwing.testing.blobstores import dir_state
from sparkwing.testing.suites.state import (
    StoreFactory,
    ThreadSafeStateStoreSuite,
    append_events,
    open_each,
    run_in_processes,
    write_runs,
)


class TestBlobStateStoreOnDir(ThreadSafeStateStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        return functools.partial(dir_state, tmp_path / "store", "team")


PROCESSES = 8
RUNS_PER_PROCESS = 60


def test_eight_processes_write_runs_into_one_store(tmp_path: Path) -> None:
    """8 processes x 60 x (create_run, create_nodes, update_node + event, update_run)."""
    factory = functools.partial(dir_state, tmp_path / "store")
    results = run_in_processes(
        write_runs, [(factory, w, RUNS_PER_PROCESS, 3) for w in range(PROCESSES)],
    )
    assert results == [RUNS_PER_PROCESS] * PROCESSES
    store = factory()
    try:
        runs = store.list_runs(RunFilter(limit=0))
        assert len(runs) == PROCESSES * RUNS_PER_PROCESS
        assert {r.status for r in runs} == {"success"}
        assert [r.id for r in runs] == sorted((r.id for r in runs), reverse=True)
        assert store.list_runs(RunFilter(statuses=["running"])) == []
        for w in range(PROCESSES):
            run_id = f"run-w{w:03d}-{RUNS_PER_PROCESS - 1:05d}"
            run = store.get_run(run_id)
            assert run is not None and run.status == "success" and run.pipeline == f"p{w}"
            assert [n.node_id for n in store.list_nodes(run_id)] == ["n0", "n1", "n2"]
            events = store.list_events(run_id)
            assert [(e.seq, e.kind, e.node_id) for e in events] == [(1, "node_started", "n0")]
            assert events[0].payload == {"worker": w, "j": RUNS_PER_PROCESS - 1}
    finally:
        store.close()


def test_processes_appending_to_one_run_get_gap_free_seqs(tmp_path: Path) -> None:
    factory = functools.partial(dir_state, tmp_path / "store")
    store = factory()
    store.create_run(Run(id="run-shared", pipeline="p"))
    per = 80
    results = run_in_processes(
        append_events, [(factory, "run-shared", per, f"w{w}") for w in range(4)],
    )
    every = sorted(s for seqs in results for s in seqs)
    assert every == list(range(1, 4 * per + 1))  # no duplicate, no gap
    for seqs in results:
        assert seqs == sorted(seqs)
    fresh = factory()  # reads segments, then the records after the last one
    try:
        events = fresh.list_events("run-shared", limit=10_000)
        assert [e.seq for e in events] == list(range(1, 4 * per + 1))
        by_tag: dict[str, list[int]] = {}
        for e in events:
            by_tag.setdefault(e.payload["tag"], []).append(e.payload["i"])
        assert by_tag == {f"w{w}": list(range(per)) for w in range(4)}
    finally:
        fresh.close()
        store.close()


def test_processes_racing_to_create_fresh_stores(tmp_path: Path) -> None:
    factories = [functools.partial(dir_state, tmp_path / f"s{i}") for i in range(3)]
    assert run_in_processes(open_each, [(factories, w) for w in range(4)]) == [3] * 4
    for factory in factories:
        store = factory()
        assert len(store.list_runs()) == 4
        store.close()

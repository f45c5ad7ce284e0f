"""Many processes writing one state.db at once."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

from sparkwing.storage.records import Run
from sparkwing.testing.suites.state import append_events, run_in_processes, write_runs
from sparkwing_sqlite.store import SqliteStateStore

PROCESSES = 8
RUNS_PER_PROCESS = 200
NODES_PER_RUN = 3


def test_eight_processes_write_runs_into_one_database(tmp_path: Path) -> None:
    """8 processes x 200 x (create_run, create_nodes, update_node + event, update_run)."""
    path = tmp_path / "home" / "state.db"  # fresh: the processes also race on creating it
    factory = functools.partial(SqliteStateStore, path)
    results = run_in_processes(
        write_runs, [(factory, w, RUNS_PER_PROCESS, NODES_PER_RUN) for w in range(PROCESSES)],
    )  # a "database is locked" (or any) error in a child fails here with its traceback
    assert results == [RUNS_PER_PROCESS] * PROCESSES

    conn = sqlite3.connect(path)
    try:
        def count(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        total = PROCESSES * RUNS_PER_PROCESS
        assert count("SELECT COUNT(*) FROM runs") == total
        assert count("SELECT COUNT(*) FROM runs WHERE status = 'success'") == total
        assert count("SELECT COUNT(*) FROM nodes") == total * NODES_PER_RUN
        assert count("SELECT COUNT(*) FROM nodes WHERE node_id = 'n0' AND status = 'running'") \
            == total
        assert count("SELECT COUNT(*) FROM events") == total
        assert count("SELECT COUNT(*) FROM events WHERE seq != 1") == 0
    finally:
        conn.close()

    with SqliteStateStore(path) as store:
        for w in range(PROCESSES):
            run_id = f"run-w{w:03d}-{RUNS_PER_PROCESS - 1:05d}"
            run = store.get_run(run_id)
            assert run is not None and run.status == "success" and run.pipeline == f"p{w}"
            assert [n.node_id for n in store.list_nodes(run_id)] == ["n0", "n1", "n2"]
            events = store.list_events(run_id)
            assert [(e.seq, e.kind, e.node_id) for e in events] == [(1, "node_started", "n0")]
            assert events[0].payload == {"worker": w, "j": RUNS_PER_PROCESS - 1}


def test_processes_appending_to_one_run_get_gap_free_seqs(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStateStore(path) as store:
        store.create_run(Run(id="run-shared", pipeline="p"))
    factory = functools.partial(SqliteStateStore, path)
    per = 150
    results = run_in_processes(
        append_events, [(factory, "run-shared", per, f"w{w}") for w in range(4)],
    )
    every = sorted(s for seqs in results for s in seqs)
    assert every == list(range(1, 4 * per + 1))  # no duplicate, no gap
    for seqs in results:
        assert seqs == sorted(seqs)  # each process sees its own appends in order
    with SqliteStateStore(path) as store:
        events = store.list_events("run-shared", limit=10_000)
        assert [e.seq for e in events] == list(range(1, 4 * per + 1))
        by_tag: dict[str, list[int]] = {}
        for e in events:
            by_tag.setdefault(e.payload["tag"], []).append(e.payload["i"])
        assert by_tag == {f"w{w}": list(range(per)) for w in range(4)}

"""What the blob layout promises: few reads to list runs, no hot objects, few log parts."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sparkwing.storage.blobs.contracts import Blob, BlobInfo, BlobPage
from sparkwing.storage.blobs.dirstore import DirBlobStore
from sparkwing.storage.blobs.logs import BlobLogStore
from sparkwing.storage.blobs.runindex import ROLLUP_REWRITE
from sparkwing.storage.blobs.runlog import SEGMENT
from sparkwing.storage.blobs.state import BlobStateStore
from sparkwing.storage.logrecord import make_record
from sparkwing.storage.records import Node, Run, RunFilter

T0 = 1_700_000_000.0


class Counting(DirBlobStore):
    """A dir store that counts calls by operation and the writes of each key."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.calls: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self.listed: list[str] = []

    def get(self, key: str) -> Blob | None:
        self.calls["get"] += 1
        return super().get(key)

    def put(self, key: str, data: bytes, **kw: Any) -> BlobInfo:
        self.calls["put"] += 1
        self.writes[key] += 1
        return super().put(key, data, **kw)

    def list_page(self, prefix: str, **kw: Any) -> BlobPage:
        self.calls["list"] += 1
        self.listed.append(prefix)
        return super().list_page(prefix, **kw)

    def reset(self) -> None:
        self.calls.clear()
        self.writes.clear()
        self.listed.clear()


def run_id(day: int, i: int) -> str:
    return f"run-202401{day:02d}-{i // 60:02d}{i % 60:02d}00-{i:08x}"


def test_listing_reads_the_newest_buckets_not_every_run(tmp_path: Path) -> None:
    days, per_day = 30, 40
    writer = BlobStateStore(DirBlobStore(tmp_path))
    for day in range(1, days + 1):
        for i in range(per_day):
            writer.create_run(Run(id=run_id(day, i), pipeline="p" if i % 7 else "rare",
                                  status="success", created_at=T0 + day * 86400 + i))
    newest = [run_id(days, i) for i in reversed(range(per_day))][:20]

    counting = Counting(tmp_path)
    reader = BlobStateStore(counting)
    assert [r.id for r in reader.list_runs()] == newest
    first = dict(counting.calls)
    # one bucket read head by head (its rollup written back), then the 20 runs returned
    assert first["get"] <= 1 + per_day + 20
    assert [p for p in counting.listed if p.startswith("runs/")] == ["runs/run-20240130/"]
    assert counting.writes == Counter({"rollups/run-20240130.json": 1})

    counting.reset()
    again = BlobStateStore(counting)  # another process: the rollup answers for the bucket
    assert [r.id for r in again.list_runs()] == newest
    assert counting.calls["get"] <= 1 + 20 and counting.calls["put"] == 0

    counting.reset()  # a filter matching few runs walks back through the buckets
    rare = again.list_runs(RunFilter(pipelines=["rare"], limit=12))
    assert [r.id for r in rare] == [
        run_id(d, i) for d in (30, 29) for i in reversed(range(0, per_day, 7))][:12]
    assert len([p for p in counting.listed if p.startswith("runs/")]) == 2


def test_live_runs_come_from_their_markers(tmp_path: Path) -> None:
    writer = BlobStateStore(DirBlobStore(tmp_path))
    for i in range(200):
        writer.create_run(Run(id=run_id(1 + i % 20, i), pipeline="p",
                              status="running" if i in (5, 150) else "success",
                              created_at=T0 + i))
    counting = Counting(tmp_path)
    reader = BlobStateStore(counting)
    live = reader.list_runs(RunFilter(statuses=["running", "pending"], limit=100))
    assert sorted(r.id for r in live) == sorted([run_id(6, 5), run_id(11, 150)])
    assert counting.listed == ["live/"] and counting.calls["get"] <= 4


def test_a_run_writes_each_record_once_and_its_head_per_update(tmp_path: Path) -> None:
    counting = Counting(tmp_path)
    store = BlobStateStore(counting)
    store.create_run(Run(id="run-x", pipeline="p", status="running", created_at=T0))
    store.create_nodes("run-x", [Node("run-x", f"n{i}") for i in range(40)])
    for i in range(40):
        store.update_node("run-x", f"n{i}", {"status": "running"}, ("node_started", {}))
        store.update_node("run-x", f"n{i}", {"status": "done", "outcome": "success"},
                          ("node_succeeded", {}))
    for beat in range(30):
        store.update_run("run-x", {"last_heartbeat_at": T0 + beat})
    store.update_run("run-x", {"status": "success"})
    records = {k: n for k, n in counting.writes.items() if k.startswith("runlog/")}
    assert len(records) == 81 and set(records.values()) == {1}
    heads = {k: n for k, n in counting.writes.items() if k.startswith("runs/")}
    assert list(heads.values()) == [32]  # create + 30 beats + the end: one object per run
    segments = [k for k in counting.writes if k.startswith("runseg/")]
    assert len(segments) == 81 // SEGMENT == 1 and counting.writes[segments[0]] == 1
    # a reader that starts from nothing gets everything from one segment and the records after
    counting.reset()
    fresh = BlobStateStore(counting)
    assert [n.outcome for n in fresh.list_nodes("run-x")] == ["success"] * 40
    # the head, the segment, the 17 records after it, and the misses of the last probe batch
    assert counting.calls["get"] <= 1 + 1 + (81 - SEGMENT) + 32


def test_rollups_are_rewritten_only_when_enough_heads_changed(tmp_path: Path) -> None:
    writer = BlobStateStore(DirBlobStore(tmp_path))
    for i in range(ROLLUP_REWRITE - 1):
        writer.create_run(Run(id=run_id(1, i), pipeline="p"))
    counting = Counting(tmp_path)
    BlobStateStore(counting).list_runs()
    assert not [k for k in counting.writes if k.startswith("rollups/")]
    writer.create_run(Run(id=run_id(1, 99), pipeline="p"))
    counting.reset()
    BlobStateStore(counting).list_runs()
    assert [k for k in counting.writes if k.startswith("rollups/")] == ["rollups/run-20240101.json"]


def test_a_chatty_writer_makes_a_few_parts_not_one_per_line(tmp_path: Path) -> None:
    logs = BlobLogStore(DirBlobStore(tmp_path), flush_interval=0.25)
    writer = logs.writer("run-chatty", "job")
    lines = [make_record(f"line {i}", node="job", ts=T0 + i) for i in range(300)]
    start = time.monotonic()
    for rec in lines:
        writer.write([rec])
        writer.flush()  # as the node logger does after every batch of output
        time.sleep(0.004)
    elapsed = time.monotonic() - start
    writer.close()
    parts = DirBlobStore(tmp_path).list_page("logs/run-chatty/job/").items
    assert 1 < len(parts) <= elapsed / 0.25 + 2
    assert logs.read("run-chatty", "job").lines == lines
    # offsets taken part way through keep working across the parts
    half = logs.read("run-chatty", "job", limit=150)
    rest = logs.read("run-chatty", "job", half.next_offset)
    assert half.lines + rest.lines == lines
    assert logs.tail("run-chatty", "job", 3) == lines[-3:]
    logs.close()


def test_a_deferred_flush_becomes_visible_within_the_interval(tmp_path: Path) -> None:
    logs = BlobLogStore(DirBlobStore(tmp_path), flush_interval=0.3)
    reader = BlobLogStore(DirBlobStore(tmp_path))
    writer = logs.writer("run-d", "job")
    first, second = make_record("one", ts=T0), make_record("two", ts=T0 + 1)
    writer.write([first])
    writer.flush()  # the first flush uploads at once
    assert reader.read("run-d", "job").lines == [first]
    writer.write([second])
    writer.flush()  # within the interval: uploaded by the flusher thread shortly
    deadline = time.monotonic() + 10
    while reader.read("run-d", "job").lines != [first, second]:
        assert time.monotonic() < deadline, "the deferred part never arrived"
        time.sleep(0.05)
    writer.close()
    logs.close()


def test_a_batch_of_writes_is_one_record(tmp_path: Path) -> None:
    from sparkwing.errors import NotFoundError
    from sparkwing.storage.contracts import StateWrite
    from sparkwing.storage.records import Step

    counting = Counting(tmp_path)
    store = BlobStateStore(counting)
    store.create_run(Run(id="run-b", pipeline="p", status="running", created_at=T0))
    store.create_nodes("run-b", [Node("run-b", "a"), Node("run-b", "b")])
    store.append_event("run-b", "first", {})
    counting.reset()
    store.write_batch([
        StateWrite("run-b", "a", fields={"status": "running"}, event=("node_started", {}),
                   ts=T0 + 1),
        StateWrite("run-b", "a", step=Step("run-b", "a", "compile"), event=("step", {})),
        StateWrite("run-b", "b", event=("note", {"x": 1})),
        StateWrite("run-b", "b", fields={"status": "done", "outcome": "success"}),
    ])
    assert len([k for k in counting.writes if k.startswith("runlog/")]) == 1
    assert counting.calls["put"] == 1  # one record, one put
    reader = BlobStateStore(DirBlobStore(tmp_path))
    events = reader.list_events("run-b")
    assert [(e.seq, e.kind, e.node_id) for e in events] == [
        (1, "first", ""), (2, "node_started", "a"), (3, "step", "a"), (4, "note", "b")]
    assert events[1].ts == T0 + 1
    assert [(n.status, n.outcome) for n in reader.list_nodes("run-b")] == [
        ("running", ""), ("done", "success")]
    assert [s.step_id for s in reader.list_steps("run-b", "a")] == ["compile"]
    # a write on a missing node fails the whole batch, and nothing of it lands
    with pytest.raises(NotFoundError):
        store.write_batch([StateWrite("run-b", "a", event=("lost", {})),
                           StateWrite("run-b", "ghost", fields={"status": "running"})])
    assert [e.kind for e in reader.list_events("run-b")][-1] == "note"

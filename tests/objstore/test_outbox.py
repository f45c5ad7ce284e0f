"""The outbox: a store taken away mid-run loses nothing and duplicates nothing."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Any

import pytest
from sparkwing.errors import StoreError
from sparkwing.storage.blobs.artifacts import BlobArtifactStore
from sparkwing.storage.blobs.contracts import BlobInfo, BlobUnavailable
from sparkwing.storage.blobs.dirstore import DirBlobStore
from sparkwing.storage.blobs.link import Link
from sparkwing.storage.blobs.logs import BlobLogStore
from sparkwing.storage.blobs.outbox import Outbox, Target
from sparkwing.storage.blobs.state import BlobStateStore
from sparkwing.storage.logrecord import make_record
from sparkwing.storage.records import Approval, Node, Run, Step
from sparkwing.testing.blobstores import Switchable

T0 = 1_700_000_000.0


class LandsThenFails:
    """Blob store whose next write lands and then reports the store unreachable (a timeout)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.trip = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, key: str, data: bytes, **kw: Any) -> BlobInfo:
        info: BlobInfo = self.inner.put(key, data, **kw)
        if self.trip:
            self.trip -= 1
            raise BlobUnavailable("timed out waiting for the answer")
        return info


class Rig:
    """One dir store behind a switch, and stores linked to one home's outbox."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "store"
        self.down = tmp / "down"
        self.box = Outbox(tmp / "home")

    def blobs(self, prefix: str) -> Switchable:
        return Switchable(DirBlobStore(self.root, prefix), self.down)

    def link(self, surface: str, retry_first: float = 0.01) -> Link:
        target = Target(f"t-{surface}", surface, "dir", "team", str(self.tmp))
        return Link(self.box, target, surface, retry_first=retry_first)

    def go_down(self) -> None:
        self.down.touch()

    def come_back(self) -> None:
        self.down.unlink()
        time.sleep(0.05)  # past the first retry delay

    def state(self) -> BlobStateStore:
        return BlobStateStore(self.blobs("state"), link=self.link("state"))

    def fresh_state(self) -> BlobStateStore:
        return BlobStateStore(DirBlobStore(self.root, "state"))


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_state_writes_during_an_outage_land_once_when_the_store_returns(rig: Rig) -> None:
    store = rig.state()
    store.create_run(Run(id="run-a", pipeline="p", status="running", created_at=T0))
    store.create_nodes("run-a", [Node("run-a", "build"), Node("run-a", "test", deps=["build"])])
    assert store.update_node("run-a", "build", {"status": "running"}, ("node_started", {})) == 1

    rig.go_down()
    assert store.update_node("run-a", "build", {"status": "done", "outcome": "success"},
                             ("node_succeeded", {"ms": 5})) == 2
    store.upsert_step(Step("run-a", "test", "unit", status="passed"))
    assert store.append_event("run-a", "note", {"n": 1}) == 3
    for beat in range(20):
        store.update_run("run-a", {"last_heartbeat_at": T0 + beat})
    store.update_node("run-a", "test", {"status": "done", "outcome": "success"})
    store.update_run("run-a", {"status": "success", "finished_at": T0 + 30})
    store.create_approval(Approval("run-a", "test", requested_at=T0))
    # the run reads its own writes while the store is away
    run = store.get_run("run-a")
    assert run is not None and run.status == "success"
    assert [n.outcome for n in store.list_nodes("run-a")] == ["success", "success"]
    assert [e.seq for e in store.list_events("run-a")] == [1, 2, 3]
    approval = store.get_approval("run-a", "test")
    assert approval is not None and approval.resolution == ""
    # heartbeats while down were merged into one entry
    assert rig.box.pending("t-state") < 12
    with pytest.raises(StoreError, match="unreachable"):
        store.list_runs()

    rig.come_back()
    store.append_event("run-a", "after", {})  # the next write replays the outbox first
    assert rig.box.pending("t-state") == 0
    fresh = rig.fresh_state()
    run = fresh.get_run("run-a")
    assert run is not None and (run.status, run.finished_at, run.last_heartbeat_at) == (
        "success", T0 + 30, T0 + 19)
    nodes = fresh.list_nodes("run-a")
    assert [(n.node_id, n.status, n.outcome) for n in nodes] == [
        ("build", "done", "success"), ("test", "done", "success")]
    assert [(e.seq, e.kind) for e in fresh.list_events("run-a")] == [
        (1, "node_started"), (2, "node_succeeded"), (3, "note"), (4, "after")]
    assert [s.step_id for s in fresh.list_steps("run-a")] == ["unit"]
    assert fresh.get_approval("run-a", "test") is not None
    assert [r.id for r in fresh.list_runs()] == ["run-a"]
    store.close()


def test_a_write_that_landed_before_the_error_is_not_replayed_twice(rig: Rig) -> None:
    flaky = LandsThenFails(rig.blobs("state"))
    store = BlobStateStore(flaky, link=rig.link("state", retry_first=0.5))
    store.create_run(Run(id="run-b", pipeline="p", created_at=T0))
    store.create_nodes("run-b", [Node("run-b", "n")])
    flaky.trip = 1
    store.update_node("run-b", "n", {"attempts": 1}, ("node_started", {}))  # lands, then "fails"
    store.append_event("run-b", "twice?", {})  # queued behind it, not tried
    assert rig.box.pending("t-state") == 2
    time.sleep(0.6)
    store.append_event("run-b", "later", {})
    assert rig.box.pending("t-state") == 0
    events = rig.fresh_state().list_events("run-b")
    assert [e.kind for e in events] == ["node_started", "twice?", "later"]
    assert [e.seq for e in events] == [1, 2, 3]


def test_create_run_replayed_after_it_landed_is_not_a_duplicate(rig: Rig) -> None:
    flaky = LandsThenFails(rig.blobs("state"))
    store = BlobStateStore(flaky, link=rig.link("state"))
    flaky.trip = 3  # bucket marker, live marker and head all "fail" after landing
    store.create_run(Run(id="run-c", pipeline="p", status="running", created_at=T0))
    time.sleep(0.05)
    store.update_run("run-c", {"status": "success"})
    assert rig.box.pending("t-state") == 0
    assert rig.box.summary() == []
    run = rig.fresh_state().get_run("run-c")
    assert run is not None and run.status == "success"


def test_log_parts_queue_in_order_and_replay_once(rig: Rig) -> None:
    logs = BlobLogStore(rig.blobs("logs"), link=rig.link("logs"), flush_interval=0.0)
    writer = logs.writer("run-l", "job")
    lines = [make_record(f"line {i}", node="job", ts=T0 + i) for i in range(30)]
    for rec in lines[:10]:
        writer.write([rec])
        writer.flush()
    rig.go_down()
    for rec in lines[10:20]:
        writer.write([rec])
        writer.flush()
    assert rig.box.pending("t-logs") == 10
    rig.come_back()
    for rec in lines[20:]:
        writer.write([rec])
        writer.flush()
    writer.close()
    assert rig.box.pending("t-logs") == 0
    reader = BlobLogStore(DirBlobStore(rig.root, "logs"))
    assert reader.read("run-l", "job").lines == lines
    assert reader.streams("run-l") == ["job"]


def test_a_log_part_that_landed_is_not_uploaded_again(rig: Rig) -> None:
    flaky = LandsThenFails(rig.blobs("logs"))
    logs = BlobLogStore(flaky, link=rig.link("logs"), flush_interval=0.0)
    first = [make_record("first", node="j", ts=T0)]
    second = [make_record("second", node="j", ts=T0 + 1)]
    flaky.trip = 1
    logs.append("run-m", "j", first)
    assert rig.box.pending("t-logs") == 1
    time.sleep(0.05)
    logs.append("run-m", "j", second)
    assert rig.box.pending("t-logs") == 0
    reader = BlobLogStore(DirBlobStore(rig.root, "logs"))
    assert reader.read("run-m", "j").lines == first + second


def test_artifacts_written_while_down_are_readable_at_once_and_stored_later(rig: Rig) -> None:
    cache = BlobArtifactStore(rig.blobs("cache"), link=rig.link("cache"))
    cache.put("keep/me", b"before")
    rig.go_down()
    digest = cache.put_blob(b"built while the store was away")
    cache.put("keep/me", b"after")
    cache.put("new/key", b"fresh")
    assert cache.delete("keep/gone") is False
    assert cache.get_blob(digest) == b"built while the store was away"
    assert cache.get("keep/me") == b"after" and cache.exists("new/key")
    assert rig.box.pending("t-cache") == 4
    rig.come_back()
    cache.close()  # closing replays what waits
    assert rig.box.pending("t-cache") == 0
    other = BlobArtifactStore(DirBlobStore(rig.root, "cache"))
    assert other.get_blob(digest) == b"built while the store was away"
    assert other.get("keep/me") == b"after" and other.get("new/key") == b"fresh"
    assert other.list("") == ["keep/me", "new/key"]


def test_the_outbox_file_is_owner_only(rig: Rig) -> None:
    store = rig.state()
    rig.go_down()
    store.create_run(Run(id="run-o", pipeline="p"))
    mode = stat.S_IMODE(rig.box.path.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE((rig.tmp / "home").stat().st_mode) == 0o700


def test_an_entry_that_can_never_apply_is_set_aside(rig: Rig) -> None:
    store = rig.state()
    store.create_run(Run(id="run-x", pipeline="p"))
    store.create_nodes("run-x", [Node("run-x", "a")])
    rig.go_down()
    store.update_node("run-x", "a", {"status": "running"})
    rig.come_back()
    rig.fresh_state().delete_run("run-x")  # the run is gone before the replay
    store.create_run(Run(id="run-y", pipeline="p"))  # replays: the node update cannot apply
    summary = rig.box.summary()
    assert [(s["pending"], s["failed"]) for s in summary] == [(0, 1)]
    assert "run-x" in summary[0]["last_error"]
    assert rig.fresh_state().get_run("run-y") is not None

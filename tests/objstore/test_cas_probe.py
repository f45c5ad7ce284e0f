"""The conditional-write probe, and what the state store does on a store that ignores conditions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sparkwing.storage.blobs import probe
from sparkwing.storage.blobs.contracts import BlobInfo
from sparkwing.storage.blobs.dirstore import DirBlobStore
from sparkwing.storage.blobs.memory import MemoryBlobStore
from sparkwing.storage.blobs.probe import ConditionalWritesRequired
from sparkwing.storage.blobs.state import BlobStateStore
from sparkwing.storage.records import Approval, Node, Run
from sparkwing.testing.blobstores import IgnoringConditions

T0 = 1_700_000_000.0


@pytest.fixture(autouse=True)
def _fresh_verdicts() -> None:
    probe.forget()


def test_the_probe_passes_on_dir_and_memory(tmp_path: Path) -> None:
    for store in (DirBlobStore(tmp_path), MemoryBlobStore()):
        found = probe.probe(store)
        assert found.honoured, found.detail
        assert [i.key for i in store.list_page("meta/").items] == []  # the probe cleans up


def test_the_probe_catches_a_store_that_ignores_conditions(tmp_path: Path) -> None:
    found = probe.probe(IgnoringConditions(DirBlobStore(tmp_path)))
    assert not found.honoured
    assert found.detail == "a second create-only write of one key succeeded"


def test_the_verdict_is_kept_in_the_store_and_reused(tmp_path: Path) -> None:
    lying = IgnoringConditions(DirBlobStore(tmp_path, "team"))
    first = probe.verdict(lying, "t1")
    assert first is not None and not first.honoured
    stored = DirBlobStore(tmp_path, "team").get(probe.VERDICT_KEY)
    assert stored is not None and b'"honoured":false' in stored.data
    probe.forget()  # another process: reads the stored verdict instead of probing
    again = probe.verdict(lying, "t1")
    assert again == first
    # an honest store under another prefix has its own verdict
    honest = probe.verdict(DirBlobStore(tmp_path, "other"), "t2")
    assert honest is not None and honest.honoured


class CountingProbes(DirBlobStore):
    """A dir store that counts the probe's create-only writes."""

    probes = 0

    def put(self, key: str, data: bytes, **kw: Any) -> BlobInfo:
        if key.startswith("meta/probe/") and kw.get("if_none_match"):
            CountingProbes.probes += 1
        return super().put(key, data, **kw)


def test_a_stale_verdict_is_probed_again(tmp_path: Path) -> None:
    store = CountingProbes(tmp_path)
    CountingProbes.probes = 0
    first = probe.verdict(store, "t")
    assert first is not None and CountingProbes.probes == 2  # create, then create again
    probe.forget()
    assert probe.verdict(store, "t") == first and CountingProbes.probes == 2  # stored: reused
    probe.forget()
    later = probe.verdict(store, "t", now=first.probed_at + probe.TTL_S + 1)
    assert later is not None and later.honoured and CountingProbes.probes == 4


def _lying_state(root: Path, host: str = "") -> BlobStateStore:
    return BlobStateStore(IgnoringConditions(DirBlobStore(root)), target=str(root),
                          host=host or None)


def test_runs_still_record_last_writer_wins(tmp_path: Path) -> None:
    store = _lying_state(tmp_path)
    store.create_run(Run(id="run-1", pipeline="p", status="running", created_at=T0))
    store.create_nodes("run-1", [Node("run-1", "a"), Node("run-1", "b")])
    assert store.update_node("run-1", "a", {"status": "done"}, ("node_done", {})) == 1
    assert store.append_event("run-1", "k", {}) == 2
    store.update_run("run-1", {"status": "success"})
    run = store.get_run("run-1")
    assert run is not None and run.status == "success"
    assert [n.status for n in store.list_nodes("run-1")] == ["done", "pending"]
    with pytest.raises(Exception, match="already exists"):
        store.create_run(Run(id="run-1", pipeline="again"))


def test_global_and_box_groups_are_refused_in_one_line(tmp_path: Path) -> None:
    store = _lying_state(tmp_path)
    for key, scope in (("g:deploy", "global"), ("b:host-1:db", "box")):
        with pytest.raises(ConditionalWritesRequired) as info:
            store.concurrency_acquire(key, "run-1/a", capacity=1, cost=1, lease_s=30, now=T0)
        text = str(info.value)
        assert "\n" not in text
        assert text.startswith(f"the {scope}-scoped concurrency group")
        assert "needs conditional writes, which this dir store ignores" in text


def test_memo_dedupe_degrades_to_each_process_computing(tmp_path: Path) -> None:
    one, two = _lying_state(tmp_path), _lying_state(tmp_path)
    kw = {"capacity": 1, "cost": 1, "lease_s": 30.0, "now": T0}
    assert one.concurrency_acquire("memo:k", "run-1/a", **kw).granted  # type: ignore[arg-type]
    assert two.concurrency_acquire("memo:k", "run-2/a", **kw).granted  # type: ignore[arg-type]
    # within one process the key still coordinates
    assert not one.concurrency_acquire("memo:k", "run-3/a", **kw).granted  # type: ignore[arg-type]
    one.concurrency_release("memo:k", "run-1/a")
    assert one.concurrency_acquire("memo:k", "run-3/a", **kw).granted  # type: ignore[arg-type]
    # run-scoped groups are decided in the run's own process
    assert one.concurrency_acquire("r:run-1:g", "run-1/x", **kw).granted  # type: ignore[arg-type]


def test_approving_from_another_machine_is_refused(tmp_path: Path) -> None:
    runner = _lying_state(tmp_path, host="ci-runner-7")
    runner.create_run(Run(id="run-1", pipeline="p", status="running"))
    runner.create_nodes("run-1", [Node("run-1", "gate", kind="approval")])
    runner.create_approval(Approval("run-1", "gate", requested_at=T0))
    laptop = _lying_state(tmp_path, host="laptop")
    with pytest.raises(ConditionalWritesRequired, match="approving a run from another machine"):
        laptop.resolve_approval("run-1", "gate", "approved", "ada", "", T0 + 1)
    got = laptop.get_approval("run-1", "gate")
    assert got is not None and got.resolution == ""
    # on the runner's own machine (its timeout, or a local approver) it still resolves
    assert runner.resolve_approval("run-1", "gate", "timed_out", "", "", T0 + 2)


def test_an_honest_store_allows_all_of_it(tmp_path: Path) -> None:
    runner = BlobStateStore(DirBlobStore(tmp_path), host="ci-runner-7")
    runner.create_run(Run(id="run-1", pipeline="p", status="running"))
    runner.create_approval(Approval("run-1", "gate", requested_at=T0))
    laptop = BlobStateStore(DirBlobStore(tmp_path), host="laptop")
    assert laptop.resolve_approval("run-1", "gate", "approved", "ada", "", T0 + 1)
    assert laptop.concurrency_acquire("g:deploy", "h", capacity=1, cost=1, lease_s=9,
                                      now=T0).granted


def test_trigger_rows_record_but_claims_are_refused(tmp_path: Path) -> None:
    from sparkwing.storage.records import TriggerRow

    store = _lying_state(tmp_path)
    row = TriggerRow(id="trg-1", idempotency_key="manual:1", pipeline="p", created_at=T0)
    assert store.insert_trigger(row) == (row, True)
    again, created = store.insert_trigger(
        TriggerRow(id="trg-2", idempotency_key="manual:1", pipeline="p", created_at=T0))
    assert (again.id, created) == ("trg-1", False)  # the key is looked for first
    with pytest.raises(ConditionalWritesRequired, match="claiming queued run requests"):
        store.claim_trigger("worker", lease_s=30, now=T0)

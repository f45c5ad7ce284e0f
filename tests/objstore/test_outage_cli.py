"""The store goes away in the middle of a real run and comes back after it: nothing is lost.

The ``team`` profile uses the ``dir-switchable`` test plugin (a ``dir``
store that is unreachable while a file exists). A job takes the store down
half way through its output; the run finishes on the outbox; the store
comes back; the next command replays the outbox; every node row and every
log line is in the store exactly once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sparkwing.storage.blobs.dirstore import DirBlobStore
from sparkwing.storage.blobs.logs import BlobLogStore
from sparkwing.storage.blobs.state import BlobStateStore
from sparkwing.storage.contracts import ENVELOPE
from sparkwing.storage.logrecord import parse_record

TALK = """
import sparkwing as sw

def plan(plan, inputs, run):
    talk = plan.job("talk", sw.sh(
        'for i in $(seq -w 0 39); do echo line-$i; '
        'if [ $i = 10 ]; then touch "$DOWN_FILE"; fi; sleep 0.05; done'))
    plan.job("after", sw.sh("for i in 1 2 3 4 5; do echo after-$i; done")).needs(talk)
"""


def run_id_of(out: str) -> str:
    for line in out.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "run_finish":
            return str(rec["attrs"]["run_id"])
    raise AssertionError(f"no run_finish record in:\n{out}")


def output_lines(logs: BlobLogStore, run_id: str, node: str) -> list[str]:
    recs = [parse_record(x) for x in logs.read(run_id, node).lines]
    return [r["msg"] for r in recs if r.get("event") == "exec_line"]


def test_a_run_survives_an_outage_and_the_next_command_sends_everything(
    switchable_machine: Any,
) -> None:
    machine, store, down = switchable_machine
    machine.add_pipeline("talk", TALK)
    res = machine.cli("run", "talk", "--profile", "team", "-o", "json", DOWN_FILE=str(down))
    assert res.code == 0, res.err
    assert down.exists()  # the store went away during the run and is still away
    assert "wait in the outbox" in res.err and "sparkwing outbox flush" in res.err
    run_id = run_id_of(res.out)

    state = BlobStateStore(DirBlobStore(store, "state"))
    seen = state.get_run(run_id)
    assert seen is not None and seen.status == "running"  # the rest is in the outbox

    status = machine.cli("outbox", "status", "-o", "json").json()
    assert status["pending"] > 0 and status["failed"] == 0
    assert {t["surface"] for t in status["targets"]} >= {"state", "logs"}
    flush = machine.cli("outbox", "flush", "-o", "json")
    assert flush.code == 1 and flush.json()["remaining"] == status["pending"]

    down.unlink()  # the store is back
    listed = machine.cli("runs", "list", "--profile", "team", "-o", "json")
    assert listed.code == 0, listed.err
    [row] = listed.ndjson()
    assert (row["id"], row["status"]) == (run_id, "success")
    assert machine.cli("outbox", "status", "-o", "json").json()["pending"] == 0
    again = machine.cli("outbox", "flush")
    assert again.code == 0 and "nothing to send" in again.out

    state = BlobStateStore(DirBlobStore(store, "state"))
    run = state.get_run(run_id)
    assert run is not None and run.status == "success" and run.finished_at
    nodes = {n.node_id: n for n in state.list_nodes(run_id)}
    assert [(k, n.status, n.outcome) for k, n in nodes.items()] == [
        ("talk", "done", "success"), ("after", "done", "success")]
    events = state.list_events(run_id, limit=0)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    per_node = [(e.kind, e.node_id) for e in events if e.kind.startswith("node_")]
    assert sorted(per_node) == [("node_started", "after"), ("node_started", "talk"),
                                ("node_succeeded", "after"), ("node_succeeded", "talk")]
    assert [e.kind for e in events].count("run_started") == 1
    logs = BlobLogStore(DirBlobStore(store, "logs"))
    assert output_lines(logs, run_id, "talk") == [f"line-{i:02d}" for i in range(40)]
    assert output_lines(logs, run_id, "after") == [f"after-{i}" for i in range(1, 6)]
    envelope = [parse_record(x).get("event") for x in logs.read(run_id, ENVELOPE).lines]
    assert envelope.count("run_start") == 1 and envelope.count("run_finish") == 1
    assert sorted(logs.streams(run_id)) == ["", "after", "talk"]


def test_outbox_status_and_flush_on_an_empty_home(switchable_machine: Any) -> None:
    machine, _, _ = switchable_machine
    status = machine.cli("outbox", "status")
    assert status.code == 0 and "outbox is empty" in status.out
    flush = machine.cli("outbox", "flush", "-o", "json")
    assert flush.code == 0 and flush.json() == {
        "targets": [], "replayed": 0, "remaining": 0, "failed": 0}
    assert not (Path(machine.env["SPARKWING_HOME"]) / "outbox.db").exists()

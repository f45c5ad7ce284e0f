"""moto goes away in the middle of a real run and comes back after it: nothing is lost.

A real ``sparkwing run`` on an ``s3`` profile: its first job prints eleven
lines, then tells the test (a file) and waits; the test takes the moto
server off the network (listening socket closed, open connections cut,
objects kept) and lets the job go on. The run finishes on the outbox. The
server comes back on the same port with the same objects; the next command
replays the outbox; every node row, event and log line is in the bucket
exactly once (a drop or a duplicate fails the exact comparisons below), and
the memoized output stored during the outage is replayed by the next run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sparkwing.storage.blobs.logs import BlobLogStore
from sparkwing.storage.contracts import ENVELOPE
from sparkwing.storage.logrecord import parse_record
from sparkwing.testing.procs import wait_for
from sparkwing.testing.teamhomes import make_home
from sparkwing_s3.settings import parse_settings
from sparkwing_s3.testing import MotoS3, log_store, state_store

TALK = """
import sparkwing as sw

def keep(ctx):
    return {"value": 42}

def plan(plan, inputs, run):
    talk = plan.job("talk", sw.sh(
        'for i in $(seq -w 0 39); do echo line-$i; '
        'if [ $i = 10 ]; then touch "$DOWN_FILE"; '
        'for w in $(seq 1200); do [ -e "$GO_FILE" ] && break; sleep 0.1; done; fi; done'))
    plan.job("after", sw.sh("for i in 1 2 3 4 5; do echo after-$i; done")).needs(talk)
    plan.job("keep", keep).needs(talk).memoize(lambda ctx: sw.key("keep", "outage-v1"))
"""

BUCKET = "sw-outage"


@pytest.fixture
def own_moto(aws_env: None) -> Iterator[MotoS3]:
    """A moto server of this test alone (the test takes it down and up again)."""
    with MotoS3() as server:
        server.create_bucket(BUCKET)
        yield server


def block(server: MotoS3, surface: str) -> dict[str, object]:
    """The profile block of *surface* (state, logs, cache) on the test's bucket."""
    return {"type": "s3", "bucket": BUCKET, "endpoint_url": server.endpoint_url,
            "prefix": f"team/{surface}", "retries": 0, "timeout": 5}


def profiles(server: MotoS3) -> str:
    lines = ["profiles:", "  team:"]
    for surface in ("state", "logs", "cache"):
        b = block(server, surface)
        lines.append(f"    {surface}: " + json.dumps(b))
    return "\n".join(lines) + "\n"


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


def test_a_run_survives_a_moto_outage_and_the_next_command_sends_everything(
        own_moto: MotoS3, tmp_path: Path) -> None:
    down, go = tmp_path / "moto-is-going-down", tmp_path / "moto-is-down"
    home = make_home(tmp_path, "m", profiles(own_moto), DOWN_FILE=str(down), GO_FILE=str(go),
                     SPARKWING_OUTBOX_RETRY_FIRST_S="0.2", SPARKWING_OUTBOX_RETRY_MAX_S="0.5")
    project = tmp_path / "m" / "project"
    (project / ".sparkwing" / "pipelines").mkdir(parents=True)
    (project / ".sparkwing" / "pipelines" / "talk.py").write_text(TALK)
    (project / ".sparkwing" / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: talk\n    entrypoint: pipelines.talk:plan\n")

    proc = home.start("run", "talk", "--profile", "team", "-o", "json", cwd=project)
    try:
        wait_for(lambda: down.exists() or proc.poll() is not None, timeout=300)
        assert down.exists(), proc.communicate()
        own_moto.pause()  # the store is gone in the middle of job "talk"
        go.touch()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert "wait in the outbox" in err and "sparkwing outbox flush" in err, err[-3000:]
    run_id = run_id_of(out)

    status = json.loads(home.cli("outbox", "status", "-o", "json").stdout)
    assert status["pending"] > 0 and status["failed"] == 0, status
    assert {t["surface"] for t in status["targets"]} >= {"state", "logs"}
    flush = home.cli("outbox", "flush", "-o", "json")  # still down: nothing goes
    assert flush.returncode == 1 and json.loads(flush.stdout)["remaining"] == status["pending"]

    own_moto.resume()  # same port, same objects
    listed = home.cli("runs", "list", "--profile", "team", "-o", "json", cwd=project)
    assert listed.returncode == 0, listed.stderr
    [row] = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert (row["id"], row["status"]) == (run_id, "success")
    assert json.loads(home.cli("outbox", "status", "-o", "json").stdout)["pending"] == 0
    again = home.cli("outbox", "flush")
    assert again.returncode == 0 and "nothing to send" in again.stdout

    # What is in the bucket, read straight from moto.
    state = state_store(parse_settings(block(own_moto, "state"), "team"))
    logs = log_store(parse_settings(block(own_moto, "logs"), "team"))
    try:
        run = state.get_run(run_id)
        assert run is not None and run.status == "success" and run.finished_at
        nodes = {n.node_id: n for n in state.list_nodes(run_id)}
        assert sorted((k, n.status, n.outcome) for k, n in nodes.items()) == [
            ("after", "done", "success"), ("keep", "done", "success"),
            ("talk", "done", "success")]
        events = state.list_events(run_id, limit=0)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        per_node = [(e.kind, e.node_id) for e in events if e.kind.startswith("node_")]
        assert sorted(per_node) == sorted((kind, node) for kind in ("node_started",
                                                                    "node_succeeded")
                                          for node in ("after", "keep", "talk"))
        assert [e.kind for e in events].count("run_started") == 1
        assert output_lines(logs, run_id, "talk") == [f"line-{i:02d}" for i in range(40)]
        assert output_lines(logs, run_id, "after") == [f"after-{i}" for i in range(1, 6)]
        envelope = [parse_record(x).get("event") for x in logs.read(run_id, ENVELOPE).lines]
        assert envelope.count("run_start") == 1 and envelope.count("run_finish") == 1
        assert sorted(logs.streams(run_id)) == ["", "after", "keep", "talk"]

        # The memoized output stored while moto was away reached the bucket: a new run
        # (nothing waits in the outbox any more) replays it instead of computing it.
        second = home.cli("run", "talk", "--profile", "team", "-o", "json", cwd=project)
        assert second.returncode == 0, second.stderr[-3000:]
        outcomes = {n.node_id: n.outcome for n in state.list_nodes(run_id_of(second.stdout))}
        assert outcomes == {"talk": "success", "after": "success", "keep": "cached"}
    finally:
        state.close()
        logs.close()

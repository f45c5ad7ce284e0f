"""Orphan reconciliation: runs whose process died, or whose heartbeat went stale."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from sparkwing.orchestrator.reconcile import died_message, pid_alive, reconcile
from sparkwing.storage.records import Node, Run

from .conftest import descendants, kill_quietly


def _runs(env) -> dict[str, dict]:
    proc = env.cli("runs", "list", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return {r["id"]: r for r in map(json.loads, proc.stdout.splitlines())}


def test_kill_9_of_a_run_is_reconciled_on_the_next_read(clienv) -> None:
    proc = clienv.start("run", "slow", "-o", "json")
    run_id = clienv.wait_node_running(None, "sleepy")
    # a read while the process lives changes nothing
    assert _runs(clienv)[run_id]["status"] == "running"
    children = descendants(proc.pid)
    assert children, "the sleeping job should have a process"
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        runs = _runs(clienv)
    finally:
        kill_quietly(children)
    run = runs[run_id]
    assert run["status"] == "failed"
    assert run["error"] == f"the sparkwing process running this run died (pid {proc.pid})"
    assert run["finished_at"] is not None
    with clienv.state() as st:
        nodes = {n.node_id: n for n in st.list_nodes(run_id)}
        events = [e.kind for e in st.list_events(run_id)]
    assert (nodes["quick"].status, nodes["quick"].outcome) == ("done", "success")
    for nid in ("sleepy", "after"):
        assert (nodes[nid].status, nodes[nid].outcome) == ("done", "cancelled"), nid
        assert "died" in nodes[nid].error
    assert events.count("run_finished") == 1
    # the exit status of a later status read is honest
    assert clienv.cli("runs", "status", "--run", run_id).returncode == 1


def _stale_run(st, run_id: str, *, host: str, pid: int, heartbeat_age: float,
               created_age: float = 0.0) -> None:
    now = time.time()
    st.create_run(Run(id=run_id, pipeline="ok", status="running", host=host, pid=pid,
                      created_at=now - max(created_age, heartbeat_age),
                      started_at=now - max(created_age, heartbeat_age),
                      last_heartbeat_at=now - heartbeat_age))
    st.create_nodes(run_id, [Node(run_id, "first", status="running", started_at=now - 100),
                             Node(run_id, "second")])


def test_stale_heartbeat_is_reaped_after_60s_by_default(clienv) -> None:
    with clienv.state() as st:
        _stale_run(st, "run-20200101-000000-00000001", host="elsewhere", pid=1,
                   heartbeat_age=120)
        _stale_run(st, "run-20200101-000000-00000002", host="elsewhere", pid=1,
                   heartbeat_age=30)
    runs = _runs(clienv)
    assert runs["run-20200101-000000-00000001"]["status"] == "failed"
    assert "no heartbeat" in runs["run-20200101-000000-00000001"]["error"]
    assert runs["run-20200101-000000-00000002"]["status"] == "running"
    with clienv.state() as st:
        nodes = st.list_nodes("run-20200101-000000-00000001")
        assert {(n.status, n.outcome) for n in nodes} == {("done", "cancelled")}
    # SPARKWING_STALE_AFTER shortens the window
    proc = clienv.cli("runs", "list", "-o", "json", env={"SPARKWING_STALE_AFTER": "10"})
    rows = {r["id"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert rows["run-20200101-000000-00000002"]["status"] == "failed"


def test_stale_after_override_can_lengthen_the_window(clienv) -> None:
    with clienv.state() as st:
        _stale_run(st, "run-20200101-000000-00000003", host="elsewhere", pid=1,
                   heartbeat_age=120)
    proc = clienv.cli("runs", "list", "-o", "json", env={"SPARKWING_STALE_AFTER": "600"})
    assert json.loads(proc.stdout.splitlines()[0])["status"] == "running"


def test_pid_reused_by_a_newer_process_counts_as_dead(clienv) -> None:
    newer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with clienv.state() as st:
            # recorded an hour ago by "a process" whose pid a fresh process now holds
            _stale_run(st, "run-20200101-000000-00000004", host=socket.gethostname(),
                       pid=newer.pid, heartbeat_age=1, created_age=3600)
            # recorded now by a process that started earlier (this test's): alive
            _stale_run(st, "run-20200101-000000-00000005", host=socket.gethostname(),
                       pid=os.getpid(), heartbeat_age=1)
        runs = _runs(clienv)
    finally:
        newer.kill()
        newer.wait()
    assert runs["run-20200101-000000-00000004"]["status"] == "failed"
    assert runs["run-20200101-000000-00000004"]["error"] == died_message(newer.pid)
    assert runs["run-20200101-000000-00000005"]["status"] == "running"


def test_other_hosts_are_left_to_the_heartbeat_rule(clienv) -> None:
    dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_pid.wait()
    with clienv.state() as st:
        _stale_run(st, "run-20200101-000000-00000006", host="another-box", pid=dead_pid.pid,
                   heartbeat_age=1)
        assert reconcile(st) == []
        assert st.get_run("run-20200101-000000-00000006").status == "running"
        done = reconcile(st, host="another-box")
        assert [(r.run_id, r.reason) for r in done] == [("run-20200101-000000-00000006",
                                                         "process_died")]
        assert reconcile(st, host="another-box") == []  # settled once


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(0)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    # exited but not yet waited for: a zombie, which is dead
    while time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.05)
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid)

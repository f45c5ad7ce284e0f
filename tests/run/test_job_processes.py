"""Jobs do not outlive or hang their run: a command that exits while a background process
still holds its output ends its job (the rest dropped with a note, the group killed), and
when ``sparkwing run`` is killed with SIGKILL its jobs' process groups die with it. Real
processes on both the ``local`` and the ``process`` executor, found by a unique argument."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from sparkwing.testing.procs import pids_with_arg, unique_sleep, wait_for

Project = Any

def _messages(project: Project, run_id: str, node: str) -> list[str]:
    return [str(r.get("msg", "")) for r in project.log_records(run_id, node)]


@pytest.mark.parametrize("executor", ["local", "process"])
def test_background_process_holding_output_does_not_hang_the_job(
        project: Project, reaper: list[str], executor: str) -> None:
    arg = unique_sleep()
    reaper.append(arg)
    project.add("bg", f"""
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("serve", sw.sh("echo before; (sleep {arg}; echo never) & echo after"))
            plan.job("next", sw.sh("echo next ran")).needs("serve")
    """)
    r = project.run("run", "bg", "--sw-executor", executor, timeout=120)
    assert r.code == 0, r.err
    run = project.last_run()
    nodes = project.nodes(run.id)
    assert nodes["serve"].outcome == "success" and nodes["next"].outcome == "success"
    msgs = _messages(project, run.id, "serve")
    assert "before" in msgs and "after" in msgs and "never" not in msgs
    note = [m for m in msgs if "still held its output open" in m]
    assert len(note) == 1 and "dropped" in note[0] and "killed" in note[0], msgs
    wait_for(lambda: not pids_with_arg(arg))


def test_body_process_left_holding_node_exec_output_does_not_hang_the_job(
        project: Project, reaper: list[str]) -> None:
    arg = unique_sleep()
    reaper.append(arg)
    project.add("bgbody", f"""
        import subprocess
        import sparkwing as sw
        def start(ctx):
            subprocess.Popen(["sleep", "{arg}"])  # inherits node exec's output pipes
            return "started"
        def plan(plan, inputs, run):
            plan.job("start", start)
    """)
    r = project.run("run", "bgbody", "--sw-executor", "process", timeout=120)
    assert r.code == 0, r.err
    run = project.last_run()
    node = project.nodes(run.id)["start"]
    assert node.outcome == "success" and node.output == "started"
    assert any("still held its output open" in m for m in _messages(project, run.id, "start"))
    wait_for(lambda: not pids_with_arg(arg))


@pytest.mark.parametrize("executor", ["local", "process"])
def test_sigkill_of_sparkwing_kills_its_jobs_process_groups(
        project: Project, reaper: list[str], executor: str) -> None:
    first, second = unique_sleep(), unique_sleep()
    reaper.extend([first, second])
    project.add("hang", f"""
        import subprocess
        import sparkwing as sw
        def work(ctx):
            ctx.sh("sleep {first} & sleep {second} & wait")
        def plan(plan, inputs, run):
            plan.job("work", work)
    """)
    proc = project.popen("run", "hang", "--sw-executor", executor)
    try:
        wait_for(lambda: bool(pids_with_arg(first)) and bool(pids_with_arg(second)), timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    wait_for(lambda: not pids_with_arg(first) and not pids_with_arg(second), timeout=30)

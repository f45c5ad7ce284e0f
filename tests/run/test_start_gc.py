"""Start-up runs without the cyclic garbage collector; jobs run with it (sparkwing.startgc)."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from sparkwing import startgc

Project = Any

PIPELINE = """
    import gc

    def probe(ctx):
        return {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}

    def plan(plan, inputs, run):
        plan.job("probe", probe)
"""


@pytest.mark.parametrize("executor", ["local", "process"])
def test_jobs_run_with_the_collector_on_and_start_up_frozen(project: Project,
                                                             executor: str) -> None:
    project.add("gcprobe", PIPELINE)
    r = project.run("run", "gcprobe", "--sw-executor", executor)
    assert r.code == 0, r.err
    status = project.run("runs", "status", "--run", "latest", "-o", "json")
    assert status.code == 0, status.err
    (node,) = [n for n in json.loads(status.out)["nodes"] if n["node_id"] == "probe"]
    seen = node["output"]
    assert seen["enabled"] is True
    assert seen["frozen"] > 1000  # the modules, classes and functions start-up made


def test_pause_and_resume_leave_a_collector_that_was_off_alone() -> None:
    assert gc.isenabled()
    try:
        gc.disable()
        startgc.pause()  # already off: not ours to turn back on
        startgc.resume()
        assert not gc.isenabled()
    finally:
        gc.enable()
    frozen = gc.get_freeze_count()
    startgc.pause()
    assert not gc.isenabled()
    startgc.resume()
    assert gc.isenabled() and gc.get_freeze_count() >= frozen
    gc.unfreeze()


def test_other_commands_turn_the_collector_back_on_before_they_run(
        capsys: pytest.CaptureFixture[str]) -> None:
    from sparkwing_cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and "sparkwing" in capsys.readouterr().out
    assert gc.isenabled()
    gc.unfreeze()

"""Node observers during a real run: each job's start and outcome reach an installed plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sparkwing.testing.procs import isolated_env

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from conftest import Site

OBSERVER = """
import json, os

import sparkwing

SPARKWING_CONTRACT = 1


def _note(**fields):
    with open(os.environ["SPARKWING_TEST_OBSERVED"], "a") as f:
        f.write(json.dumps(fields) + "\\n")


@sparkwing.hookimpl
def sparkwing_node_started(run, node):
    _note(hook="node_started", run=run.id, node=node.node_id, status=node.status)


@sparkwing.hookimpl
def sparkwing_node_finished(run, node):
    _note(hook="node_finished", run=run.id, node=node.node_id, outcome=node.outcome)
"""

PIPELINE = """
import sparkwing as sw


def plan(plan, inputs, run):
    build = plan.job("build", sw.sh("echo building"))
    plan.job("broken", sw.sh("exit 4")).needs(build)
"""


@pytest.fixture
def observed_run(tmp_path: Path, site: Site) -> tuple[list[dict[str, Any]], Any]:
    """``sparkwing run obs`` with an installed node observer; its notes and the process."""
    site("sparkwing-node-observer", "1.0.0", {"node-observer": "sw_test_node_observer"},
         {"sw_test_node_observer": OBSERVER})
    root = tmp_path / "repo"
    (root / ".sparkwing" / "pipelines").mkdir(parents=True)
    (root / ".sparkwing" / "pipelines" / "obs.py").write_text(PIPELINE)
    (root / ".sparkwing" / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: obs\n    entrypoint: pipelines.obs:plan\n"
    )
    notes = tmp_path / "observed.ndjson"
    proc = subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", "run", "obs", "-o", "json"], cwd=root,
        capture_output=True, text=True, timeout=120,
        env=isolated_env(tmp_path, PYTHONPATH=str(site.root), SPARKWING_TEST_OBSERVED=str(notes)),
    )
    lines = notes.read_text().splitlines() if notes.exists() else []
    return [json.loads(line) for line in lines], proc


def test_node_observers_see_each_job_start_and_reach_its_outcome(observed_run: Any) -> None:
    notes, proc = observed_run
    assert proc.returncode == 1, proc.stderr  # the "broken" job fails the run
    nodes = [(n["hook"], n["node"], n.get("outcome", n.get("status"))) for n in notes]
    assert nodes == [
        ("node_started", "build", "running"), ("node_finished", "build", "success"),
        ("node_started", "broken", "running"), ("node_finished", "broken", "failed"),
    ]
    assert len({n["run"] for n in notes}) == 1

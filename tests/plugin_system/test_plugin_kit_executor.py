"""The executor distribution from ``sparkwing plugin new``, installed and used.

The executor distribution passes its own tests (the executor conformance
suite) and a pipeline runs through it with ``--sw-executor kit-executor``,
each job in its own ``node exec`` process, outputs flowing between jobs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from conftest import Kit

PIPELINE = """
import os

import sparkwing as sw


def plan(plan, inputs, run):
    first = plan.job("first", lambda ctx: {"pid": os.getpid(),
                                           "executor": os.environ.get("SPARKWING_EXECUTOR", "")})
    shell = plan.job("shell", sw.sh('echo "shell ran under $SPARKWING_EXECUTOR"')).needs(first)

    def second(ctx):
        upstream = first.output.get(ctx)
        return {"pid": os.getpid(), "upstream_pid": upstream["pid"],
                "upstream_executor": upstream["executor"]}

    plan.job("second", second).needs(first, shell)
"""


def project(root: Path) -> Path:
    """A project with pipeline ``kit`` (three jobs, an output read downstream)."""
    (root / ".sparkwing" / "pipelines").mkdir(parents=True)
    (root / ".sparkwing" / "pipelines" / "kit.py").write_text(PIPELINE)
    (root / ".sparkwing" / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: kit\n    entrypoint: pipelines.kit:plan\n"
    )
    return root


def sparkwing(kit: Kit, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(kit.venv.sparkwing), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=kit.venv.env())


def runs(kit: Kit, cwd: Path) -> list[dict[str, Any]]:
    proc = sparkwing(kit, cwd, "runs", "list", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_the_generated_distribution_passes_its_own_tests(kit: Kit) -> None:
    proc = subprocess.run(
        [str(kit.venv.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=kit.dists["executor"], capture_output=True, text=True, timeout=900, env=kit.venv.env(),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in [\d.]+s( \(\d+:\d+:\d+\))?", summary), summary


def test_a_pipeline_runs_through_the_generated_executor(kit: Kit, tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    proc = sparkwing(kit, root, "run", "kit", "--sw-executor", "kit-executor", "-o", "json")
    assert proc.returncode == 0, proc.stderr + proc.stdout[-2000:]
    assert "shell ran under kit-executor" in proc.stdout
    (run,) = runs(kit, root)
    assert run["status"] == "success"
    shown = sparkwing(kit, root, "runs", "status", "--run", run["id"], "-o", "json")
    assert shown.returncode == 0, shown.stderr
    nodes = {n["node_id"]: n for n in json.loads(shown.stdout)["nodes"]}
    first, second = nodes["first"]["output"], nodes["second"]["output"]
    assert first["executor"] == "kit-executor"
    assert second["upstream_pid"] == first["pid"] and second["upstream_executor"] == "kit-executor"
    assert second["pid"] != first["pid"]  # each job in its own process

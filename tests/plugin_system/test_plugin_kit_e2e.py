"""Distributions written by ``sparkwing plugin new``, installed into a scratch virtual environment.

The ``kit`` fixture generates one distribution per kind, installs them next
to this checkout's sparkwing with uv (offline, from uv's cache), and these
tests use them as a user would: their own test suites, ``sparkwing
plugins``, ``plugins.required``, a real run through a profile, and the
trigger source firing runs (the executor: ``test_plugin_kit_executor.py``).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from conftest import Kit

SURFACE = {"state": "state", "logs": "logs", "artifacts": "cache"}


@pytest.mark.parametrize("kind", ["state", "logs", "artifacts", "trigger"])
def test_a_generated_distribution_passes_its_own_tests_once_installed(kit: Kit, kind: str) -> None:
    root = kit.dists[kind]
    proc = subprocess.run(
        [str(kit.venv.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root, capture_output=True, text=True, timeout=900, env=kit.venv.env(),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in [\d.]+s( \(\d+:\d+:\d+\))?", summary), summary


def test_sparkwing_plugins_lists_what_each_registers(kit: Kit) -> None:
    proc = kit.venv.run("plugins", "-o", "json")
    assert (proc.returncode, proc.stderr) == (0, "")
    listed = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}
    for kind, surface in {**SURFACE, "executor": "executor", "trigger": "trigger"}.items():
        info = listed[f"kit-{kind}"]
        assert (info["distribution"], info["version"], info["contract"], info["error"]) == (
            f"sparkwing-kit-{kind}", "0.1.0", 1, "",
        )
        expected = {k: [] for k in ("state", "cache", "logs", "executor", "trigger")}
        expected[surface] = [f"kit-{kind}"]
        assert info["registers"] == expected
        assert (info["commands"], info["routes"]) == (kind == "trigger", False)
    every = {kind: sorted(t for p in listed.values() for t in p["registers"][kind])
             for kind in ("executor", "trigger")}
    assert "kit-executor" in every["executor"] and "kit-trigger" in every["trigger"]


def test_sparkwing_plugins_pretty_shows_executors_and_triggers(kit: Kit) -> None:
    proc = kit.venv.run("plugins")
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert "  provides: executor:kit-executor" in lines
    assert "  provides: trigger:kit-trigger" in lines
    assert "  adds:     CLI commands" in lines


def test_plugins_required_accepts_the_generated_set(kit: Kit, tmp_path: Path) -> None:
    project = tmp_path / "repo"
    (project / ".sparkwing").mkdir(parents=True)
    (project / ".sparkwing" / "sparkwing.yaml").write_text(
        "plugins:\n  required:\n"
        + "".join(f"    - 'sparkwing-kit-{k}>=0.1,<0.2'\n" for k in SURFACE)
        + "    - 'sparkwing-kit-queue>=1'\n"
    )
    proc = subprocess.run([str(kit.venv.sparkwing), "plugins", "check", "-o", "json"],
                          cwd=project, capture_output=True, text=True, env=kit.venv.env())
    assert proc.returncode == 2
    out = json.loads(proc.stdout)
    assert [r["status"] for r in out["required"]] == ["ok", "ok", "ok", "missing"]
    assert out["install"] == "uv pip install 'sparkwing-kit-queue>=1'"


def test_a_run_uses_the_generated_stores_through_a_profile(kit: Kit, tmp_path: Path) -> None:
    project = tmp_path / "repo"
    (project / ".sparkwing" / "pipelines").mkdir(parents=True)
    (project / ".sparkwing" / "pipelines" / "hello.py").write_text(
        "import sparkwing as sw\n\n\ndef plan(plan, inputs, run):\n"
        "    plan.job('hello', sw.sh('echo from-the-kit'))\n"
    )
    (project / ".sparkwing" / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: hello\n    entrypoint: pipelines.hello:plan\n"
    )
    where = tmp_path / "team"
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(
        "profiles:\n  team:\n"
        f"    state: {{type: kit-state, path: {where / 'state.db'}}}\n"
        f"    logs: {{type: kit-logs, path: {where / 'logs'}}}\n"
        f"    cache: {{type: kit-artifacts, path: {where / 'artifacts'}}}\n"
    )
    env = kit.venv.env(SPARKWING_PROFILES=str(profiles))
    proc = subprocess.run([str(kit.venv.sparkwing), "run", "hello", "--profile", "team", "-o",
                           "json"], cwd=project, capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (where / "state.db").is_file()
    logged = "".join(p.read_text() for p in (where / "logs").rglob("*") if p.is_file())
    assert "from-the-kit" in logged
    proc = subprocess.run([str(kit.venv.sparkwing), "runs", "list", "--profile", "team", "-o",
                           "json"], cwd=project, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["pipeline"] for line in proc.stdout.splitlines()] == ["hello"]


def test_the_generated_trigger_fires_a_run_and_a_replay_starts_none(
    kit: Kit, tmp_path: Path,
) -> None:
    project = tmp_path / "repo"
    (project / ".sparkwing" / "pipelines").mkdir(parents=True)
    (project / ".sparkwing" / "pipelines" / "hello.py").write_text(
        "import sparkwing as sw\n\n\ndef plan(plan, inputs, run):\n"
        "    plan.job('hello', sw.sh('echo fired'))\n"
    )
    (project / ".sparkwing" / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: hello\n    entrypoint: pipelines.hello:plan\n"
    )

    def sparkwing(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(kit.venv.sparkwing), *args], cwd=project, capture_output=True,
                              text=True, timeout=300, env=kit.venv.env())

    def runs() -> list[dict[str, str]]:
        proc = sparkwing("runs", "list", "-o", "json")
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]

    first = sparkwing("kit-trigger", "fire", "hello", "--key", "delivery-1")
    assert first.returncode == 0, first.stderr
    started = re.match(r"trigger \S+ started run (run-\S+) \(success\)", first.stdout)
    assert started, first.stdout
    replay = sparkwing("kit-trigger", "fire", "hello", "--key", "delivery-1")
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.startswith("duplicate request (key kit-trigger:delivery-1)")
    assert replay.stdout.rstrip().endswith("no run started")
    recorded = runs()
    assert [(r["id"], r["status"]) for r in recorded] == [(started.group(1), "success")]
    other = sparkwing("kit-trigger", "fire", "hello", "--key", "delivery-2")
    assert other.returncode == 0, other.stderr
    assert len(runs()) == 2
    listed = sparkwing("triggers", "list", "--source", "kit-trigger", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    keys = sorted(r["idempotency_key"] for r in json.loads(listed.stdout)["triggers"])
    assert keys == ["kit-trigger:delivery-1", "kit-trigger:delivery-2"]

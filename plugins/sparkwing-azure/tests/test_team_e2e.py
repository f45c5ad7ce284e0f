"""The examples on an ``azure`` profile (Azurite), seen from a second SPARKWING_HOME.

Real ``sparkwing`` processes: home ``a`` runs every example of the
repository with a ``team`` profile whose state, logs and cache are in one
bucket; home ``b`` (another SPARKWING_HOME, another directory, same
profile) lists those runs, reads their logs and shows them on its
dashboard. A profile naming a container that does not exist stops in one
line before anything runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sparkwing.testing.teamhomes import Home, assert_dashboard_shows
from sparkwing.testing.teamhomes import make_home as make_team_home
from sparkwing_azure.testing import Azurite

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
#: example directory -> the ``sparkwing run`` arguments that succeed there
RUNS = {
    "python-ci": ("ci",),
    "test-matrix": ("matrix",),
    "release": ("release", "--version", "1.2.3"),
}


#: The variable the profile reads Azurite's connection string from (url_source).
CONNECTION_ENV = "SW_TEST_AZURE_CONNECTION"


def team_profile(container: str) -> str:
    """profiles.yaml with a ``team`` profile whose three surfaces live in *container*."""
    lines = ["profiles:", "  team:"]
    for surface in ("state", "logs", "cache"):
        lines.append(f"    {surface}: {{type: azure, container: {container}, "
                     f"url_source: env:{CONNECTION_ENV}, retries: 0, prefix: team/{surface}}}")
    return "\n".join(lines) + "\n"


def make_home(base: Path, name: str, profiles: str, connection: str) -> Home:
    """An isolated home whose profile reads Azurite's connection string from the environment."""
    return make_team_home(base, name, profiles, **{CONNECTION_ENV: connection})


@pytest.fixture
def homes(tmp_path: Path, azurite: Azurite, container: str) -> tuple[Home, Home]:
    profiles = team_profile(container)
    return (make_home(tmp_path, "a", profiles, azurite.connection_string),
            make_home(tmp_path, "b", profiles, azurite.connection_string))


def test_examples_run_on_azure_and_show_from_a_second_home(
        homes: tuple[Home, Home], tmp_path: Path) -> None:
    a, b = homes
    run_ids: dict[str, str] = {}
    for name, args in RUNS.items():
        project = tmp_path / "a" / "projects" / name
        shutil.copytree(EXAMPLES / name, project,
                        ignore=shutil.ignore_patterns("__pycache__", "dist", "registry"))
        done = a.cli("run", *args, "--profile", "team", "-o", "json", cwd=project)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        finish = [json.loads(line) for line in done.stdout.splitlines()
                  if '"event":"run_finish"' in line]
        assert len(finish) == 1, done.stdout[-2000:]
        run_ids[name] = finish[0]["attrs"]["run_id"]
    # Nothing of the runs is in home a's local files: the bucket holds them.
    assert not (a.root / "swhome" / "state.db").exists()

    listed = b.cli("runs", "list", "--profile", "team", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    runs = {r["id"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert set(run_ids.values()) <= set(runs)
    assert {runs[i]["status"] for i in run_ids.values()} == {"success"}
    assert {runs[run_ids[n]]["pipeline"] for n in RUNS} == {"ci", "matrix", "release"}

    for name, run_id in run_ids.items():
        logs = b.cli("runs", "logs", "--run", run_id, "--profile", "team", "-o", "json")
        assert logs.returncode == 0, logs.stderr
        records = [json.loads(line) for line in logs.stdout.splitlines() if line.strip()]
        assert records, f"no log records for {name}"
        assert any(r.get("node") for r in records), f"no job's log records for {name}"
    status = b.cli("runs", "status", "--run", run_ids["python-ci"], "--profile", "team",
                   "-o", "json")
    assert status.returncode == 0, status.stderr
    assert '"success"' in status.stdout
    # ... and home b's dashboard shows them: runs, each run's nodes, every node's log lines.
    assert_dashboard_shows(b, list(run_ids.values()))


def test_a_missing_container_stops_before_the_run(tmp_path: Path, azurite: Azurite) -> None:
    home = make_home(tmp_path, "c", team_profile("no-such-container"),
                     azurite.connection_string)
    project = tmp_path / "c" / "project"
    shutil.copytree(EXAMPLES / "python-ci", project,
                    ignore=shutil.ignore_patterns("__pycache__", "dist", "registry"))
    done = home.cli("run", "ci", "--profile", "team", cwd=project)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [
        'error: profile "team": state: azure container "no-such-container" does not exist at '
        f"{azurite.endpoint}/devstoreaccount1; create it or fix the container key"
    ], done.stderr
    assert "Traceback" not in done.stderr

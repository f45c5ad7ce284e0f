"""The examples on an ``s3`` profile (moto), seen from a second SPARKWING_HOME.

Real ``sparkwing`` processes: home ``a`` runs every example of the
repository with a ``team`` profile whose state, logs and cache are in one
bucket; home ``b`` (another SPARKWING_HOME, another directory, same
profile) lists those runs and reads their logs. A profile naming a bucket
that does not exist stops in one line before anything runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sparkwing_s3.testing import MotoS3

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
#: example directory -> the ``sparkwing run`` arguments that succeed there
RUNS = {
    "python-ci": ("ci",),
    "test-matrix": ("matrix",),
    "release": ("release", "--version", "1.2.3"),
}


def team_profile(bucket: str, endpoint: str) -> str:
    """profiles.yaml with a ``team`` profile whose three surfaces live in *bucket*."""
    lines = ["profiles:", "  team:"]
    for surface in ("state", "logs", "cache"):
        lines.append(f"    {surface}: {{type: s3, bucket: {bucket}, endpoint_url: {endpoint}, "
                     f"prefix: team/{surface}}}")
    return "\n".join(lines) + "\n"


@dataclass
class Home:
    """One machine: its own HOME, SPARKWING_HOME and config directory."""

    root: Path
    env: dict[str, str]

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` and wait."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=cwd or self.root,
            capture_output=True, text=True, env=self.env, timeout=600,
        )


def make_home(base: Path, name: str, profiles: str) -> Home:
    """An isolated home under *base*/*name* whose profiles.yaml holds *profiles*."""
    root = base / name
    xdg = root / "xdg"
    for d in (root / "home", root / "swhome", xdg / "sparkwing"):
        d.mkdir(parents=True)
    (xdg / "sparkwing" / "profiles.yaml").write_text(profiles)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SPARKWING_") or k.startswith("SPARKWING_TEST_")}
    env.update(HOME=str(root / "home"), SPARKWING_HOME=str(root / "swhome"),
               XDG_CONFIG_HOME=str(xdg), SPARKWING_PROFILES=str(xdg / "sparkwing/profiles.yaml"),
               NO_COLOR="1", GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    return Home(root, env)


@pytest.fixture
def homes(tmp_path: Path, moto_s3: MotoS3, bucket: str) -> tuple[Home, Home]:
    profiles = team_profile(bucket, moto_s3.endpoint_url)
    return make_home(tmp_path, "a", profiles), make_home(tmp_path, "b", profiles)


def test_examples_run_on_s3_and_show_from_a_second_home(
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


def test_a_missing_bucket_stops_before_the_run(tmp_path: Path, moto_s3: MotoS3) -> None:
    home = make_home(tmp_path, "c", team_profile("no-such-bucket", moto_s3.endpoint_url))
    project = tmp_path / "c" / "project"
    shutil.copytree(EXAMPLES / "python-ci", project,
                    ignore=shutil.ignore_patterns("__pycache__", "dist", "registry"))
    done = home.cli("run", "ci", "--profile", "team", cwd=project)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [
        'error: profile "team": state: s3 bucket "no-such-bucket" does not exist at '
        f"{moto_s3.endpoint_url}; create it or fix the bucket key"
    ], done.stderr
    assert "Traceback" not in done.stderr

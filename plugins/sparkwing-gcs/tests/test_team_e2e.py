"""The examples on a ``gcs`` profile (fake-gcs-server), seen from a second SPARKWING_HOME.

Real ``sparkwing`` processes: home ``a`` runs every example of the
repository with a ``team`` profile whose state, logs and cache are in one
bucket; home ``b`` (another SPARKWING_HOME, another directory, same
profile) lists those runs, reads their logs and shows them on its
dashboard. A profile naming a bucket that does not exist stops in one line
before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sparkwing.testing.teamhomes import (
    Home,
    assert_examples_run_and_show_from,
    copy_example,
    make_home,
)
from sparkwing_gcs.testing import FakeGcs

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def team_profile(bucket: str, endpoint: str) -> str:
    """profiles.yaml with a ``team`` profile whose three surfaces live in *bucket*."""
    lines = ["profiles:", "  team:"]
    for surface in ("state", "logs", "cache"):
        lines.append(f"    {surface}: {{type: gcs, bucket: {bucket}, endpoint_url: {endpoint}, "
                     f"prefix: team/{surface}}}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def homes(tmp_path: Path, fake_gcs: FakeGcs, bucket: str) -> tuple[Home, Home]:
    profiles = team_profile(bucket, fake_gcs.endpoint_url)
    return make_home(tmp_path, "a", profiles), make_home(tmp_path, "b", profiles)


def test_examples_run_on_gcs_and_show_from_a_second_home(
        homes: tuple[Home, Home]) -> None:
    assert_examples_run_and_show_from(*homes, EXAMPLES)


def test_a_missing_bucket_stops_before_the_run(tmp_path: Path, fake_gcs: FakeGcs) -> None:
    home = make_home(tmp_path, "c", team_profile("no-such-bucket", fake_gcs.endpoint_url))
    project = copy_example(EXAMPLES, "python-ci", tmp_path / "c" / "project")
    done = home.cli("run", "ci", "--profile", "team", cwd=project)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [
        'error: profile "team": state: gcs bucket "no-such-bucket" does not exist at '
        f"{fake_gcs.endpoint_url}; create it or fix the bucket key"
    ], done.stderr
    assert "Traceback" not in done.stderr

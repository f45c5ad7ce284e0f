"""The examples on an ``azure`` profile (Azurite), seen from a second SPARKWING_HOME.

Real ``sparkwing`` processes: home ``a`` runs every example of the
repository with a ``team`` profile whose state, logs and cache are in one
bucket; home ``b`` (another SPARKWING_HOME, another directory, same
profile) lists those runs, reads their logs and shows them on its
dashboard. A profile naming a container that does not exist stops in one
line before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sparkwing.testing.teamhomes import Home, assert_examples_run_and_show_from, copy_example
from sparkwing.testing.teamhomes import make_home as make_team_home
from sparkwing_azure.testing import Azurite

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


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
        homes: tuple[Home, Home]) -> None:
    assert_examples_run_and_show_from(*homes, EXAMPLES)


def test_a_missing_container_stops_before_the_run(tmp_path: Path, azurite: Azurite) -> None:
    home = make_home(tmp_path, "c", team_profile("no-such-container"),
                     azurite.connection_string)
    project = copy_example(EXAMPLES, "python-ci", tmp_path / "c" / "project")
    done = home.cli("run", "ci", "--profile", "team", cwd=project)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [
        'error: profile "team": state: azure container "no-such-container" does not exist at '
        f"{azurite.endpoint}/devstoreaccount1; create it or fix the container key"
    ], done.stderr
    assert "Traceback" not in done.stderr

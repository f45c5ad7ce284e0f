"""A profile selecting a backend type that only a third-party plugin provides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from conftest import ScratchVenv


def write_profiles(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def test_a_profile_resolves_to_the_plugin_log_store(
    example_venv: ScratchVenv, tmp_path: Path,
) -> None:
    logs = tmp_path / "team-logs"
    profiles = write_profiles(tmp_path / "profiles.yaml", (
        "profiles:\n"
        "  team:\n"
        "    description: logs kept by the example plugin\n"
        f"    logs: {{type: example, path: {logs}}}\n"
    ))
    proc = example_venv.run("profile", "--profile", "team", "-o", "json",
                            SPARKWING_PROFILES=str(profiles))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    resolved = json.loads(proc.stdout)
    assert resolved["name"] == "team"
    assert resolved["logs"] == {"type": "example", "path": str(logs)}
    assert resolved["state"]["type"] == "sqlite"  # the laptop default fills the rest
    assert "logs" not in resolved["defaulted"]


def test_a_profile_missing_the_plugin_required_key_is_a_one_line_error(
    example_venv: ScratchVenv, tmp_path: Path,
) -> None:
    profiles = write_profiles(tmp_path / "profiles.yaml", (
        "profiles:\n"
        "  team:\n"
        "    logs: {type: example}\n"
    ))
    proc = example_venv.run("profile", "--profile", "team", "-o", "json",
                            SPARKWING_PROFILES=str(profiles))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert 'profile "team"' in lines[0]
    assert "logs" in lines[0].split('profile "team"', 1)[1]
    assert lines[0].endswith("type=example requires path")


def test_a_profile_naming_a_type_nobody_provides_lists_the_installed_ones(
    example_venv: ScratchVenv, tmp_path: Path,
) -> None:
    profiles = write_profiles(tmp_path / "profiles.yaml", (
        "profiles:\n"
        "  team:\n"
        "    logs: {type: gcs, bucket: team-logs}\n"
    ))
    proc = example_venv.run("profile", "--profile", "team", "-o", "json",
                            SPARKWING_PROFILES=str(profiles))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert 'profile "team"' in lines[0]
    assert lines[0].endswith(
        'no plugin provides logs type "gcs"; installed: controller, dir, example, filesystem; install sparkwing-gcs'
    )


def test_the_same_profile_fails_when_the_plugin_is_disabled(
    example_venv: ScratchVenv, tmp_path: Path,
) -> None:
    profiles = write_profiles(tmp_path / "profiles.yaml", (
        "profiles:\n"
        "  team:\n"
        f"    logs: {{type: example, path: {tmp_path / 'logs'}}}\n"
    ))
    proc = example_venv.run("profile", "--profile", "team", "-o", "json",
                            SPARKWING_PROFILES=str(profiles), SPARKWING_DISABLE_PLUGINS="example")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].endswith('no plugin provides logs type "example"; installed: controller, dir, filesystem')

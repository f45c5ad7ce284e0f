"""Fixtures for the configuration tests: an isolated home, config dir and project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class ConfigEnv:
    """Paths of one isolated sparkwing environment (cwd is ``repo``)."""

    tmp: Path
    home: Path
    sw_home: Path
    profiles: Path
    repo: Path

    def write_project(self, text: str) -> Path:
        """Write ``repo/.sparkwing/sparkwing.yaml`` from dedented *text*; return its path."""
        file = self.repo / ".sparkwing" / "sparkwing.yaml"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(textwrap.dedent(text).lstrip("\n"))
        return file

    def write_profiles(self, text: str) -> Path:
        """Write the user's profiles.yaml from dedented *text*; return its path."""
        self.profiles.write_text(textwrap.dedent(text).lstrip("\n"))
        return self.profiles

    def cli(self, *args: str, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real ``sparkwing`` CLI in a subprocess with this environment."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args],
            cwd=cwd or self.repo, capture_output=True, text=True,
            env={**os.environ, **(env or {})}, timeout=60,
        )


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ConfigEnv:
    """An isolated HOME, SPARKWING_HOME, XDG_CONFIG_HOME and profiles file; cwd = a repo dir."""
    home = tmp_path / "home"
    sw_home = tmp_path / "swhome"
    xdg = tmp_path / "xdg"
    repo = tmp_path / "repo"
    for d in (home, sw_home, xdg, repo):
        d.mkdir()
    profiles = tmp_path / "profiles.yaml"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SPARKWING_HOME", str(sw_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.setenv("SPARKWING_PROFILES", str(profiles))
    for var in ("SPARKWING_LOCAL_ONLY", "SPARKWING_NO_CONFIG_CACHE", "SPARKWING_PROFILE",
                "SPARKWING_DEBUG_TRACEBACK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(repo)
    return ConfigEnv(tmp_path, home, sw_home, profiles, repo)

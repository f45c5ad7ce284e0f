"""Fixtures for the ci-embedded tests: a copy of an example project in a fresh git repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "python-ci"


@dataclass
class Machine:
    """A project checkout and an isolated environment to run the real ``sparkwing`` in."""

    project: Path
    env: dict[str, str]
    sha: str

    def sparkwing(self, *args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None,
                  python_flags: tuple[str, ...] = (),
                  timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the workspace's ``sparkwing ARGS`` (in the project unless *cwd*)."""
        return subprocess.run(
            [sys.executable, *python_flags, "-m", "sparkwing_cli.main", *args],
            cwd=cwd or self.project, env={**self.env, **(extra_env or {})},
            capture_output=True, text=True, timeout=timeout,
        )

    def json_lines(self, *args: str, cwd: Path | None = None) -> list[dict[str, Any]]:
        """Run a listing command with ``-o json`` and parse its NDJSON."""
        done = self.sparkwing(*args, "-o", "json", cwd=cwd)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def git(cwd: Path, *args: str) -> str:
    """Run git in *cwd* and return its output."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"})
    return done.stdout.strip()


def checkout(dest: Path) -> str:
    """Copy ``examples/python-ci`` to *dest* as a one-commit git repository; return the sha."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", "dist"))
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "initial")
    # What a CI checkout looks like: a detached HEAD.
    git(dest, "checkout", "-q", "--detach")
    return git(dest, "rev-parse", "HEAD")


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    """A CI-like checkout of the python-ci example with an isolated sparkwing environment."""
    from sparkwing.testing.procs import isolated_env

    project = tmp_path / "checkout"
    sha = checkout(project)
    return Machine(project, isolated_env(tmp_path), sha)


def tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under *path* with its size and modification time (ns)."""
    out: dict[str, tuple[int, int]] = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(path))] = (st.st_size if p.is_file() else -1, st.st_mtime_ns)
    return out

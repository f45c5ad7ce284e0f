"""The linters the project configures pass on the whole tree (ruff) and the sources (mypy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["sparkwing-core/src", "sparkwing-cli/src", "sparkwing-server/src",
           "plugins/sparkwing-sqlite/src", "plugins/sparkwing-k8s/src"]


def test_ruff() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--exclude", "bench/.peers", "."],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_is_strict() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True


def test_mypy() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", *SOURCES],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr

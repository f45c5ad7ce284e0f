"""The linters the project configures pass on the whole tree (ruff) and the sources (mypy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["sparkwing-core/src", "sparkwing-cli/src", "sparkwing-server/src",
           *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("plugins/*/src"))]


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
    # an override may only say how third-party modules are followed, never relax a check
    for override in config.get("overrides", []):
        relaxed = set(override) - {"module", "follow_imports", "ignore_missing_imports"}
        assert not relaxed, f"mypy override for {override['module']} relaxes {sorted(relaxed)}"
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        ours = [m for m in modules if m.split(".")[0].startswith("sparkwing")]
        assert not ours, f"mypy override covers our own modules: {ours}"


@pytest.mark.timeout(1200)  # a cold, whole-tree strict check; slow when the workers share 2 cores
def test_mypy() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", *SOURCES],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr

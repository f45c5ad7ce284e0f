"""Every distribution's wheel ships ``py.typed``, so type checkers read its annotations."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Distribution name -> the import package its wheel carries.
DISTRIBUTIONS = {
    "sparkwing-core": "sparkwing",
    "sparkwing-cli": "sparkwing_cli",
    "sparkwing-server": "sparkwing_server",
    "sparkwing-sqlite": "sparkwing_sqlite",
    "sparkwing-k8s": "sparkwing_k8s",
}


def test_every_wheel_carries_py_typed(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not installed (bash scripts/install.sh installs it)")
    for dist, package in DISTRIBUTIONS.items():
        out = tmp_path / dist
        proc = subprocess.run(
            [uv, "build", "--wheel", "--package", dist, "--out-dir", str(out), "--quiet"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        (wheel,) = out.glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            assert f"{package}/py.typed" in zf.namelist(), f"{wheel.name} lacks {package}/py.typed"

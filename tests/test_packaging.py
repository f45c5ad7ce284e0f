"""Every distribution's wheel ships ``py.typed``, so type checkers read its annotations."""

from __future__ import annotations

import zipfile
from pathlib import Path

#: Distribution name -> the import package its wheel carries.
DISTRIBUTIONS = {
    "sparkwing-core": "sparkwing",
    "sparkwing-cli": "sparkwing_cli",
    "sparkwing-server": "sparkwing_server",
    "sparkwing-sqlite": "sparkwing_sqlite",
    "sparkwing-k8s": "sparkwing_k8s",
}


def test_every_wheel_carries_py_typed(workspace_wheels: Path) -> None:
    for dist, package in DISTRIBUTIONS.items():
        (wheel,) = workspace_wheels.glob(f"{dist.replace('-', '_')}-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            assert f"{package}/py.typed" in zf.namelist(), f"{wheel.name} lacks {package}/py.typed"

"""The CLI starts and reports its version."""

from __future__ import annotations

import subprocess
import sys


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", "--version"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "sparkwing 0.1.0"

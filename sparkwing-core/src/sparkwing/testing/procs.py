"""Small helpers for tests that drive real processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def wait_for(pred: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> None:
    """Poll *pred* until it returns true; raise ``AssertionError`` after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:g}s")


def pid_alive(pid: int) -> bool:
    """True if process *pid* exists and is not a zombie (Linux ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"

"""Shared pieces of the dashboard benchmarks: a throwaway home, the server process, statistics.

Not a benchmark itself; imported by ``bench/dashboard_*.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def isolated_env(home: Path) -> dict[str, str]:
    """The environment of a sparkwing process using *home* and no user configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKWING_")}
    env.update(
        SPARKWING_HOME=str(home),
        XDG_CONFIG_HOME=str(home / "xdg"),
        SPARKWING_PROFILES=str(home / "xdg" / "profiles.yaml"),
        NO_COLOR="1",
    )
    return env


@contextlib.contextmanager
def temp_home(keep: str | None = None) -> Iterator[Path]:
    """A fresh SPARKWING_HOME (or the directory *keep*, created if needed and not removed)."""
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="sw-dash-bench-") as tmp:
        yield Path(tmp)


def wait_accepting(port: int, timeout: float = 15.0) -> float:
    """Poll 127.0.0.1:*port* until it accepts; return the monotonic time it first did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return time.monotonic()
        except OSError:
            time.sleep(0.002)
    raise SystemExit(f"the dashboard did not accept connections on port {port} in {timeout}s")


@contextlib.contextmanager
def dashboard(home: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m sparkwing_server.localws`` over *home* until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparkwing_server.localws", "--addr", f"127.0.0.1:{port}"],
        env=isolated_env(home), cwd=str(home), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_accepting(port)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(values: list[float], q: float) -> float:
    """The *q*-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(values_s: list[float]) -> dict[str, float]:
    """n, median, p50, p90, p99, max of durations in seconds, as milliseconds."""
    ms = [v * 1000.0 for v in values_s]
    return {
        "n": len(ms),
        "median": statistics.median(ms),
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "max": max(ms),
    }


def format_row(label: str, s: dict[str, float]) -> str:
    """One aligned line of figures."""
    return (f"{label:<44} n={int(s['n']):>5}  p50 {s['p50']:8.2f} ms  p90 {s['p90']:8.2f} ms  "
            f"p99 {s['p99']:8.2f} ms  max {s['max']:8.2f} ms")


def machine() -> str:
    """A short description of where the figures were taken."""
    return f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {sys.platform}"

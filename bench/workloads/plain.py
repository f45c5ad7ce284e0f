"""W1-W5 with no framework: a bare loop per workload.

Each job is recorded as two committed SQLite rows (``start`` and ``end`` in
``plain.db``, WAL and ``synchronous=NORMAL`` like sparkwing's state store)
and gets its own log file under ``runs/<run>/<job>.log``. This is the floor
a framework's bookkeeping is measured against.

    python plain.py w2        # state under $BENCH_HOME (default: .)
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

PY = os.environ.get("BENCH_PY", sys.executable)
EMIT = os.environ.get("BENCH_EMIT", "emit_lines.py")
LINES = int(os.environ.get("BENCH_LINES", "200000"))


class Recorder:
    """Two committed rows per job, one log file per job."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(home / "plain.db", isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS job_events "
                        "(run TEXT, job TEXT, event TEXT, at REAL)")
        self.run = f"run-{time.time_ns()}"
        self.logs = home / "runs" / self.run
        self.logs.mkdir(parents=True)
        self.lock = threading.Lock()

    def _row(self, job: str, event: str) -> None:
        with self.lock:
            self.db.execute("INSERT INTO job_events VALUES (?, ?, ?, ?)",
                            (self.run, job, event, time.time()))

    def job(self, name: str, body: Callable[[IO[str]], None]) -> None:
        """Record the start, run *body* with the job's log file, record the end."""
        self._row(name, "start")
        with open(self.logs / f"{name}.log", "w") as log:
            body(log)
        self._row(name, "end")


def _noop(log: IO[str]) -> None:
    return None


def _hello(log: IO[str]) -> None:
    print("hello")
    log.write("hello\n")


def _true(log: IO[str]) -> None:
    subprocess.run("true", shell=True, stdout=log, stderr=subprocess.STDOUT, check=True)


def _chatty(log: IO[str]) -> None:
    proc = subprocess.Popen([PY, EMIT, str(LINES)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
    if proc.wait() != 0:
        raise SystemExit(f"command failed with {proc.returncode}")


def main() -> None:
    """Run the workload named by argv[1]."""
    workload = sys.argv[1]
    rec = Recorder(Path(os.environ.get("BENCH_HOME", ".")))
    if workload == "w1":
        rec.job("hello", _hello)
    elif workload == "w2":
        for i in range(500):
            rec.job(f"j{i}", _noop)
        rec.job("join", _noop)
    elif workload == "w3":
        for i in range(200):
            rec.job(f"c{i}", _noop)
    elif workload == "w4":
        with ThreadPoolExecutor(max_workers=2) as pool:
            for f in [pool.submit(rec.job, f"s{i}", _true) for i in range(100)]:
                f.result()
    elif workload == "w5":
        rec.job("out", _chatty)
    else:
        raise SystemExit(f"unknown workload {workload!r}")


if __name__ == "__main__":
    main()

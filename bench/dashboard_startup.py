"""Dashboard start-up to first accepted connection (target: <= 1 s).

* ``server``: spawn ``python -m sparkwing_server.localws`` and time until the
  port accepts a TCP connection, and until it answers ``GET /api/health``
  (the server listens before its web application is imported, so early
  connections wait instead of being refused); over a fresh home, which
  creates state.db, and over a warm home with 1,000 runs;
* ``dashboard start``: the whole ``sparkwing dashboard start`` command, which
  returns once the detached server answers (a ``dashboard kill`` between
  rounds, not timed).

    uv run python bench/dashboard_startup.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_harness import (
    format_row,
    free_port,
    isolated_env,
    machine,
    summary_ms,
    temp_home,
    wait_accepting,
)


def server_once(home: Path) -> tuple[float, float]:
    """Seconds from spawning the server to its first accepted connection and first answer."""
    port = free_port()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparkwing_server.localws", "--addr", f"127.0.0.1:{port}"],
        env=isolated_env(home), cwd=str(home), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        accepted = wait_accepting(port) - start
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=30) as r:
            r.read()
        answered = time.monotonic() - start
        return accepted, answered
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def cli_once(home: Path) -> float:
    """Seconds the ``sparkwing dashboard start`` command takes."""
    port = free_port()
    env = isolated_env(home)
    command = [sys.executable, "-m", "sparkwing_cli.main", "dashboard"]
    start = time.monotonic()
    done = subprocess.run([*command, "start", "--addr", f"127.0.0.1:{port}"], env=env,
                          cwd=str(home), capture_output=True, text=True)
    took = time.monotonic() - start
    subprocess.run([*command, "kill"], env=env, cwd=str(home), capture_output=True, check=True)
    if done.returncode != 0:
        raise SystemExit(f"dashboard start failed: {done.stderr.strip()}")
    return took


def warm(home: Path, count: int) -> None:
    """Record *count* runs so the store is not empty."""
    from sparkwing.ids import new_run_id
    from sparkwing.storage.records import Run
    from sparkwing_sqlite.store import SqliteStateStore

    state = SqliteStateStore(home / "state.db")
    base = time.time() - count
    for i in range(count):
        state.create_run(Run(id=new_run_id(base + i), pipeline="build", status="success",
                             created_at=base + i, finished_at=base + i + 1))
    state.close()


def main() -> None:
    """Time each start-up path over several rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print(f"dashboard start-up; {args.rounds} rounds; {machine()}")
    results: dict[str, list[float]] = {
        "server, fresh home: accepts": [], "server, fresh home: first answer": [],
        "server, 1,000 runs: accepts": [], "server, 1,000 runs: first answer": [],
        "sparkwing dashboard start (to answering)": [],
    }
    for _ in range(args.rounds):
        with temp_home() as fresh:
            accepted, answered = server_once(fresh)
        results["server, fresh home: accepts"].append(accepted)
        results["server, fresh home: first answer"].append(answered)
    with temp_home() as home:
        warm(home, 1000)
        server_once(home)  # untimed: first open of the file after writing
        for _ in range(args.rounds):
            accepted, answered = server_once(home)
            results["server, 1,000 runs: accepts"].append(accepted)
            results["server, 1,000 runs: first answer"].append(answered)
        for _ in range(args.rounds):
            results["sparkwing dashboard start (to answering)"].append(cli_once(home))
    for label, values in results.items():
        print(format_row(label, summary_ms(values)))
    accepts = max(max(v) for k, v in results.items() if k.endswith("accepts"))
    print(f"slowest first accepted connection {accepts * 1000:.0f} ms "
          f"{'meets' if accepts <= 1.0 else 'misses'} the 1 s target")

if __name__ == "__main__":
    main()

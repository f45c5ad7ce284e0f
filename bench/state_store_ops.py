"""Per-call cost of the SQLite state store's hot-path writes.

Times ``create_run``, ``update_node`` with an event, and ``append_event``
on a fresh ``state.db`` in a temporary directory, one process, no
contention. Each round does *calls* calls of each operation on a new
database; the figure per round is the mean per call. Prints the median and
the min-max over the rounds, and the store's import time.

    uv run python bench/state_store_ops.py [--rounds 5] [--calls 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sparkwing.storage.records import Node, Run
from sparkwing_sqlite.store import SqliteStateStore


def _round(calls: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStateStore(Path(tmp) / "state.db")
        try:
            out: dict[str, float] = {}

            def timed(name: str, op: Callable[[int], object]) -> None:
                start = time.perf_counter()
                for i in range(calls):
                    op(i)
                out[name] = (time.perf_counter() - start) / calls * 1e6

            plan = {"nodes": [{"id": f"n{k}", "deps": []} for k in range(20)]}
            timed("create_run", lambda i: store.create_run(
                Run(id=f"run-{i:06d}", pipeline="bench", status="running",
                    created_at=time.time(), args={"i": i}, plan=plan)))
            store.create_nodes("run-000000", [Node("run-000000", f"n{k}") for k in range(calls)])
            timed("update_node+event", lambda i: store.update_node(
                "run-000000", f"n{i}", {"status": "running", "started_at": time.time()},
                event=("node_started", {"node": f"n{i}"})))
            timed("append_event", lambda i: store.append_event(
                "run-000001", "tick", {"i": i}, node_id="n0"))
            return out
        finally:
            store.close()


def _import_time() -> str:
    """Return the cumulative import time of sparkwing_sqlite.store (µs) from -X importtime.

    Bytecode writing is allowed (as in a normal install) so that only the
    first, warm-up, call pays for compiling.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sparkwing_sqlite.store"],
        capture_output=True, text=True, check=True, env=env,
    )
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "sparkwing_sqlite.store":
            return parts[1]
    return "?"


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    _round(50)  # warm-up: page cache, .pyc files
    rounds = [_round(args.calls) for _ in range(args.rounds)]
    print(f"SqliteStateStore, {args.calls} calls per operation, {args.rounds} rounds "
          f"(µs per call: median [min-max])")
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        print(f"  {name:<18} {statistics.median(values):8.1f}  "
              f"[{min(values):.1f}-{max(values):.1f}]")
    _import_time()  # warm-up: writes .pyc files
    samples = [_import_time() for _ in range(5)]
    print(f"import sparkwing_sqlite.store (cumulative, -X importtime, µs): {', '.join(samples)}")


if __name__ == "__main__":
    main()

"""Benchmark: N processes start the same memoized job at once; exactly one should compute.

Prints how many computed, and the wall time of the leader and of the followers
(median and min-max). Usage: ``uv run python bench/memo_dedupe.py [--procs 20] [--work 1.0]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PIPELINE = """
import time, os
import sparkwing as sw
def compute(ctx):
    with open(ctx.path("computed.log"), "a") as f:
        f.write(ctx.run.run_id + "\\n")
    time.sleep(float(os.environ["WORK_S"]))
    return {"artifact": "app.whl"}
def plan(plan, inputs, run):
    plan.job("build", compute).memoize(lambda ctx: sw.key("bench-build", os.environ["BENCH_ID"]))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--procs", type=int, default=20)
    ap.add_argument("--work", type=float, default=1.0, help="seconds the job computes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        (root / ".sparkwing" / "pipelines").mkdir(parents=True)
        (root / ".sparkwing" / "pipelines" / "memo.py").write_text(PIPELINE)
        (root / ".sparkwing" / "sparkwing.yaml").write_text(
            "pipelines:\n  - name: memo\n    entrypoint: pipelines.memo:plan\n"
        )
        env = {**os.environ, "SPARKWING_HOME": str(Path(tmp) / "home"), "WORK_S": str(args.work),
               "BENCH_ID": str(time.time())}
        exe = [sys.executable, "-m", "sparkwing_cli.main", "run", "memo", "-o", "json"]
        # create the state db first so every process starts from the same point
        subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "runs", "list", "-q"],
                       cwd=root, env=env, capture_output=True)
        t0 = time.monotonic()
        procs = [subprocess.Popen(exe, cwd=root, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for _ in range(args.procs)]
        walls: list[float] = []
        pending = set(range(len(procs)))
        done_at: dict[int, float] = {}
        while pending:
            for i in list(pending):
                if procs[i].poll() is not None:
                    done_at[i] = time.monotonic() - t0
                    pending.discard(i)
            time.sleep(0.01)
        codes = [p.returncode for p in procs]
        walls = sorted(done_at.values())
        computed = len((root / "computed.log").read_text().splitlines())
    leader = walls[0] if computed == 1 else float("nan")
    followers = walls[1:]
    print(f"processes: {args.procs}, job work: {args.work:.2f}s, exit codes: {sorted(set(codes))}")
    print(f"computed: {computed} (expected 1)")
    print(f"first finisher wall: {leader:.3f}s")
    print(f"followers wall: median {statistics.median(followers):.3f}s, "
          f"min {min(followers):.3f}s, max {max(followers):.3f}s")
    if computed != 1 or any(codes):
        sys.exit(1)


if __name__ == "__main__":
    main()

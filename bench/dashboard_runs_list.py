"""Runs-list API latency with 10,000 runs in the store (target: p99 <= 50 ms).

Fills a fresh SPARKWING_HOME with runs through the real SQLite state store
(each with a plan of 6 jobs, args and an invocation, like ``sparkwing run``
records), starts the dashboard as its own process and times
``GET /api/v1/runs`` variants over one keep-alive connection: the first
page, filters, a search, a deep cursor page. Each request is timed from
sending it to having read and decoded the whole JSON body.

    uv run python bench/dashboard_runs_list.py [--runs 10000] [--requests 400] [--home DIR]

``--home DIR`` keeps (and reuses) the filled store between invocations.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_harness import (
    dashboard,
    format_row,
    free_port,
    machine,
    summary_ms,
    temp_home,
)

PIPELINES = ["build", "test", "deploy", "lint", "release", "nightly", "docs", "e2e"]
STATUSES = ["success"] * 7 + ["failed", "cancelled", "running"]
BRANCHES = ["main", "develop", "feature/login", "fix/crash", "release/1.2"]


def fill(home: Path, count: int) -> float:
    """Record *count* runs (with nodes) in *home*'s state store; return the seconds it took."""
    from sparkwing.ids import new_run_id
    from sparkwing.storage.records import Node, Run
    from sparkwing_sqlite.store import SqliteStateStore

    state = SqliteStateStore(home / "state.db")
    try:
        existing = len(state.list_runs(_filter(count)))
        if existing >= count:
            return 0.0
        rng = random.Random(7)
        start = time.perf_counter()
        base = time.time() - count * 60
        for i in range(existing, count):
            created = base + i * 60
            pipeline = rng.choice(PIPELINES)
            jobs = [{"id": f"job{j}", "kind": "job", "deps": [f"job{j - 1}"] if j else [],
                     "groups": [], "describe": f"$ make step{j}"} for j in range(6)]
            status = rng.choice(STATUSES)
            run = Run(
                id=new_run_id(created), pipeline=pipeline, status=status,
                git_branch=rng.choice(BRANCHES), git_sha=os.urandom(20).hex(),
                created_at=created, started_at=created,
                finished_at=None if status == "running" else created + rng.uniform(5, 600),
                args={"target": "prod", "verbose": True}, plan={"pipeline": pipeline, "nodes": jobs},
                invocation={"cwd": "/src/app", "args": ["--target", "prod"]},
                host="bench", pid=1000 + i,
            )
            state.create_run(run)
            state.create_nodes(run.id, [Node(run.id, j["id"], deps=j["deps"], status="done",
                                             outcome="success") for j in jobs])
        return time.perf_counter() - start
    finally:
        state.close()


def _filter(count: int) -> object:
    from sparkwing.storage.records import RunFilter

    return RunFilter(limit=count)


def timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[float, object]:
    """GET *path*, read and decode the JSON; return (seconds, body)."""
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = json.loads(response.read())
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise SystemExit(f"GET {path} answered {response.status}: {body}")
    return elapsed, body


def main() -> None:
    """Fill the store, start the dashboard, time the variants, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()

    with temp_home(args.home) as home:
        took = fill(home, args.runs)
        if took:
            print(f"recorded {args.runs} runs (+6 jobs each) in {took:.1f}s")
        port = free_port()
        with dashboard(home, port):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            _, first = timed_get(conn, "/api/v1/runs?limit=500")
            cursor_deep = first["runs"][-1]["id"]  # 500 runs in
            variants = {
                "first page (limit 50)": "/api/v1/runs",
                "pipeline=deploy": "/api/v1/runs?pipeline=deploy",
                "status=failed": "/api/v1/runs?status=failed",
                "branch=main&status=success": "/api/v1/runs?branch=main&status=success",
                "search=feature": "/api/v1/runs?search=feature",
                "cursor page 500 runs deep": f"/api/v1/runs?cursor={cursor_deep}",
                "limit=200": "/api/v1/runs?limit=200",
            }
            for path in variants.values():  # warm up (page cache, statement cache)
                for _ in range(5):
                    timed_get(conn, path)
            print(f"dashboard over {args.runs} runs; {args.requests} requests per variant; "
                  f"{machine()}")
            results = {}
            for label, path in variants.items():
                times = [timed_get(conn, path)[0] for _ in range(args.requests)]
                results[label] = summary_ms(times)
                print(format_row(label, results[label]))
            conn.close()
    worst = max(s["p99"] for s in results.values())
    verdict = "meets" if results["first page (limit 50)"]["p99"] <= 50 else "misses"
    print(f"first page p99 {results['first page (limit 50)']['p99']:.2f} ms {verdict} the "
          f"50 ms target; worst variant p99 {worst:.2f} ms")


if __name__ == "__main__":
    main()

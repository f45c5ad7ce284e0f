"""PostgreSQL state store next to SQLite: concurrent runs, node updates, ``runs list`` at scale.

Starts its own throwaway PostgreSQL 15 cluster (``TempCluster``: durability
off, loopback, as the tests use it) and prints three tables:

1. **8 concurrent runs of W2** (500 in-process jobs + a join): 8 ``sparkwing
   run w2`` processes spawned together, all against one PostgreSQL schema
   (each in its own ``SPARKWING_HOME``, like 8 runners) and, for comparison,
   all against one shared SQLite ``state.db``. Wall time from the first spawn
   to the last exit, and the slowest process. Every run is verified (exit 0,
   501 nodes recorded, all succeeded).
2. **Node updates per second**: *P* processes each doing ``update_node`` with
   an event (the orchestrator's commonest write) on their own run, for a
   fixed count; aggregate committed updates per second.
3. **``runs list`` with 100,000 runs**: p50/p99 latency of the store call
   ``sparkwing runs list`` makes (newest 20), plus a pipeline filter, a
   status filter and a free-text search, over 100,000 runs; and one whole
   ``sparkwing runs list`` process.

    uv run python bench/pg_bench.py                  # everything (~several minutes)
    uv run python bench/pg_bench.py --only list --runs 100000
    uv run python bench/pg_bench.py --only concurrent --procs 8 --rounds 3
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKLOAD = BENCH / "workloads" / "sparkwing"
SPARKWING = REPO / ".venv" / "bin" / "sparkwing"


def _env(tmp: Path, home: str, profiles: Path | None, pg_url: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKWING_")}
    env.update(SPARKWING_HOME=str(tmp / home), XDG_CONFIG_HOME=str(tmp / "xdg"),
               HOME=str(tmp), NO_COLOR="1")
    if profiles is not None:
        env["SPARKWING_PROFILES"] = str(profiles)
    if pg_url:
        env["SPARKWING_PG_URL"] = pg_url
    return env


def _workdir(tmp: Path) -> Path:
    work = tmp / "w"
    shutil.copytree(WORKLOAD, work)
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    return work


# -- 1: concurrent runs ---------------------------------------------------------------


def _spawn_many(work: Path, envs: list[dict[str, str]], args: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    procs = [subprocess.Popen([str(SPARKWING), "run", *args], cwd=work, env=e,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for e in envs]
    ends: list[float] = []
    for p in procs:
        _, err = p.communicate(timeout=900)
        ends.append(time.perf_counter() - start)
        if p.returncode != 0:
            raise SystemExit(f"a sparkwing run failed ({p.returncode}): {err[-2000:]}")
    return max(ends), statistics.median(ends)


def _verify(store: Any, expect_runs: int, nodes_per_run: int) -> None:
    from sparkwing.storage.records import RunFilter

    runs = store.list_runs(RunFilter(limit=expect_runs + 10))
    if len(runs) != expect_runs:
        raise SystemExit(f"expected {expect_runs} runs, found {len(runs)}")
    for r in runs:
        nodes = store.list_nodes(r.id)
        bad = [n.node_id for n in nodes if n.outcome != "success"]
        if r.status != "success" or len(nodes) != nodes_per_run or bad:
            raise SystemExit(f"run {r.id}: {r.status}, {len(nodes)} nodes, not ok: {bad[:5]}")


def bench_concurrent(pg: Any, procs: int, rounds: int) -> list[str]:
    from sparkwing_postgres.store import PostgresStateStore
    from sparkwing_sqlite.store import SqliteStateStore

    rows = [f"| store | round | {procs} processes: wall (first spawn to last exit) "
            "| median process |", "|---|---|---|---|"]
    for r in range(1, rounds + 1):
        with tempfile.TemporaryDirectory() as t:
            tmp = Path(t)
            work = _workdir(tmp)
            schema = f"bench_c{r}"
            profiles = tmp / "profiles.yaml"
            profiles.write_text(
                "profiles:\n  team:\n    state: {type: postgres, "
                f"url_source: env:SPARKWING_PG_URL, schema: {schema}}}\n")
            config = {"url": pg.url(), "schema": schema}
            PostgresStateStore.from_config(config).close()  # migrated before timing
            envs = [_env(tmp, f"pg{i}", profiles, pg.url()) for i in range(procs)]
            wall, med = _spawn_many(work, envs, ["w2", "--profile", "team"])
            with PostgresStateStore.from_config(config) as store:
                _verify(store, procs, 501)
            rows.append(f"| PostgreSQL (8 homes, one schema) | {r} | {wall:.2f} s | {med:.2f} s |"
                        .replace("8 homes", f"{procs} homes"))
            SqliteStateStore(tmp / "shared" / "state.db").close()
            envs = [_env(tmp, "shared", None) for _ in range(procs)]
            wall, med = _spawn_many(work, envs, ["w2"])
            with SqliteStateStore(tmp / "shared" / "state.db") as store:
                _verify(store, procs, 501)
            rows.append(f"| SQLite (one state.db) | {r} | {wall:.2f} s | {med:.2f} s |")
        print("\n".join(rows[-2:]), flush=True)
    return rows


# -- 2: node updates per second -----------------------------------------------------


def update_loop(factory: Callable[[], Any], worker: int, count: int) -> float:
    """Create a run with 10 nodes, then *count* ``update_node`` + event calls; return seconds."""
    from sparkwing.storage.records import Node, Run

    store = factory()
    try:
        run_id = f"run-bench-{os.getpid()}-{worker}"
        store.create_run(Run(id=run_id, pipeline="bench", status="running"))
        store.create_nodes(run_id, [Node(run_id, f"n{k}") for k in range(10)])
        start = time.perf_counter()
        for i in range(count):
            store.update_node(run_id, f"n{i % 10}", {"status": "running", "attempts": i},
                              event=("node_heartbeat", {"i": i}))
        return time.perf_counter() - start
    finally:
        store.close()


def bench_updates(pg: Any, counts: list[int], per_proc: int) -> list[str]:
    from sparkwing.testing.suites.state import run_in_processes
    from sparkwing_postgres.store import PostgresStateStore
    from sparkwing_sqlite.store import SqliteStateStore

    rows = ["| store | processes | updates | aggregate updates/s | per process updates/s |",
            "|---|---|---|---|---|"]
    for n in counts:
        with tempfile.TemporaryDirectory() as t:
            cases = [
                ("PostgreSQL", functools.partial(
                    PostgresStateStore.from_config, {"url": pg.url(), "schema": f"bench_u{n}"})),
                ("SQLite", functools.partial(SqliteStateStore, Path(t) / "state.db")),
            ]
            for name, factory in cases:
                factory().close()
                start = time.perf_counter()
                secs = run_in_processes(update_loop, [(factory, w, per_proc) for w in range(n)])
                total = n * per_proc
                # aggregate over the span all workers were writing (their slowest loop)
                agg = total / max(secs)
                per = statistics.median(per_proc / s for s in secs)
                rows.append(f"| {name} | {n} | {total} | {agg:,.0f} | {per:,.0f} |")
                print(rows[-1], f"(wall incl. start-up {time.perf_counter() - start:.1f} s)",
                      flush=True)
    return rows


# -- 3: runs list at 100,000 runs ---------------------------------------------------


def _fill_runs(n: int) -> list[Any]:
    from sparkwing.storage.records import Run

    t0 = 1_700_000_000.0
    out = []
    for i in range(n):
        out.append(Run(
            id=f"run-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(t0 + i * 30))}-{i:08x}",
            pipeline=("build", "test", "deploy", "lint", "release")[i % 5],
            status=("success", "success", "success", "failed", "cancelled")[i % 5 if i % 7 else 3],
            git_branch="main" if i % 3 else f"feature/{i % 50}", git_sha=f"{i * 2654435761:040x}"[:40],
            created_at=t0 + i * 30, started_at=t0 + i * 30, finished_at=t0 + i * 30 + 20,
            error="" if i % 5 != 3 else f"job test-{i % 13} failed: exit 1",
            plan={"nodes": [{"id": f"j{k}", "deps": []} for k in range(8)]},
        ))
    return out


def _timed(fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    fn()  # warm the cache and the connection
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def bench_list(pg: Any, n: int, reps: int) -> list[str]:
    import sqlalchemy as sa
    from sparkwing.storage.records import Run, RunFilter
    from sparkwing.storage.sql import schema
    from sparkwing.storage.sql.rows import RowCodec
    from sparkwing_postgres.store import RUNS, PostgresStateStore
    from sparkwing_sqlite.store import SqliteStateStore

    codec = RowCodec(schema.RUNS, Run)
    runs = _fill_runs(n)
    rows = [f"| store | query over {n:,} runs | p50 | p99 |", "|---|---|---|---|"]
    queries: list[tuple[str, RunFilter]] = [
        ("newest 20 (`runs list`)", RunFilter(limit=20)),
        ("pipeline = deploy, newest 20", RunFilter(pipelines=["deploy"], limit=20)),
        ("status = failed, newest 20", RunFilter(statuses=["failed"], limit=20)),
        ("page 50 (cursor before an id)", RunFilter(before_id=runs[n - 1000].id, limit=20)),
        ("search \"test-7\" (substring)", RunFilter(search="test-7", limit=20)),
    ]
    with tempfile.TemporaryDirectory() as t:
        config = {"url": pg.url(), "schema": "bench_list"}
        pg_store = PostgresStateStore.from_config(config)
        start = time.perf_counter()
        values = [dict(zip(codec.columns, codec.values(r), strict=True)) for r in runs]
        with pg_store.engine.begin() as conn:
            for i in range(0, n, 5000):
                conn.execute(sa.insert(RUNS), values[i:i + 5000])
            conn.exec_driver_sql("ANALYZE runs")
        print(f"inserted {n:,} runs into PostgreSQL in {time.perf_counter() - start:.1f} s",
              flush=True)
        sq_store = SqliteStateStore(Path(t) / "state.db")
        start = time.perf_counter()
        marks = ", ".join("?" * len(codec.columns))
        conn2 = sq_store._conn  # bulk load through the store's own connection
        conn2.execute("BEGIN IMMEDIATE")
        conn2.executemany(f"INSERT INTO runs ({codec.select}) VALUES ({marks})",
                          [codec.values(r) for r in runs])
        conn2.execute("COMMIT")
        conn2.execute("ANALYZE")
        print(f"inserted {n:,} runs into SQLite in {time.perf_counter() - start:.1f} s",
              flush=True)
        for label, flt in queries:
            for name, store in (("PostgreSQL", pg_store), ("SQLite", sq_store)):
                p50, p99 = _timed(lambda s=store, f=flt: s.list_runs(f), reps)
                rows.append(f"| {name} | {label} | {p50:.2f} ms | {p99:.2f} ms |")
                print(rows[-1], flush=True)
        pg_store.close()
        sq_store.close()
        # one whole `sparkwing runs list` process against the PostgreSQL schema
        tmp = Path(t)
        profiles = tmp / "profiles.yaml"
        profiles.write_text("profiles:\n  team:\n    state: {type: postgres, "
                            "url_source: env:SPARKWING_PG_URL, schema: bench_list}\n")
        env = _env(tmp, "home", profiles, pg.url())
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            proc = subprocess.run([str(SPARKWING), "runs", "list", "--profile", "team"],
                                  cwd=tmp, env=env, capture_output=True, text=True, timeout=120)
            samples.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
        rows.append(f"| PostgreSQL | whole `sparkwing runs list` process (5 runs) "
                    f"| {statistics.median(samples) * 1000:.0f} ms | {max(samples) * 1000:.0f} ms |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="concurrent,updates,list",
                   help="comma list of: concurrent, updates, list")
    p.add_argument("--procs", type=int, default=8, help="concurrent sparkwing runs (default 8)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of the concurrent runs")
    p.add_argument("--update-procs", default="1,4", help="process counts for node updates")
    p.add_argument("--updates", type=int, default=2000, help="updates per process")
    p.add_argument("--runs", type=int, default=100_000, help="runs for the list benchmark")
    p.add_argument("--reps", type=int, default=200, help="timed calls per list query")
    args = p.parse_args()
    from sparkwing_postgres.cluster import TempCluster

    only = set(args.only.split(","))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    out: list[str] = []
    with TempCluster() as pg:
        print(f"PostgreSQL cluster on port {pg.port}: {pg.sql('SHOW server_version')}", flush=True)
        if "concurrent" in only:
            out += ["", *bench_concurrent(pg, args.procs, args.rounds)]
        if "updates" in only:
            counts = [int(x) for x in args.update_procs.split(",")]
            out += ["", *bench_updates(pg, counts, args.updates)]
        if "list" in only:
            out += ["", *bench_list(pg, args.runs, args.reps)]
    print("\n".join(out))


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn")
    main()

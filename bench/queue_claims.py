"""Node claim queue throughput: claim + finish cycles per second, in the store and over HTTP.

    uv run python bench/queue_claims.py [--attempts 2000] [--threads 1,4]

* **store**: ``SqlNodeQueue`` on a fresh SQLite file and on a temporary
  PostgreSQL cluster (``sparkwing_postgres.cluster.TempCluster``); each
  thread opens its own queue instance and loops ``claim`` -> ``finish``
  until the queue is empty;
* **http**: a ``sparkwing controller serve`` subprocess on a fresh SQLite
  home, a runner token, one ``sparkwing.queueclient.QueueClient`` per
  thread doing ``POST /nodes/claim`` -> ``POST .../claim-finish``.

Prints one line per case: attempts, threads, seconds, claims/s. Every
attempt must be claimed exactly once (checked).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _cycle(open_queue: Callable[[], Any], holder: str, out: list[str]) -> None:
    queue = open_queue()
    try:
        while (row := queue.claim(holder, [], lease_s=600, now=time.time())) is not None:
            out.append(row.node_id)
            queue.finish(row.run_id, row.node_id, row.attempt, holder, row.claim_seq,
                         outcome="success", now=time.time(), exit_code=0)
    finally:
        queue.close()


def _run_threads(target: Callable[[int, list[str]], None], threads: int) -> tuple[float, int]:
    got: list[list[str]] = [[] for _ in range(threads)]
    workers = [threading.Thread(target=target, args=(i, got[i])) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    claimed = [n for mine in got for n in mine]
    assert len(claimed) == len(set(claimed)), "an attempt was claimed twice"
    return elapsed, len(claimed)


def _fill(queue: Any, attempts: int, run_id: str) -> None:
    now = time.time()
    for i in range(attempts):
        queue.enqueue(run_id, f"n{i:05d}", 1, now=now + i * 1e-6)


def bench_store(name: str, open_queue: Callable[[], Any], attempts: int, threads: int) -> None:
    """Claim + finish *attempts* attempts with *threads* threads on one queue location."""
    run_id = f"run-{name}-{threads}"
    queue = open_queue()
    try:
        _fill(queue, attempts, run_id)
    finally:
        queue.close()
    elapsed, claimed = _run_threads(
        lambda i, out: _cycle(open_queue, f"{name}-{i}", out), threads)
    assert claimed == attempts, (claimed, attempts)
    print(f"store {name:10s} attempts {attempts:5d} threads {threads}: {elapsed:6.2f} s, "
          f"{claimed / elapsed:7.0f} claims/s (claim + finish)", flush=True)


def bench_http(attempts: int, threads: int) -> None:
    """The same cycle through a controller subprocess on a fresh SQLite home."""
    from sparkwing.queueclient import QueueClient
    from sparkwing.storage.records import Node, Run

    home = Path(tempfile.mkdtemp(prefix="sw-bench-queue-"))
    env = dict(os.environ, SPARKWING_HOME=str(home))
    cli = [sys.executable, "-m", "sparkwing_cli.main"]
    token = subprocess.run([*cli, "controller", "token", "create", "--kind", "runner",
                            "--name", "bench", "--scope", "runner"], env=env, check=True,
                           capture_output=True, text=True, cwd=home).stdout.strip()
    os.environ["SPARKWING_HOME"] = str(home)
    from sparkwing_server.controller.nodequeue import sqlite_node_queue
    from sparkwing_server.localws.serve import open_profile_stores

    stores = open_profile_stores(None, home)
    run_id = f"run-http-{threads}"
    stores.state.create_run(Run(id=run_id, pipeline="bench", created_at=time.time()))
    stores.state.create_nodes(run_id, [Node(run_id, f"n{i:05d}") for i in range(attempts)])
    queue = sqlite_node_queue(home / "state.db")
    _fill(queue, attempts, run_id)
    queue.close()
    stores.close()
    proc = subprocess.Popen([*cli, "controller", "serve", "--addr", "127.0.0.1:0"], env=env,
                            cwd=home, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[4]

        def work(i: int, out: list[str]) -> None:
            with QueueClient(url, token, timeout=60) as client:
                while (claim := client.claim_node(f"http-{i}")) is not None:
                    out.append(claim.node_id)
                    client.finish_node(claim, outcome="success", exit_code=0)

        QueueClient(url, token).list_queue(limit=1)  # the token's first (argon2) check
        elapsed, claimed = _run_threads(work, threads)
        assert claimed == attempts, (claimed, attempts)
        print(f"http  sqlite     attempts {attempts:5d} threads {threads}: {elapsed:6.2f} s, "
              f"{claimed / elapsed:7.0f} claims/s (claim + finish)", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    """Run every case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--threads", default="1,4")
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    from sparkwing_postgres.cluster import TempCluster
    from sparkwing_server.controller.nodequeue import postgres_node_queue, sqlite_node_queue

    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-queue-"))
    for threads in counts:
        path = tmp / f"state-{threads}.db"
        bench_store("sqlite", lambda path=path: sqlite_node_queue(path), args.attempts, threads)
    cluster = TempCluster()
    try:
        cluster.start()
        config = {"url": cluster.url(), "schema": "bench"}
        for threads in counts:
            bench_store("postgresql", lambda: postgres_node_queue(config), args.attempts,
                        threads)
    finally:
        cluster.close()
    for threads in counts:
        bench_http(args.attempts // 2, threads)


if __name__ == "__main__":
    main()

"""Per-operation cost of the object-store layer (blobs, state, logs, artifacts).

By default on the ``dir`` backend in a temporary directory, one process, no
contention. ``--blob-factory MODULE:CALLABLE`` runs the same operations on
another backend: the callable takes a key prefix (a fresh one per
section) and returns a :class:`~sparkwing.storage.blobs.contracts.BlobStore`
(the S3, GCS and Azure plugins' tests use this against their emulators).
Prints the median per call over the rounds (and min-max), in microseconds.

    uv run python bench/objstore_ops.py [--rounds 3] [--calls 200] [--runs 2000]
    uv run python bench/objstore_ops.py --blob-factory mymodule:make_store
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparkwing.storage.blobs.artifacts import BlobArtifactStore
from sparkwing.storage.blobs.dirstore import DirBlobStore
from sparkwing.storage.blobs.logs import BlobLogStore
from sparkwing.storage.blobs.state import BlobStateStore
from sparkwing.storage.logrecord import make_record
from sparkwing.storage.records import Node, Run, RunFilter

Factory = Callable[[str], Any]


def _timed(out: dict[str, float], name: str, calls: int, op: Callable[[int], object]) -> None:
    start = time.perf_counter()
    for i in range(calls):
        op(i)
    out[name] = (time.perf_counter() - start) / calls * 1e6


def _round(make: Factory, calls: int, runs: int) -> dict[str, float]:
    out: dict[str, float] = {}
    tag = uuid.uuid4().hex[:8]
    blobs = make(f"bench-{tag}/blobs")
    payload = os.urandom(2048)
    _timed(out, "blob put", calls, lambda i: blobs.put(f"k/{i:06d}", payload))
    _timed(out, "blob put create-only", calls,
           lambda i: blobs.put(f"c/{i:06d}", payload, if_none_match="*"))
    _timed(out, "blob get", calls, lambda i: blobs.get(f"k/{i:06d}"))
    _timed(out, "blob head", calls, lambda i: blobs.head(f"k/{i:06d}"))
    _timed(out, "blob list (1 page of 100)", max(1, calls // 10),
           lambda i: blobs.list_page("k/", page_size=100))

    state = BlobStateStore(make(f"bench-{tag}/state"))
    plan = {"nodes": [{"id": f"n{k}", "deps": []} for k in range(20)]}
    _timed(out, "state create_run", calls, lambda i: state.create_run(
        Run(id=f"run-20240101-0000{i % 60:02d}-{i:08x}", pipeline="bench", status="running",
            created_at=time.time(), plan=plan)))
    first = "run-20240101-000000-00000000"
    state.create_nodes(first, [Node(first, f"n{k}") for k in range(calls)])
    _timed(out, "state update_node+event", calls, lambda i: state.update_node(
        first, f"n{i}", {"status": "running", "started_at": time.time()},
        event=("node_started", {"node": f"n{i}"})))
    _timed(out, "state append_event", calls, lambda i: state.append_event(
        first, "tick", {"i": i}, node_id="n0"))
    _timed(out, "state update_run (heartbeat)", calls, lambda i: state.update_run(
        first, {"last_heartbeat_at": time.time()}))
    _timed(out, "state get_run", calls, lambda i: state.get_run(first))
    _timed(out, "state list_nodes (fresh reader)", max(1, calls // 20),
           lambda i: BlobStateStore(make(f"bench-{tag}/state")).list_nodes(first))
    _timed(out, "state concurrency acquire+release", calls, lambda i: (
        state.concurrency_acquire("g:bench", f"h{i}", capacity=1, cost=1, lease_s=30,
                                  now=time.time()),
        state.concurrency_release("g:bench", f"h{i}")))
    _timed(out, "state cache_get (hit)", calls, lambda i: (
        state.cache_put(_entry(i)) if i == 0 else None, state.cache_get("k0", time.time())))

    listing = BlobStateStore(make(f"bench-{tag}/index"))
    for i in range(runs):
        day = 1 + i * 30 // runs
        listing.create_run(Run(id=f"run-202402{day:02d}-{i % 86400:06d}-{i:08x}",
                               pipeline="p", status="success", created_at=time.time()))
    _timed(out, f"runs list, {runs} runs (first reader)", 1,
           lambda i: BlobStateStore(make(f"bench-{tag}/index")).list_runs(RunFilter(limit=20)))
    _timed(out, f"runs list, {runs} runs (rollups warm)", 5,
           lambda i: BlobStateStore(make(f"bench-{tag}/index")).list_runs(RunFilter(limit=20)))

    logs = BlobLogStore(make(f"bench-{tag}/logs"), flush_interval=0.0)
    batch = [make_record(f"output line {k} " + "x" * 60, node="job") for k in range(100)]
    _timed(out, "logs append (part of 100 lines)", calls,
           lambda i: logs.append("run-logs", "job", batch))
    _timed(out, "logs read from the start (all parts)", max(1, calls // 20),
           lambda i: BlobLogStore(make(f"bench-{tag}/logs")).read("run-logs", "job"))
    _timed(out, "logs tail 20", max(1, calls // 20),
           lambda i: logs.tail("run-logs", "job", 20))

    cache = BlobArtifactStore(make(f"bench-{tag}/cache"))
    blob = os.urandom(64 * 1024)
    _timed(out, "artifact put_blob (64 KiB, new)", calls,
           lambda i: cache.put_blob(blob + i.to_bytes(4, "big")))
    digest = cache.put_blob(blob)
    _timed(out, "artifact get_blob (64 KiB)", calls, lambda i: cache.get_blob(digest))
    for store in (state, listing, logs, cache):
        store.close()
    return out


def _entry(i: int) -> Any:
    from sparkwing.storage.records import CacheEntry

    return CacheEntry(f"k{i}", "run-x", "n", output={"i": i}, created_at=time.time())


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--blob-factory", default="",
                        help="MODULE:CALLABLE returning a blob store for a prefix")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.blob_factory:
            module, _, name = args.blob_factory.partition(":")
            make: Factory = getattr(importlib.import_module(module), name)
            where = args.blob_factory
        else:
            def make(prefix: str) -> Any:
                return DirBlobStore(Path(tmp), prefix)
            where = "dir (temporary directory)"
        rounds = [_round(make, args.calls, args.runs) for _ in range(args.rounds)]
    print(f"backend: {where}; {args.rounds} rounds, {args.calls} calls per operation")
    width = max(len(k) for k in rounds[0])
    print(f"{'operation':<{width}}  {'median µs':>12}  {'min-max µs':>22}")
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        print(f"{name:<{width}}  {statistics.median(values):>12,.0f}  "
              f"{min(values):>10,.0f}-{max(values):<11,.0f}")


if __name__ == "__main__":
    main()

"""Object-store profiles on the local emulators: run cost, runs list at scale, log throughput.

    uv run python bench/objstore_emulators.py                 # everything, 3 rounds
    uv run python bench/objstore_emulators.py --only runs --rounds 5
    uv run python bench/objstore_emulators.py --only list --runs 5000
    uv run python bench/objstore_emulators.py --only logs --log-lines 200000

Three parts:

``runs``
    W2 (500 in-process jobs + join) and W5 (one job printing 200,000 lines
    of 80 bytes) from ``bench/workloads/sparkwing``, timed from spawn to exit
    of ``sparkwing run``, on the laptop profile (SQLite + files) and on an
    ``s3`` profile whose state, logs and cache are in a bucket of a local
    moto server. A round counts only when verified afterwards through
    ``runs list`` / ``runs logs`` of the same profile: the run succeeded
    and, for W5, every line is in the job's log.
``list``
    ``sparkwing runs list`` (newest 20, and ``--limit 1000``) on an ``s3``
    profile whose bucket holds ``--runs`` finished runs, written beforehand
    through sparkwing's state store.
``logs``
    Bytes per second of log records written through sparkwing's log store
    to each emulator (moto, fake-gcs-server, Azurite) and read back.

The emulators run on loopback on this machine: moto in this process,
fake-gcs-server and Azurite as child processes. They compete with
sparkwing for the same CPUs, so the figures are a lower bound of what a
real bucket over a network gives for CPU-bound work, and say nothing about
network latency.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKLOADS = BENCH / "workloads"
AZURITE = REPO / "tools/azurite/node_modules/.bin/azurite-blob"
LINES = 200_000
PIPELINE = {"W2": "w2", "W5": "w5"}
JOBS = {"W2": 501, "W5": 1}


def _progress(msg: str) -> None:
    print(f"[objstore-bench] {msg}", file=sys.stderr, flush=True)


def _median(values: list[float]) -> str:
    if not values:
        return "-"
    mid = statistics.median(values)
    return f"{mid:.2f} s" if mid >= 1 else f"{mid * 1000:.0f} ms"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
             for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


class Team:
    """A moto server with one bucket, and a profiles.yaml naming it as profile ``team``."""

    def __init__(self, work: Path) -> None:
        from sparkwing_s3.testing import CREDENTIALS, MotoS3

        os.environ.update(CREDENTIALS)
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        self.moto = MotoS3().start()
        self.bucket = self.moto.create_bucket(f"bench-{os.getpid()}")
        self.profiles = work / "profiles.yaml"
        lines = ["profiles:", "  team:"]
        for surface in ("state", "logs", "cache"):
            lines.append(f"    {surface}: {{type: s3, bucket: {self.bucket}, "
                         f"endpoint_url: {self.moto.endpoint_url}, prefix: {surface}}}")
        self.profiles.write_text("\n".join(lines) + "\n")

    def block(self, surface: str) -> dict[str, Any]:
        """The profile block of one surface."""
        return {"type": "s3", "bucket": self.bucket, "endpoint_url": self.moto.endpoint_url,
                "prefix": surface}

    def stop(self) -> None:
        """Stop the server."""
        self.moto.stop()


class Runner:
    """``sparkwing`` commands in a copy of the benchmark project, with one home per profile."""

    def __init__(self, work: Path, team: Team) -> None:
        self.work = work
        self.team = team
        self.project = work / "project"
        shutil.copytree(WORKLOADS / "sparkwing", self.project)
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "b"]):
            subprocess.run(cmd, cwd=self.project, check=True, capture_output=True)
        exe = shutil.which("sparkwing") or str(Path(sys.executable).with_name("sparkwing"))
        self.exe = exe
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKWING_")}
        self.env.update(NO_COLOR="1", SPARKWING_PROFILES=str(team.profiles),
                        BENCH_PY=os.path.realpath(sys.executable),
                        BENCH_EMIT=str(WORKLOADS / "emit_lines.py"), BENCH_LINES=str(LINES),
                        GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")

    def cli(self, profile: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` (with ``--profile`` unless laptop) and capture its output."""
        extra = ["--profile", profile] if profile != "laptop" else []
        return subprocess.run([self.exe, *args, *extra], cwd=self.project, text=True,
                              capture_output=True, env={**self.env, "SPARKWING_HOME": str(home)},
                              timeout=1800)

    def timed_run(self, profile: str, wl: str, home: Path) -> float:
        """Time one ``sparkwing run`` (stdout to /dev/null) and return seconds."""
        extra = ["--profile", profile] if profile != "laptop" else []
        start = time.perf_counter()
        done = subprocess.run([self.exe, "run", PIPELINE[wl], *extra], cwd=self.project,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**self.env, "SPARKWING_HOME": str(home)}, timeout=1800)
        took = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{wl} on {profile} exited {done.returncode}: {done.stderr[-800:]}")
        return took

    def verify(self, profile: str, wl: str, home: Path) -> str:
        """Empty when the newest run is a success with every job (W5: every line logged)."""
        listed = self.cli(profile, "runs", "list", "--limit", "1", "-o", "json", home=home)
        if listed.returncode != 0 or not listed.stdout.strip():
            return f"runs list failed: {listed.stderr[-300:]}"
        run = json.loads(listed.stdout.splitlines()[0])
        if run["pipeline"] != PIPELINE[wl] or run["status"] != "success":
            return f"newest run is {run['pipeline']}/{run['status']}"
        status = self.cli(profile, "runs", "status", "--run", run["id"], "-o", "json",
                          home=home)
        doc = json.loads(status.stdout)
        nodes = doc.get("nodes") or []
        ok = sum(1 for n in nodes if n.get("outcome") == "success")
        if ok != JOBS[wl]:
            return f"{ok} of {JOBS[wl]} jobs succeeded"
        if wl == "W5":
            logs = self.cli(profile, "runs", "logs", "--run", run["id"], "--node", "out",
                            "-o", "json", home=home)
            got = logs.stdout.count('"event":"exec_line"')
            if got != LINES:
                return f"W5 log has {got} exec_line records, expected {LINES}"
        return ""


def bench_runs(runner: Runner, rounds: int) -> str:
    """W2 and W5 on laptop and s3; every round verified."""
    rows = [["workload", "laptop (SQLite + files)", "s3 (moto, same machine)", "s3 / laptop"]]
    for wl in ("W2", "W5"):
        medians: dict[str, float] = {}
        cells: dict[str, str] = {}
        for profile in ("laptop", "team"):
            home = runner.work / f"home-{profile}"
            runner.timed_run(profile, wl, home)  # warm-up (creates the store), not timed
            times = []
            for i in range(rounds):
                took = runner.timed_run(profile, wl, home)
                problem = runner.verify(profile, wl, home)
                if problem:
                    raise RuntimeError(f"{wl} on {profile}, round {i + 1}: {problem}")
                times.append(took)
                _progress(f"{wl} {profile} round {i + 1}: {took:.2f} s")
            medians[profile] = statistics.median(times)
            cells[profile] = f"{_median(times)} (min {min(times):.2f} s, n={rounds})"
        rows.append([wl, cells["laptop"], cells["team"],
                     f"{medians['team'] / medians['laptop']:.1f}x"])
    return _table(rows)


def bench_list(runner: Runner, team: Team, n_runs: int, rounds: int) -> str:
    """``runs list`` with *n_runs* finished runs in the bucket."""
    from sparkwing.ids import new_run_id
    from sparkwing.storage.records import Run
    from sparkwing_s3.settings import parse_settings
    from sparkwing_s3.testing import state_store

    store = state_store(parse_settings(team.block("state"), "team"))
    start = time.perf_counter()
    base = time.time() - 30 * 86400

    def write(i: int) -> None:
        t = base + i * (30 * 86400 / n_runs)
        run_id = new_run_id(t)
        store.create_run(Run(id=run_id, pipeline=f"p{i % 7}", status="running",
                             created_at=t, started_at=t))
        store.update_run(run_id, {"status": "success" if i % 10 else "failed",
                                  "finished_at": t + 5})

    with ThreadPoolExecutor(max_workers=16) as pool:
        for i, _ in enumerate(pool.map(write, range(n_runs)), 1):
            if i % 500 == 0:
                _progress(f"wrote {i}/{n_runs} runs")
    store.close()
    wrote = time.perf_counter() - start
    home = runner.work / "home-list"
    rows = [["command", "median", "min", "rows"]]
    for args in (("runs", "list", "-o", "json"),
                 ("runs", "list", "--limit", "1000", "-o", "json"),
                 ("runs", "list", "--status", "failed", "-o", "json")):
        times: list[float] = []
        count = 0
        for _ in range(rounds):
            t0 = time.perf_counter()
            done = runner.cli("team", *args, home=home)
            times.append(time.perf_counter() - t0)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(args)}: {done.stderr[-500:]}")
            count = len(done.stdout.splitlines())
        rows.append([f"`sparkwing {' '.join(args)} --profile team`", _median(times),
                     f"{min(times):.2f} s", str(count)])
    return (f"{n_runs} runs written through the state store with 16 threads in "
            f"{wrote:.0f} s ({n_runs / wrote:.0f} runs/s).\n\n" + _table(rows))


def _log_throughput(name: str, blobs: Any, lines: int) -> list[str]:
    from sparkwing.storage.blobs.logs import BlobLogStore
    from sparkwing.storage.logrecord import format_output_lines

    store = BlobLogStore(blobs)
    text = "x" * 79
    batch = 1000
    payload = [format_output_lines("out", "", [f"{i:07d} {text}"[:80] for i in range(j, j + batch)],
                                   time.time()) for j in range(0, lines, batch)]
    size = sum(len(p.encode()) for p in payload)
    run_id = f"run-bench-{name}-{os.getpid()}"
    start = time.perf_counter()
    writer = store.writer(run_id, "out")
    for chunk in payload:
        writer.write_raw(chunk)
    writer.close()
    wrote = time.perf_counter() - start
    start = time.perf_counter()
    got = 0
    offset = 0
    while True:
        chunk = store.read(run_id, "out", offset)
        got += len(chunk.lines)
        if chunk.next_offset == offset or not chunk.lines:
            break
        offset = chunk.next_offset
    read = time.perf_counter() - start
    store.close()
    if got != lines:
        raise RuntimeError(f"{name}: read back {got} of {lines} records")
    mib = size / 2**20
    return [name, f"{mib:.1f} MiB", f"{mib / wrote:.1f} MiB/s", f"{mib / read:.1f} MiB/s"]


def bench_logs(team: Team, lines: int) -> str:
    """Log records written to and read from each emulator through the log store."""
    from sparkwing_azure.settings import parse_settings as azure_settings
    from sparkwing_azure.store import AzureBlobStore
    from sparkwing_azure.testing import Azurite
    from sparkwing_gcs.settings import parse_settings as gcs_settings
    from sparkwing_gcs.store import GcsBlobStore
    from sparkwing_gcs.testing import FakeGcs
    from sparkwing_s3.settings import parse_settings as s3_settings
    from sparkwing_s3.store import S3BlobStore

    rows = [["emulator", "records", "write", "read back"]]
    s3 = S3BlobStore(s3_settings({**team.block("logs"), "prefix": "logbench"}, "bench"))
    rows.append(_log_throughput("s3 (moto)", s3, lines))
    with FakeGcs() as gcs:
        gcs.create_bucket("logbench")
        store = GcsBlobStore(gcs_settings({"bucket": "logbench",
                                           "endpoint_url": gcs.endpoint_url}, "bench"))
        rows.append(_log_throughput("gcs (fake-gcs-server)", store, lines))
    with Azurite(AZURITE) as azurite:
        azurite.create_container("logbench")
        store = AzureBlobStore(azure_settings({"container": "logbench",
                                               "url": azurite.connection_string,
                                               "retries": 0}, "bench"))
        rows.append(_log_throughput("azure (Azurite)", store, lines))
    return (f"{lines} exec_line records of 80-byte lines, one writer, through "
            "`BlobLogStore` (parts of up to 4 MiB).\n\n" + _table(rows))


def machine() -> str:
    """One line about the machine."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return (f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"load average {load:.1f} at start")


def main(argv: list[str] | None = None) -> int:
    """Run the selected parts and print markdown for bench/RESULTS.md."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="runs,list,logs", help="parts: runs, list, logs")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per cell (default 3)")
    p.add_argument("--runs", type=int, default=5000, help="runs in the bucket for list")
    p.add_argument("--log-lines", type=int, default=LINES, help="records for logs")
    args = p.parse_args(argv)
    parts = set(args.only.split(","))
    out = [f"Machine: {machine()}."]
    with tempfile.TemporaryDirectory(prefix="sw-objbench-") as tmp:
        work = Path(tmp)
        team = Team(work)
        try:
            runner = Runner(work, team)
            if "runs" in parts:
                out.append("### W2 and W5: laptop profile vs s3 profile on moto\n\n"
                           + bench_runs(runner, args.rounds))
            if "list" in parts:
                out.append(f"### `runs list` with {args.runs} runs in the bucket\n\n"
                           + bench_list(runner, team, args.runs, args.rounds))
            if "logs" in parts:
                out.append("### Log throughput to each emulator\n\n"
                           + bench_logs(team, args.log_lines))
        finally:
            team.stop()
    print("\n\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


"""Delay from a log line written by a job to the line arriving over SSE (target: p99 <= 300 ms).

Two measurements against a dashboard running as its own process:

* ``store``: a writer process appends records through the filesystem log
  store (write + flush, as a job's logger does) at random 5-50 ms gaps,
  stamping each with the wall-clock time just before the write;
* ``job``: a real ``sparkwing run`` whose job prints its wall-clock time
  every 10-40 ms; the line travels job stdout -> orchestrator -> log store.

In both, this process reads ``GET /api/v1/runs/{id}/logs/{node}/stream``
and records arrival time minus the stamped time (same machine, same clock).

    uv run python bench/dashboard_log_latency.py [--lines 400] [--skip-job]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_harness import (
    REPO,
    dashboard,
    format_row,
    free_port,
    isolated_env,
    machine,
    summary_ms,
    temp_home,
)

WRITER = r"""
import random, sys, time
from pathlib import Path
from sparkwing.storage.fs_logs import FilesystemLogStore
from sparkwing.storage.logrecord import make_record
home, run_id, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
writer = FilesystemLogStore(home / "runs").writer(run_id, "job")
rng = random.Random(3)
for i in range(count):
    time.sleep(rng.uniform(0.005, 0.05))
    sent = time.time()
    writer.write([make_record(f"line {i}", node="job", event="exec_line", attrs={"sent": sent})])
    writer.flush()
writer.write([make_record("done", node="job", event="exec_line", attrs={"last": True})])
writer.close()
"""

EMITTER = r"""
import os, random, sys, time
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
rng = random.Random(5)
for i in range(int(sys.argv[2])):
    time.sleep(rng.uniform(0.01, 0.04))
    print(repr(time.time()), flush=True)
print("done", flush=True)
"""

PIPELINE = """
    import sparkwing as sw

    def plan(plan, inputs, run):
        plan.job("emit", sw.sh("COMMAND"))
"""


class Reader(threading.Thread):
    """Reads one log stream and records each line's delay."""

    def __init__(self, port: int, run_id: str, node: str) -> None:
        super().__init__(daemon=True)
        self.port, self.run_id, self.node = port, run_id, node
        self.delays: list[float] = []
        self.connected = threading.Event()
        self.finished = threading.Event()
        self.error = ""

    def run(self) -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            conn.request("GET", f"/api/v1/runs/{self.run_id}/logs/{self.node}/stream")
            response = conn.getresponse()
            self.connected.set()
            while True:
                raw = response.readline()
                if not raw:
                    break
                if not raw.startswith(b"data: ") or raw.startswith(b"data: {}"):
                    continue
                arrived = time.time()
                rec = json.loads(raw[6:])
                attrs = rec.get("attrs") or {}
                msg = rec.get("msg", "")
                if attrs.get("last") or msg == "done":
                    break
                if "sent" in attrs:
                    self.delays.append(arrived - attrs["sent"])
                elif rec.get("event") == "exec_line":
                    try:
                        self.delays.append(arrived - float(msg))
                    except ValueError:
                        pass
            conn.close()
        except Exception as exc:  # reported by the caller
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.connected.set()
            self.finished.set()


def store_writer(home: Path, port: int, lines: int) -> list[float]:
    """Measure with a writer process using the log store directly."""
    from sparkwing.storage.records import Node, Run
    from sparkwing_sqlite.store import SqliteStateStore

    state = SqliteStateStore(home / "state.db")
    run_id = "run-20260101-000000-0000beef"
    now = time.time()
    state.create_run(Run(id=run_id, pipeline="latency-store", status="running", created_at=now,
                         started_at=now, last_heartbeat_at=now))
    state.create_nodes(run_id, [Node(run_id, "job", status="running", started_at=now)])
    reader = Reader(port, run_id, "job")
    reader.start()
    reader.connected.wait(30)
    writer = subprocess.run([sys.executable, "-c", WRITER, str(home), run_id, str(lines)],
                            env=isolated_env(home), check=True)
    assert writer.returncode == 0
    reader.finished.wait(60)
    state.update_run(run_id, {"status": "success", "finished_at": time.time()})
    state.close()
    if reader.error:
        raise SystemExit(f"log stream failed: {reader.error}")
    return reader.delays


def real_job(home: Path, port: int, lines: int) -> list[float]:
    """Measure with a real ``sparkwing run`` job printing time stamps."""
    project = home / "project"
    (project / ".sparkwing" / "pipelines").mkdir(parents=True)
    (project / ".sparkwing" / "pipelines" / "__init__.py").write_text("")
    gate = home / "gate"
    emitter = project / "emit.py"
    emitter.write_text(EMITTER)
    command = f"{sys.executable} {emitter} {gate} {lines}"
    source = textwrap.dedent(PIPELINE).replace("COMMAND", command)
    (project / ".sparkwing" / "pipelines" / "latency.py").write_text(source)
    (project / ".sparkwing" / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: latency\n    entrypoint: pipelines.latency:plan\n")
    proc = subprocess.Popen([sys.executable, "-m", "sparkwing_cli.main", "run", "latency"],
                            cwd=project, env=isolated_env(home), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    run_id = ""
    deadline = time.monotonic() + 60
    while not run_id and time.monotonic() < deadline:
        conn.request("GET", "/api/v1/runs?pipeline=latency")
        runs = json.loads(conn.getresponse().read())["runs"]
        run_id = runs[0]["id"] if runs else ""
        time.sleep(0.05)
    conn.close()
    if not run_id:
        proc.kill()
        raise SystemExit("sparkwing run did not record a run")
    reader = Reader(port, run_id, "emit")
    reader.start()
    reader.connected.wait(30)
    gate.touch()
    _, err = proc.communicate(timeout=300)
    reader.finished.wait(60)
    if proc.returncode != 0:
        raise SystemExit(f"sparkwing run failed: {err.decode()[-500:]}")
    if reader.error:
        raise SystemExit(f"log stream failed: {reader.error}")
    return reader.delays


def main() -> None:
    """Run both measurements and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--skip-job", action="store_true", help="only the store-writer measure")
    args = parser.parse_args()
    print(f"log line -> SSE delay; {machine()}; repo {REPO}")
    results = {}
    with temp_home() as home:
        port = free_port()
        with dashboard(home, port):
            results["store writer -> SSE"] = store_writer(home, port, args.lines)
            if not args.skip_job:
                results["sparkwing run job stdout -> SSE"] = real_job(home, port, args.lines)
    for label, delays in results.items():
        if len(delays) < args.lines:
            print(f"warning: {label}: {len(delays)} of {args.lines} lines measured")
        print(format_row(label, summary_ms(delays)))
    worst = max(summary_ms(d)["p99"] for d in results.values())
    print(f"worst p99 {worst:.1f} ms {'meets' if worst <= 300 else 'misses'} the 300 ms target")


if __name__ == "__main__":
    main()

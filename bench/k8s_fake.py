"""Benchmark: job attempts through the ``k8s`` executor against the fake Kubernetes API server.

The fake server runs as its own process (``python -m sparkwing_k8s.testing
serve``), so its work is not charged to the executor. Measured:

* **first attempt**: building the executor (kubeconfig, ``/version``) and
  its first attempt, which pays for importing the client and building its
  models;
* **burst**: ``--jobs`` attempts (default 100) handed to one executor at once;
  Jobs created per second (from the server's record of create calls, first to
  last) and the wall time until every attempt has its result;
* **overhead**: ``--sequential`` attempts (default 20) one after the other;
  the per-job overhead is an attempt's wall time minus the time the same
  command takes when spawned directly (the pod's own work), i.e. what the
  executor and the API round trips add (Secret-less Job create, two watches,
  the log follow, deleting nothing: finished Jobs are left to their TTL);
* **e2e** (``--e2e``): ``sparkwing run`` of a pipeline of ``--jobs`` shell
  jobs with ``--sw-executor k8s`` against the fake, next to the same run
  with ``--sw-executor process``, each pod running the real ``sparkwing
  node exec``.

The pod command in burst/overhead is ``sh -c 'exit 3'`` in place of the
image's ``sparkwing node exec`` (the executor's ``command`` setting), so
those figures are the executor and the API path alone; ``--e2e`` adds the
real node exec. Usage::

    uv run python bench/k8s_fake.py [--jobs 100] [--sequential 20] [--e2e]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from sparkwing.execution.contracts import Attempt, ExecutorContext
from sparkwing_k8s.executor import K8sExecutor
from sparkwing_k8s.results import ResultReader

RUN_ID = "run-20260101-000000-b0b0"
PROFILE: list[str] = []
#: Exits 3: like a node exec that recorded nothing, so no time goes to looking for a result.
STAND_IN = ["sh", "-c", "exit 3", "sh"]


class _NoEvents:
    """A result source with no recorded results (the stand-in command records none)."""

    def list_events(self, run_id: str, after_seq: int = 0, limit: int = 500) -> list[Any]:
        return []


def _serve(tmp: Path, image_root: Path) -> tuple[subprocess.Popen[str], Path, str]:
    kc = tmp / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, *PROFILE, "-m", "sparkwing_k8s.testing", "serve", "--port", "0",
         "--kubeconfig", str(kc), "--image-root", str(image_root)],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.split("listening on ", 1)[1].split(";", 1)[0].strip()
    return proc, kc, url


def _calls(url: str) -> list[dict[str, str]]:
    with urllib.request.urlopen(url + "/fake/v1/calls", timeout=30) as resp:
        return list(json.loads(resp.read())["calls"])


def _attempt(node: str, workdir: Path) -> Attempt:
    return Attempt(run_id=RUN_ID, node_id=node, attempt=1, pipeline="bench", workdir=workdir,
                   profile="laptop", settings={"command": STAND_IN})


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _burst(executor: K8sExecutor, n: int, workdir: Path) -> tuple[float, list[Any]]:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(executor.run_attempt(_attempt(f"burst-{i}", workdir))
                                     for i in range(n)))
    return time.perf_counter() - t0, list(results)


async def _sequential(executor: K8sExecutor, n: int, workdir: Path) -> list[float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        result = await executor.run_attempt(_attempt(f"seq-{i}", workdir))
        times.append(time.perf_counter() - t0)
        assert result.exit_code == 3, result
    return times


def _direct(n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([*STAND_IN, "node", "exec"], check=False)
        times.append(time.perf_counter() - t0)
    return times


def executor_figures(args: argparse.Namespace) -> dict[str, Any]:
    """Burst and sequential figures against a fresh fake server."""
    with tempfile.TemporaryDirectory(prefix="k8s-bench-") as raw:
        tmp = Path(raw)
        proc, kc, url = _serve(tmp, tmp)
        try:
            t0 = time.perf_counter()
            executor = K8sExecutor.from_config({"kubeconfig": str(kc)},
                                               ExecutorContext(home=tmp),
                                               results=ResultReader(_NoEvents()))
            build_s = time.perf_counter() - t0
            warm: dict[str, float] = {}

            async def go() -> tuple[float, list[Any], list[float]]:
                try:
                    t1 = time.perf_counter()
                    await executor.run_attempt(_attempt("warm-up", tmp))
                    warm["first_attempt_s"] = time.perf_counter() - t1
                    wall, results = await _burst(executor, args.jobs, tmp)
                    seq = await _sequential(executor, args.sequential, tmp)
                    return wall, results, seq
                finally:
                    await executor.close()

            wall, results, seq = asyncio.run(go())
            calls = _calls(url)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    bad = [r for r in results if r.exit_code != 3]
    creates = sorted(float(c["ts"]) for c in calls
                     if c["verb"] == "create" and c["resource"] == "jobs")
    burst_creates = creates[1:args.jobs + 1]  # after the warm-up attempt
    span = burst_creates[-1] - burst_creates[0] if len(burst_creates) > 1 else 0.0
    direct = _direct(args.sequential)
    base = statistics.median(direct)
    overhead = [t - base for t in seq]
    return {
        "executor_build_s": build_s,
        "first_attempt_s": warm["first_attempt_s"],
        "burst_jobs": args.jobs, "burst_failed": len(bad), "burst_wall_s": wall,
        "jobs_created_per_s": (len(burst_creates) - 1) / span if span else float("nan"),
        "burst_attempts_per_s": args.jobs / wall,
        "sequential": args.sequential,
        "attempt_p50_ms": statistics.median(seq) * 1000,
        "attempt_p90_ms": _pct(seq, 0.9) * 1000,
        "direct_spawn_p50_ms": base * 1000,
        "overhead_p50_ms": statistics.median(overhead) * 1000,
        "overhead_p90_ms": _pct(overhead, 0.9) * 1000,
        "api_calls_per_attempt": len([c for c in calls if c["resource"]]) /
        (1 + args.jobs + args.sequential),
    }


PIPELINE = """
import sparkwing as sw

def plan(plan, inputs, run):
    for i in range({n}):
        plan.job(f"j{{i}}", sw.sh("true"))
"""


def e2e_figures(args: argparse.Namespace) -> dict[str, Any]:
    """``sparkwing run`` of N shell jobs on the k8s executor (fake cluster) and on process."""
    with tempfile.TemporaryDirectory(prefix="k8s-e2e-") as raw:
        tmp = Path(raw)
        repo = tmp / "repo"
        (repo / ".sparkwing" / "pipelines").mkdir(parents=True)
        (repo / ".sparkwing" / "pipelines" / "many.py").write_text(PIPELINE.format(n=args.jobs))
        (repo / ".sparkwing" / "sparkwing.yaml").write_text(
            "pipelines:\n  - name: many\n    entrypoint: pipelines.many:plan\n")
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        env = {**os.environ, "SPARKWING_HOME": str(tmp / "home")}
        env.pop("KUBECONFIG", None)
        # the fake's pods get this environment (the same home and project), as an image would
        kc = tmp / "kubeconfig"
        server = subprocess.Popen(
            [sys.executable, *PROFILE, "-m", "sparkwing_k8s.testing", "serve", "--port", "0",
             "--kubeconfig", str(kc), "--image-root", str(repo)],
            stdout=subprocess.PIPE, text=True, env=env)
        assert server.stdout is not None
        server.stdout.readline()
        out: dict[str, Any] = {"e2e_jobs": args.jobs}
        try:
            for name in ("process", "k8s"):
                run_env = dict(env)
                if name == "k8s":
                    run_env["KUBECONFIG"] = str(kc)
                cmd = [sys.executable, "-m", "sparkwing_cli.main", "run", "many",
                       "--sw-executor", name, "--sw-workers", str(args.workers)]
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, cwd=repo, env=run_env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
                out[f"e2e_{name}_s"] = time.perf_counter() - t0
                out[f"e2e_{name}_exit"] = proc.returncode
                if proc.returncode != 0:
                    out[f"e2e_{name}_error"] = proc.stderr.strip().splitlines()[-1:]
        finally:
            server.terminate()
            server.wait(timeout=30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=100, help="attempts in the burst (and e2e jobs)")
    ap.add_argument("--sequential", type=int, default=20, help="attempts run one at a time")
    ap.add_argument("--e2e", action="store_true", help="also time sparkwing run end to end")
    ap.add_argument("--workers", type=int, default=16, help="--sw-workers for the e2e runs")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    figures = executor_figures(args)
    if args.e2e:
        figures.update(e2e_figures(args))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:28} {value:.1f}" if isinstance(value, float) else f"{key:28} {value}")


if __name__ == "__main__":
    main()

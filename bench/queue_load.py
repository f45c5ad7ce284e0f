"""Controller load and fault benchmark: R runner processes drain N node attempts over HTTP.

    uv run python bench/queue_load.py [--nodes 10000] [--runners 50] [--threads 1]
        [--backend sqlite|postgres] [--pg-url URL] [--restart-at FRACTION]
        [--heartbeat] [--lease-secs 30] [-o json]

1. A fresh ``SPARKWING_HOME``; with ``--backend postgres`` a profile whose
   state store is PostgreSQL: a throwaway PostgreSQL 15 cluster started as
   the tests do (``sparkwing_postgres.cluster.TempCluster``), or ``--pg-url``.
2. A runner token (``sparkwing controller token create``), then one run with
   N nodes and attempt 1 of each marked ready **directly in the store**
   before the controller starts (``queuedrain.seed_attempts``: what
   ``mark-ready`` does, without N HTTP calls; its time is printed apart).
3. ``sparkwing controller serve --require-auth`` in a subprocess, then R
   client processes (``python -m sparkwing_server.controller.queuedrain``),
   each with ``--threads`` holders looping ``QueueClient.claim_node`` ->
   (``heartbeat_node``) -> ``finish_node``; an empty claim waits 0.1 s.
   Every client is started, connected and waiting before the clock starts.
4. The drain ends when the store has no ``ready`` or ``claimed`` attempt.
   ``--restart-at F`` SIGKILLs the controller once a fraction F of the
   attempts finished, reads which attempts were claimed at that moment, and
   starts it again on the same home and port; the clients retry calls that
   fail with a retryable ``ControllerError`` (back-off 0.05 s doubling to 1 s).
5. The check (``queuedrain.check_drain``): every attempt ``finished``
   exactly once, none claimed by two holders, each client's accepted finish
   matching the store's ``(claimed_by, claim_seq)``. A claim whose answer
   was lost in the crash is answered to the client's retry, which repeats
   the claim's request id; one no client knew it held would be reaped
   (``agent_lost``) after the lease and is counted apart.

Prints total time, claims/s, claim / heartbeat / finish latency (p50, p95,
p99: the call that answered, retries not included), empty claims, retries
and the check; progress on stderr. Exit 1 when the check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sparkwing_server.controller import queuedrain

RUN_ID = "run-20261201-000000-load"
PROFILES = """\
profiles:
  team:
    description: queue load benchmark on PostgreSQL
    state: {{type: postgres, url_source: env:SPARKWING_PG_URL, schema: {schema}}}
"""


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _lat(values: list[float]) -> dict[str, float]:
    return {"p50_ms": _pct(values, 50) * 1000, "p95_ms": _pct(values, 95) * 1000,
            "p99_ms": _pct(values, 99) * 1000, "max_ms": max(values, default=0.0) * 1000,
            "count": len(values)}


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One benchmark run; returns the figures (see the module docstring)."""
    work = Path(tempfile.mkdtemp(prefix="sw-qload-"))
    home = work / "home"
    home.mkdir()
    env = dict(os.environ, SPARKWING_HOME=str(home))
    env.pop("SPARKWING_PROFILE", None)
    profile_args: list[str] = []
    cluster = None
    if args.backend == "postgres":
        url = args.pg_url
        if not url:
            from sparkwing_postgres.cluster import TempCluster

            cluster = TempCluster()
            cluster.start()
            url = cluster.url()
        # a schema of its own, so runs against one --pg-url never meet
        (work / "profiles.yaml").write_text(PROFILES.format(schema=f"queueload_{work.name[9:]}"))
        env.update(SPARKWING_PROFILES=str(work / "profiles.yaml"), SPARKWING_PG_URL=url)
        profile_args = ["--profile", "team"]
    os.environ.update({k: env[k] for k in ("SPARKWING_HOME", "SPARKWING_PROFILES",
                                           "SPARKWING_PG_URL") if k in env})
    ctl = queuedrain.ControllerProcess(
        env, work, work / "controller.log",
        ["--require-auth", "--lease-secs", str(args.lease_secs), "--reaper-interval", "1",
         *profile_args])
    try:
        token = queuedrain.create_token(env, work, "bench", "runner", *profile_args)
        from sparkwing_server.localws.serve import open_profile_stores

        stores = open_profile_stores("team" if profile_args else None, work)
        _say(f"seeding {args.nodes} attempts ({args.backend}) ...")
        t0 = time.perf_counter()
        seeded = queuedrain.seed_attempts(stores, RUN_ID, args.nodes,
                                          threads=8 if args.backend == "postgres" else 1)
        seed_s = time.perf_counter() - t0
        url = ctl.start()
        # the token's first check pays argon2 once; later requests hit the controller's cache
        from sparkwing.queueclient import QueueClient

        with QueueClient(url, token, timeout=120) as probe:
            probe.list_queue(limit=1)
        load_start = _load()
        drained = queuedrain.run_drain(ctl, stores, seeded, token, work, runners=args.runners,
                                       threads=args.threads, heartbeat=args.heartbeat,
                                       restart_at=args.restart_at, progress=_say)
        load_end = _load()
        stores.close()
        results, check, elapsed = drained.clients, drained.check, drained.elapsed_s
        assert check is not None
        claim_s = [r[5] for s in results for r in s.claims]
        finish_s = [r[6] for s in results for r in s.claims if r[6] is not None]
        beat_s = [b for s in results for b in s.heartbeat_s]
        report: dict[str, Any] = {
            "backend": args.backend, "nodes": args.nodes, "runners": args.runners,
            "threads_per_runner": args.threads, "heartbeat": args.heartbeat,
            "lease_secs": args.lease_secs, "restart_at": args.restart_at,
            "seed_s": seed_s, "drain_s": elapsed, "claims_per_s": args.nodes / elapsed,
            "claim": _lat(claim_s), "finish": _lat(finish_s),
            "heartbeat_latency": _lat(beat_s) if beat_s else None,
            "controller_cpu_s": drained.controller_cpu_s,
            "clients_cpu_s": drained.clients_cpu_s,
            "empty_claims": sum(s.empty for s in results),
            "retries": sum(s.retries for s in results),
            "load_before": load_start, "load_after": load_end,
            "check": {k: v for k, v in check.__dict__.items() if k != "problems"}
            | {"ok": check.ok, "problems": check.problems[:20]},
            "restart": drained.restart or None,
        }
        return report
    finally:
        ctl.stop()
        if cluster is not None:
            cluster.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            _say(f"kept {work}")


def _text(r: dict[str, Any]) -> str:
    def lat(d: dict[str, float] | None) -> str:
        if not d:
            return "-"
        return (f"p50 {d['p50_ms']:.1f} ms, p95 {d['p95_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, "
                f"max {d['max_ms']:.0f} ms")

    c = r["check"]
    lines = [
        f"backend {r['backend']}, {r['nodes']} attempts, {r['runners']} runner processes x "
        f"{r['threads_per_runner']} thread(s), heartbeat {'on' if r['heartbeat'] else 'off'}, "
        f"lease {r['lease_secs']:g} s",
        f"load average (1/5/15 min) before {r['load_before']}, after {r['load_after']}",
        f"seeding (in the store, before start): {r['seed_s']:.1f} s",
        f"drain: {r['drain_s']:.1f} s, {r['claims_per_s']:.0f} claims/s (claim + finish)",
        f"claim latency:     {lat(r['claim'])}",
        f"finish latency:    {lat(r['finish'])}",
        f"heartbeat latency: {lat(r['heartbeat_latency'])}",
        f"CPU during the drain: controller {r['controller_cpu_s']:.1f} s, clients "
        f"{r['clients_cpu_s']:.1f} s (of {(os.cpu_count() or 1) * r['drain_s']:.0f} core-seconds)",
        f"empty claims: {r['empty_claims']}, retried calls: {r['retries']}",
    ]
    if r["restart"]:
        rs = r["restart"]
        lines.append(f"restart: SIGKILL at {rs['at_finished']} finished, {rs['claimed_at_kill']} "
                     f"claimed at the kill, down {rs['down_s']:.1f} s (kill to listening)")
        lines.append(f"  claimed at the kill: {c['in_flight_finished_by_holder']} finished by "
                     f"their holder after the restart, {c['in_flight_reaped']} reaped")
    lines.append(f"check: {'OK' if c['ok'] else 'FAILED'}: {c['finished_by_holder']} finished by "
                 f"their holder, {c['reaped']} reaped (agent_lost; {c['reaped_unanswered']} whose "
                 "claim answer was lost), none lost, none claimed twice" if c["ok"] else
                 "check: FAILED:\n  " + "\n  ".join(c["problems"]))
    return "\n".join(lines)


def main() -> int:
    """Parse the flags, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000, help="node attempts (10000)")
    parser.add_argument("--runners", type=int, default=50, help="client processes (50)")
    parser.add_argument("--threads", type=int, default=1, help="holders per process (1)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default="", help="use this PostgreSQL, not a throwaway one")
    parser.add_argument("--restart-at", type=float, default=None, metavar="FRACTION",
                        help="SIGKILL and restart the controller once this fraction finished")
    parser.add_argument("--heartbeat", action="store_true",
                        help="one heartbeat between claim and finish")
    parser.add_argument("--lease-secs", type=float, default=30.0,
                        help="the controller's lease (30; a lost claim answer waits this long)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    args = parser.parse_args()
    if args.restart_at is not None and not 0 < args.restart_at < 1:
        parser.error("--restart-at must be a fraction between 0 and 1")
    report = run(args)
    print(json.dumps(report, indent=2) if args.output == "json" else _text(report), flush=True)
    return 0 if report["check"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

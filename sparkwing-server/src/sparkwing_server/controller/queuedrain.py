"""Drain the controller's node queue with runner client processes, and check nothing was lost.

Shared by ``bench/queue_load.py`` (the load and fault benchmark) and
``tests/controller/test_controller_restart.py`` (the controller restart
test), so both drive and check the controller the same way:

* :class:`ControllerProcess`: a real ``sparkwing controller serve``
  subprocess that can be killed with SIGKILL and started again on the same
  home and port;
* :func:`seed_attempts`: a run, its nodes and *N* ready node attempts,
  written straight into the controller's stores before the drain;
* :func:`client_main` (``python -m sparkwing_server.controller.queuedrain``):
  one runner client process, one or more threads each looping
  ``claim_node`` -> (``heartbeat_node``) -> ``finish_node`` with
  :class:`sparkwing.queueclient.QueueClient` until told to stop, retrying
  calls that fail with a retryable :class:`~sparkwing.queueclient.ControllerError`
  (the controller restarting; a claim's retries repeat its request id) and
  writing what it claimed to a JSON file;
* :func:`check_drain`: the client records against the store's rows:
  every attempt finished exactly once, none claimed by two holders, and
  what became of the attempts claimed when the controller was killed.

Client processes import only the standard library and
:mod:`sparkwing.queueclient` (this module keeps its other imports inside
functions), so fifty of them start quickly.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparkwing.config import Stores
    from sparkwing.storage.nodequeue import QueuedAttempt

#: Hang guard for the controller to print its address (not a timing assertion).
START_TIMEOUT_S = 120.0
#: First and longest wait between retries of a call the controller could not answer.
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 1.0

#: ``(run_id, node_id, attempt)``: one node attempt.
Key = tuple[str, str, int]


# -- the controller process -------------------------------------------------------------------

@dataclass
class ControllerProcess:
    """``sparkwing controller serve`` in a subprocess, restartable on the same port.

    *env* carries ``SPARKWING_HOME`` (and ``SPARKWING_PROFILES`` for another
    profile); *args* are extra ``serve`` flags. The first :meth:`start`
    takes a free port; later starts reuse it, so clients keep their URL.
    The server's stderr goes to *log* (appended across restarts).
    """

    env: dict[str, str]
    cwd: Path
    log: Path
    args: Sequence[str] = ()
    port: int = 0
    url: str = ""
    proc: subprocess.Popen[str] | None = None
    starts: int = 0

    def start(self) -> str:
        """Start the server and wait for its ``listening`` line; return its URL."""
        with self.log.open("a") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sparkwing_cli.main", "controller", "serve",
                 "--addr", f"127.0.0.1:{self.port}", *self.args],
                cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=err, text=True,
            )
        lines: queue.Queue[str] = queue.Queue()
        proc = self.proc

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put("")

        threading.Thread(target=pump, daemon=True).start()
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            line = ""
        if not line.startswith("sparkwing controller listening on "):
            self.kill()
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"controller did not start (got {line!r}):\n{tail}")
        self.url = line.split()[4]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.starts += 1
        return self.url

    @property
    def pid(self) -> int:
        """The server's process id (0 when not started)."""
        return self.proc.pid if self.proc is not None else 0

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing is flushed or closed) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM the server and wait for it (SIGKILL after 30 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def create_token(env: dict[str, str], cwd: Path, name: str, scope: str = "runner",
                 *profile_args: str) -> str:
    """A token made with ``sparkwing controller token create`` in *env*'s home; the raw token.

    Its kind is ``runner`` for the ``runner`` scope, else ``user``.
    """
    out = subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", "controller", "token", "create",
         "--kind", "runner" if scope == "runner" else "user", "--name", name, "--scope", scope,
         *profile_args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        check=False)
    if out.returncode != 0:
        raise RuntimeError(f"token create failed: {out.stderr.strip()}")
    return out.stdout.strip()


# -- seeding ----------------------------------------------------------------------------------

def node_ids(count: int) -> list[str]:
    """The node ids :func:`seed_attempts` creates, in FIFO order."""
    return [f"n{i:06d}" for i in range(count)]


def seed_attempts(stores: Stores, run_id: str, count: int, *, threads: int = 1) -> list[Key]:
    """Record run *run_id* with *count* nodes and queue attempt 1 of each, ready.

    Written straight into the controller's state store and node queue
    (:func:`~.nodequeue.open_node_queue`), as ``mark-ready`` would, before the
    controller serves; *threads* > 1 enqueues from that many threads (for
    PostgreSQL, where each enqueue is a round trip).
    """
    from concurrent.futures import ThreadPoolExecutor

    from sparkwing.storage.records import Node, Run

    from .nodequeue import open_node_queue

    now = time.time()
    ids = node_ids(count)
    stores.state.create_run(Run(id=run_id, pipeline="queue-load", status="running",
                                created_at=now, started_at=now))
    stores.state.create_nodes(run_id, [Node(run_id, n) for n in ids])
    nodes = open_node_queue(stores)
    try:
        def enqueue(i: int) -> None:
            nodes.enqueue(run_id, ids[i], 1, now=now + i * 1e-6)

        if threads <= 1:
            for i in range(count):
                enqueue(i)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(enqueue, range(count)))
    finally:
        nodes.close()
    return [(run_id, n, 1) for n in ids]


# -- one runner client process -----------------------------------------------------------------

@dataclass
class ClientStats:
    """What one client thread saw (merged per process in its result file)."""

    #: ``[run_id, node_id, attempt, holder, seq, claim_s, finish_s, result]`` per claim;
    #: result ``finished`` (the finish was accepted) or ``lost`` (ClaimLost: reaped).
    claims: list[list[Any]] = field(default_factory=list)
    empty: int = 0
    retries: int = 0
    heartbeat_s: list[float] = field(default_factory=list)


def _retrying(call: Any, stats: ClientStats) -> Any:
    """Run *call* until it does not fail with a retryable ControllerError (back-off between)."""
    from sparkwing.queueclient import ClaimLost, ControllerError

    delay = RETRY_FIRST_S
    while True:
        try:
            return call()
        except ClaimLost:
            raise
        except ControllerError as exc:
            if not exc.retryable:
                raise
            stats.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)


def _timed(call: Any, stats: ClientStats) -> tuple[Any, float]:
    """``(answer, seconds of the call that answered)``: retries are counted, not timed."""
    box: list[float] = []

    def once() -> Any:
        start = time.perf_counter()
        answer = call()
        box.append(time.perf_counter() - start)
        return answer

    answer = _retrying(once, stats)
    return answer, box[-1]


def drain_loop(url: str, token: str, holder: str, stop: Path, *, heartbeat: bool = False,
               poll_s: float = 0.1, lease_s: float | None = None,
               timeout_s: float = 60.0) -> ClientStats:
    """Claim, (heartbeat,) finish until the *stop* file exists; an empty claim waits *poll_s*."""
    from sparkwing.queueclient import ClaimLost, QueueClient, new_request_id

    stats = ClientStats()
    with QueueClient(url, token, timeout=timeout_s) as client:
        while True:
            request_id = new_request_id()  # repeated by every retry of this one claim
            claim, claim_s = _timed(functools.partial(
                client.claim_node, holder, lease_secs=lease_s, request_id=request_id), stats)
            if claim is None:
                stats.empty += 1
                if stop.exists():
                    return stats
                time.sleep(poll_s)
                continue
            record: list[Any] = [claim.run_id, claim.node_id, claim.attempt, claim.holder,
                                 claim.seq, claim_s, None, "lost"]
            stats.claims.append(record)
            try:
                if heartbeat:
                    _, beat_s = _timed(functools.partial(client.heartbeat_node, claim), stats)
                    stats.heartbeat_s.append(beat_s)
                _, finish_s = _timed(functools.partial(
                    client.finish_node, claim, outcome="success", exit_code=0), stats)
            except ClaimLost:
                continue
            record[6], record[7] = finish_s, "finished"


def client_main(argv: Sequence[str] | None = None) -> int:
    """One client process: ``URL HOLDER OUT STOP [--threads N] [--heartbeat] [--poll S]
    [--lease S] [--ready FILE --go FILE]``; the token is ``$SPARKWING_TOKEN``.

    With ``--ready``/``--go`` it creates the ready file once its clients are
    made and waits for the go file, so a benchmark can start every client at
    one moment. Writes ``{"threads": [ClientStats...]}`` to OUT as JSON.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="queuedrain")
    parser.add_argument("url")
    parser.add_argument("holder")
    parser.add_argument("out", type=Path)
    parser.add_argument("stop", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--heartbeat", action="store_true")
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--lease", type=float, default=None)
    parser.add_argument("--ready", type=Path, default=None)
    parser.add_argument("--go", type=Path, default=None)
    args = parser.parse_args(argv)
    token = os.environ.get("SPARKWING_TOKEN", "")
    if args.ready is not None:
        args.ready.touch()
    while args.go is not None and not args.go.exists():
        time.sleep(0.01)
    results: list[ClientStats | None] = [None] * args.threads

    def work(i: int) -> None:
        holder = args.holder if args.threads == 1 else f"{args.holder}-{i}"
        results[i] = drain_loop(args.url, token, holder, args.stop, heartbeat=args.heartbeat,
                                poll_s=args.poll, lease_s=args.lease)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    payload = {"threads": [r.__dict__ if r is not None else None for r in results]}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(args.out)
    return 0 if all(r is not None for r in results) else 1


def spawn_client(url: str, token: str, holder: str, out: Path, stop: Path, *,
                 env: dict[str, str] | None = None, extra: Sequence[str] = ()
                 ) -> subprocess.Popen[bytes]:
    """Start one :func:`client_main` process (its stderr inherited)."""
    full_env = dict(env if env is not None else os.environ)
    full_env["SPARKWING_TOKEN"] = token
    return subprocess.Popen(
        [sys.executable, "-m", "sparkwing_server.controller.queuedrain", url, holder, str(out),
         str(stop), *extra], env=full_env, stdin=subprocess.DEVNULL)


def read_client_results(paths: Iterable[Path]) -> list[ClientStats]:
    """Every thread's :class:`ClientStats` from the clients' result files."""
    out: list[ClientStats] = []
    for path in paths:
        for item in json.loads(path.read_text())["threads"]:
            out.append(ClientStats(**item))
    return out


# -- the drain ---------------------------------------------------------------------------------

@dataclass
class DrainResult:
    """What :func:`run_drain` saw: the clock, every client thread's records, the final rows."""

    elapsed_s: float
    clients: list[ClientStats]
    rows: list[QueuedAttempt]
    #: Rows ``claimed`` when the controller was killed (empty without a restart).
    in_flight: list[QueuedAttempt] = field(default_factory=list)
    #: ``{"at_finished", "claimed_at_kill", "down_s"}`` of the restart, or empty.
    restart: dict[str, Any] = field(default_factory=dict)
    check: DrainCheck | None = None
    #: CPU seconds (user + system) the controller process(es) and the clients used in the drain.
    controller_cpu_s: float = 0.0
    clients_cpu_s: float = 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process *pid* used so far (Linux ``/proc``; 0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_drain(ctl: ControllerProcess, stores: Stores, seeded: Sequence[Key], token: str,
              work: Path, *, runners: int, threads: int = 1, heartbeat: bool = False,
              restart_at: float | None = None, tick_s: float = 0.5,
              progress: Any = None) -> DrainResult:
    """Drain *seeded* (one run's attempts) through the running *ctl* with *runners* processes.

    Every client process is started and waiting before the clock starts.
    The drain ends when the queue has no ``ready`` or ``claimed`` attempt
    (read from *stores*' queue every *tick_s*: the seeded run must be the
    only one with work queued). With *restart_at* the
    controller is SIGKILLed once that fraction finished, the claimed rows
    are read while it is down, and it is started again on the same port.
    *progress* (``callable(str)``) gets one line a tick. The result carries
    :func:`check_drain`'s verdict.
    """
    from .nodequeue import open_node_queue

    run_id = seeded[0][0] if seeded else ""
    total = len(seeded)
    nodes = open_node_queue(stores)
    clients: list[subprocess.Popen[bytes]] = []
    go, stop = work / "go", work / "stop"
    outs = [work / f"client-{i}.json" for i in range(runners)]
    readies = [work / f"ready-{i}" for i in range(runners)]
    extra = ["--threads", str(threads)] + (["--heartbeat"] if heartbeat else [])
    try:
        for i in range(runners):
            clients.append(spawn_client(
                ctl.url, token, f"r{i:03d}", outs[i], stop, env=ctl.env,
                extra=[*extra, "--ready", str(readies[i]), "--go", str(go)]))
        while not all(p.exists() for p in readies):
            if any(c.poll() is not None for c in clients):
                raise RuntimeError("a client process exited before the start")
            time.sleep(0.05)
        clients_cpu0 = sum(cpu_seconds(c.pid) for c in clients)
        ctl_cpu = -cpu_seconds(ctl.pid)
        go.touch()
        started = time.perf_counter()
        in_flight: list[QueuedAttempt] = []
        restart: dict[str, Any] = {}
        last = (started, 0)
        while True:
            time.sleep(tick_s)
            counts = nodes.stats(time.time(), active_window_s=120)
            done = total - counts["ready"] - counts["claimed"]
            now = time.perf_counter()
            if progress is not None:
                rate = (done - last[1]) / max(now - last[0], 1e-9)
                progress(f"[{now - started:6.1f} s] finished {done}/{total}, claimed "
                         f"{counts['claimed']}, {rate:6.0f}/s")
            last = (now, done)
            if restart_at is not None and not restart and done >= restart_at * total:
                ctl_cpu += cpu_seconds(ctl.pid)
                ctl.kill()
                killed = time.perf_counter()
                in_flight = nodes.list_attempts(run_id=run_id, status="claimed", limit=0)
                if progress is not None:
                    progress(f"controller killed (SIGKILL) with {len(in_flight)} attempt(s) "
                             "claimed; starting it again on the same port")
                ctl.start()
                ctl_cpu -= cpu_seconds(ctl.pid)
                restart = {"at_finished": done, "claimed_at_kill": len(in_flight),
                           "down_s": time.perf_counter() - killed}
            if counts["ready"] == 0 and counts["claimed"] == 0:
                break
        elapsed = time.perf_counter() - started
        ctl_cpu += cpu_seconds(ctl.pid)
        clients_cpu = sum(cpu_seconds(c.pid) for c in clients) - clients_cpu0
        stop.touch()
        for c in clients:
            c.wait(timeout=300)
        failed = [c.returncode for c in clients if c.returncode]
        if failed:
            raise RuntimeError(f"{len(failed)} client process(es) failed: {failed[:5]}")
        results = read_client_results(outs)
        rows = nodes.list_attempts(run_id=run_id, limit=0)
        return DrainResult(elapsed, results, rows, in_flight, restart,
                           check_drain(seeded, rows, results, in_flight), ctl_cpu, clients_cpu)
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()
        nodes.close()


# -- the check -------------------------------------------------------------------------------

@dataclass
class DrainCheck:
    """The store's rows held against what the clients recorded."""

    attempts: int = 0
    #: Finished by their holder (a client's finish was accepted).
    finished_by_holder: int = 0
    #: Finished ``failed``/``agent_lost`` by the reaper.
    reaped: int = 0
    #: Reaped attempts no client knew it held (the claim's answer was lost in the crash).
    reaped_unanswered: int = 0
    #: Claimed when the controller was killed and not finished then: what became of them.
    in_flight_at_crash: int = 0
    in_flight_finished_by_holder: int = 0
    in_flight_reaped: int = 0
    #: One line per violation (empty: nothing lost, nothing twice).
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no attempt was lost or run twice."""
        return not self.problems


def check_drain(seeded: Sequence[Key], rows: Sequence[QueuedAttempt],
                clients: Sequence[ClientStats],
                in_flight: Sequence[QueuedAttempt] = ()) -> DrainCheck:
    """Check the drain: every seeded attempt finished exactly once and claimed by one holder.

    *rows* are the queue's rows after the drain, *clients* every client
    thread's records, *in_flight* the rows that were ``claimed`` when the
    controller was killed (read from the store while it was down).
    """
    from sparkwing.storage.nodequeue import AGENT_LOST, FINISHED

    report = DrainCheck(attempts=len(seeded))
    problems = report.problems
    by_key = {(r.run_id, r.node_id, r.attempt): r for r in rows}
    claims: dict[Key, list[list[Any]]] = {}
    for stats in clients:
        for rec in stats.claims:
            claims.setdefault((rec[0], rec[1], int(rec[2])), []).append(rec)
    for key in seeded:
        row = by_key.get(key)
        held = claims.get(key, [])
        name = "/".join(map(str, key))
        if row is None:
            problems.append(f"{name}: no queue row (lost)")
            continue
        if row.status != FINISHED:
            problems.append(f"{name}: {row.status}, not finished (lost)")
            continue
        if len(held) > 1:
            problems.append(f"{name}: claimed by {len(held)} holders: "
                            + ", ".join(f"{r[3]} (claim {r[4]})" for r in held))
            continue
        if row.claim_seq != 1:
            problems.append(f"{name}: claim_seq {row.claim_seq} (claimed more than once)")
        accepted = [r for r in held if r[7] == "finished"]
        if row.outcome == "success":
            if not accepted:
                problems.append(f"{name}: finished success but no client's finish was accepted")
            elif (accepted[0][3], accepted[0][4]) != (row.claimed_by, row.claim_seq):
                problems.append(f"{name}: the store says claim {row.claim_seq} by "
                                f"{row.claimed_by}, the client {accepted[0][4]} by "
                                f"{accepted[0][3]}")
            else:
                report.finished_by_holder += 1
        elif row.failure_reason == AGENT_LOST:
            report.reaped += 1
            if accepted:
                problems.append(f"{name}: reaped, yet {accepted[0][3]}'s finish was accepted")
            elif held and (held[0][3], held[0][4]) != (row.claimed_by, row.claim_seq):
                problems.append(f"{name}: reaped under claim {row.claim_seq} by "
                                f"{row.claimed_by}, the client held {held[0][4]} by {held[0][3]}")
            elif not held:
                report.reaped_unanswered += 1
        else:
            problems.append(f"{name}: finished {row.outcome} ({row.failure_reason or '-'})")
    extra = set(claims) - set(seeded)
    if extra:
        problems.append(f"{len(extra)} claimed attempt(s) were never seeded")
    for row in in_flight:
        report.in_flight_at_crash += 1
        final = by_key.get((row.run_id, row.node_id, row.attempt))
        if final is None:
            continue
        if final.outcome == "success" and final.claimed_by == row.claimed_by:
            report.in_flight_finished_by_holder += 1
        elif final.failure_reason == AGENT_LOST:
            report.in_flight_reaped += 1
        else:
            problems.append(f"{row.run_id}/{row.node_id}: claimed by {row.claimed_by} at the "
                            f"crash, then finished {final.outcome} by {final.claimed_by}")
    return report


if __name__ == "__main__":
    sys.exit(client_main())

"""Run benchmarks W1-W5: sparkwing side by side with doit, plain Python and Prefect 3.

Every measurement is one whole process (``sparkwing run ...``, ``doit``,
``python plain.py``, ``python flows.py``) with stdout sent to /dev/null,
timed from spawn to exit. A round only counts when the run is verified
afterwards: exit status 0, every job recorded as succeeded and, for W5,
every output line found in the job's persisted log.

    uv run python bench/run_bench.py                       # everything, 5 rounds
    uv run python bench/run_bench.py --only W1,W3 --rounds 10
    uv run python bench/run_bench.py --skip-peers          # sparkwing only
    uv run python bench/run_bench.py --prefect-rounds 1    # Prefect takes minutes a round

Columns: ``sparkwing (warm)`` runs against one warmed ``SPARKWING_HOME`` (an
untimed run first created state.db); ``sparkwing (cold)`` gets a fresh, empty
``SPARKWING_HOME`` every round, so it includes creating and migrating
state.db. The peers live in ``bench/.peers/venv`` (made by
``bench/peers/setup.sh``, run automatically when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKLOADS_DIR = BENCH / "workloads"
#: Ignored by git; holds the peers' venv and, by default, each invocation's state.
PEERS_DIR = BENCH / ".peers"
PEERS_VENV = PEERS_DIR / "venv"
PEERS_PY = PEERS_VENV / "bin" / "python"

WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
DESCRIPTIONS = {
    "W1": "sparkwing run hello (one job)",
    "W2": "500 independent in-process jobs + join",
    "W3": "chain of 200 in-process jobs",
    "W4": "100 shell jobs `true`, 2 workers",
    "W5": "one job printing 200,000 x 80-byte lines",
}
#: Targets for sparkwing's median (seconds), from the issue.
TARGETS = {"W1": 0.25, "W2": 0.35, "W3": 0.25, "W4": 0.35, "W5": 0.6}
#: sparkwing pipeline name per workload and the number of jobs it must record.
SW_PIPELINE = {"W1": "hello", "W2": "w2", "W3": "w3", "W4": "w4", "W5": "w5"}
JOBS = {"W1": 1, "W2": 501, "W3": 200, "W4": 100, "W5": 1}
TOOLS = ("sparkwing", "sw-base", "sw-process", "sw-cold", "doit", "plain", "prefect")
#: Opt-in columns: only run when named in --tools (sw-base also needs --baseline).
OPT_IN = ("sw-base", "sw-process")
PEERS = ("doit", "plain", "prefect")
RUN_TIMEOUT_S = 900
#: Removed from every tool's environment unless --keep-python-env: with them each
#: process recompiles every module it imports (no .pyc) and writes stdout unbuffered.
PYTHON_ENV_DROPPED = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")


class BenchError(Exception):
    """The benchmark cannot run (missing tool, bad arguments)."""


@dataclass
class Cell:
    """The timings of one tool on one workload."""

    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    sys_cpu: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float | None:
        """Median of the verified rounds, or None."""
        return statistics.median(self.times) if self.times else None

    def text(self) -> str:
        """``median (min-max)`` in seconds, with failures flagged."""
        if not self.times:
            if self.failures:
                return f"FAILED x{len(self.failures)}"
            return "n/a"
        med = self.median
        assert med is not None
        out = f"{_fmt(med)} ({_fmt(min(self.times))}-{_fmt(max(self.times))})"
        if len(self.times) < 5:
            out += f" n={len(self.times)}"
        if self.failures:
            out += f" !{len(self.failures)} failed"
        return out


def _fmt(seconds: float) -> str:
    if seconds >= 10:
        return f"{seconds:.1f}"
    if seconds >= 1:
        return f"{seconds:.2f}"
    return f"{seconds:.3f}"


# -- tools ---------------------------------------------------------------------------


@dataclass
class Ctx:
    """Shared settings of one benchmark invocation."""

    work: Path
    lines: int
    prefect_lines: int
    base_env: dict[str, str]
    line_py: str
    emit: Path
    sparkwing: Path
    baseline: Path | None = None


class Tool:
    """One way of running the workloads: builds the command and verifies the result."""

    name = ""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def setup(self) -> None:
        """Prepare state shared by every workload (called once)."""

    def argv(self, wl: str) -> list[str]:
        """The command line of one round."""
        raise NotImplementedError

    def cwd(self, wl: str) -> Path:
        """Where the command runs."""
        return self.ctx.work

    def env(self, wl: str) -> dict[str, str]:
        """The environment of one round."""
        env = dict(self.ctx.base_env)
        env.update(BENCH_PY=self.ctx.line_py, BENCH_EMIT=str(self.ctx.emit),
                   BENCH_LINES=str(self.lines(wl)))
        return env

    def lines(self, wl: str) -> int:
        """How many lines W5 prints for this tool."""
        return self.ctx.lines

    def before(self, wl: str) -> None:
        """Called before each round, outside the timing."""

    def verify(self, wl: str) -> str:
        """Return "" when the round did what it should, else what went wrong."""
        return ""

    def after(self, wl: str) -> None:
        """Called after each round (and its verification), outside the timing."""


def _count_lines(path: Path, needle: bytes | None = None) -> int:
    if not path.is_file():
        return -1
    with open(path, "rb") as f:
        if needle is None:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        return sum(1 for line in f if needle in line)


class Sparkwing(Tool):
    """``sparkwing run`` against a warmed SPARKWING_HOME."""

    name = "sparkwing"

    def setup(self) -> None:
        """Copy the sparkwing project into a fresh git checkout."""
        self.project = self.ctx.work / "sw-project"
        if not self.project.exists():
            shutil.copytree(WORKLOADS_DIR / "sparkwing", self.project)
            _git_init(self.project)
        self.home = self.ctx.work / "sw-home"

    def argv(self, wl: str) -> list[str]:
        """``sparkwing run <pipeline>`` (W4 with ``--sw-workers 2``)."""
        cmd = [str(self.ctx.sparkwing), "run", SW_PIPELINE[wl]]
        if wl == "W4":
            cmd += ["--sw-workers", "2"]
        return cmd

    def cwd(self, wl: str) -> Path:
        """The project root."""
        return self.project

    def env(self, wl: str) -> dict[str, str]:
        """Point SPARKWING_HOME at this tool's home."""
        env = super().env(wl)
        env["SPARKWING_HOME"] = str(self.home)
        return env

    def verify(self, wl: str) -> str:
        """The newest run succeeded with every job, and W5's log holds every line."""
        db = self.home / "state.db"
        if not db.is_file():
            return "no state.db"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT id, pipeline, status FROM runs ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return "no run recorded"
            run_id, pipeline, status = row
            if pipeline != SW_PIPELINE[wl] or status != "success":
                return f"newest run {run_id} is {pipeline}/{status}"
            (ok,) = conn.execute(
                "SELECT count(*) FROM nodes WHERE run_id = ? AND outcome = 'success'", (run_id,)
            ).fetchone()
        finally:
            conn.close()
        if ok != JOBS[wl]:
            return f"{ok} of {JOBS[wl]} jobs recorded as succeeded"
        if wl == "W5":
            got = _count_lines(self.home / "runs" / run_id / "out.log", b'"event":"exec_line"')
            if got != self.lines(wl):
                return f"W5 log has {got} exec_line records, expected {self.lines(wl)}"
        return ""


class SparkwingBaseline(Sparkwing):
    """Another sparkwing executable (``--baseline``), e.g. a checkout before a change.

    Rounds interleave with the ``sparkwing`` column, so both see the same
    load: on a busy machine only such same-run ratios mean anything.
    """

    name = "sw-base"

    def setup(self) -> None:
        """Its own home next to the warm one."""
        super().setup()
        self.home = self.ctx.work / "sw-base-home"

    def argv(self, wl: str) -> list[str]:
        """The same command with the baseline executable."""
        assert self.ctx.baseline is not None
        return [str(self.ctx.baseline), *super().argv(wl)[1:]]


class SparkwingProcess(Sparkwing):
    """``sparkwing run --sw-executor process``: every job attempt in its own process."""

    name = "sw-process"

    def setup(self) -> None:
        """Its own home next to the warm one."""
        super().setup()
        self.home = self.ctx.work / "sw-process-home"

    def argv(self, wl: str) -> list[str]:
        """The warm command plus ``--sw-executor process``."""
        return [*super().argv(wl), "--sw-executor", "process"]


class SparkwingCold(Sparkwing):
    """``sparkwing run`` with a new, empty SPARKWING_HOME every round."""

    name = "sw-cold"

    def setup(self) -> None:
        """Share the project with the warm variant; homes are made per round."""
        super().setup()
        self.round = 0

    def before(self, wl: str) -> None:
        """A fresh home."""
        self.round += 1
        self.home = self.ctx.work / f"sw-cold-{wl}-{self.round}"

    def after(self, wl: str) -> None:
        """Drop the round's home."""
        shutil.rmtree(self.home, ignore_errors=True)


class Doit(Tool):
    """doit with one dodo file per workload and its dbm dependency file."""

    name = "doit"

    def setup(self) -> None:
        """A directory for doit's dependency file and W5's log."""
        self.dir = self.ctx.work / "doit"
        self.dir.mkdir(exist_ok=True)
        self.log = self.dir / "out.log"

    def argv(self, wl: str) -> list[str]:
        """``python -m doit -f dodo_wN.py --db-file ...``."""
        dodo = WORKLOADS_DIR / "doit" / f"dodo_{wl.lower()}.py"
        return [str(PEERS_PY), "-m", "doit", "-f", str(dodo), "--db-file",
                str(self.dir / ".doit.db")]

    def cwd(self, wl: str) -> Path:
        """doit's own directory."""
        return self.dir

    def env(self, wl: str) -> dict[str, str]:
        """Tell dodo_w5 where its log goes."""
        env = super().env(wl)
        env["BENCH_LOG"] = str(self.log)
        return env

    def before(self, wl: str) -> None:
        """W5 must write its log anew."""
        self.log.unlink(missing_ok=True)

    def verify(self, wl: str) -> str:
        """W5's log holds every line."""
        if wl == "W5":
            got = _count_lines(self.log)
            if got != self.lines(wl):
                return f"W5 log has {got} lines, expected {self.lines(wl)}"
        return ""


class Plain(Tool):
    """The bare loop of ``workloads/plain.py`` (two committed SQLite rows + a log file per job)."""

    name = "plain"

    def setup(self) -> None:
        """Its state directory."""
        self.home = self.ctx.work / "plain-home"

    def argv(self, wl: str) -> list[str]:
        """Same interpreter as sparkwing's venv."""
        return [sys.executable, str(WORKLOADS_DIR / "plain.py"), wl.lower()]

    def env(self, wl: str) -> dict[str, str]:
        """Point BENCH_HOME at its state."""
        env = super().env(wl)
        env["BENCH_HOME"] = str(self.home)
        return env

    def verify(self, wl: str) -> str:
        """Two rows per job for the newest run, and W5's log holds every line."""
        conn = sqlite3.connect(f"file:{self.home / 'plain.db'}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT run, count(*) FROM job_events GROUP BY run ORDER BY run DESC LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
        if row is None or row[1] != 2 * JOBS[wl]:
            return f"newest run has {row and row[1]} rows, expected {2 * JOBS[wl]}"
        if wl == "W5":
            got = _count_lines(self.home / "runs" / row[0] / "out.log")
            if got != self.lines(wl):
                return f"W5 log has {got} lines, expected {self.lines(wl)}"
        return ""


class Prefect(Tool):
    """Prefect 3 flows on the default ephemeral local server (SQLite under PREFECT_HOME)."""

    name = "prefect"

    def setup(self) -> None:
        """Its PREFECT_HOME."""
        self.home = self.ctx.work / "prefect-home"
        self.home.mkdir(exist_ok=True)
        self.logged = 0

    def lines(self, wl: str) -> int:
        """Prefect's W5 prints fewer lines (see --prefect-lines)."""
        return self.ctx.prefect_lines

    def argv(self, wl: str) -> list[str]:
        """``python flows.py wN``."""
        return [str(PEERS_PY), str(WORKLOADS_DIR / "prefect" / "flows.py"), wl.lower()]

    def env(self, wl: str) -> dict[str, str]:
        """Local ephemeral server, no telemetry, no network."""
        env = super().env(wl)
        env.update(PREFECT_HOME=str(self.home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   DO_NOT_TRACK="1")
        return env

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.home / 'prefect.db'}?mode=ro", uri=True)

    def before(self, wl: str) -> None:
        """Remember how many W5 lines the server already holds."""
        self.logged = self._logged_lines() if wl == "W5" else 0

    def _logged_lines(self) -> int:
        if not (self.home / "prefect.db").is_file():
            return 0
        conn = self._db()
        try:
            (n,) = conn.execute("SELECT count(*) FROM log WHERE message LIKE 'line %'").fetchone()
        finally:
            conn.close()
        return int(n)

    def verify(self, wl: str) -> str:
        """The newest flow run completed, and W5 added one log row per line."""
        conn = self._db()
        try:
            row = conn.execute(
                "SELECT name, state_type FROM flow_run ORDER BY created DESC LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
        if row is None or row[1] != "COMPLETED":
            return f"newest flow run is {row}"
        if wl == "W5":
            got = self._logged_lines() - self.logged
            if got != self.lines(wl):
                return f"W5 stored {got} log rows, expected {self.lines(wl)}"
        return ""


TOOL_CLASSES: dict[str, Callable[[Ctx], Tool]] = {
    "sparkwing": Sparkwing, "sw-base": SparkwingBaseline, "sw-process": SparkwingProcess,
    "sw-cold": SparkwingCold, "doit": Doit, "plain": Plain,
    "prefect": Prefect,
}


def _git_init(path: Path) -> None:
    """Make *path* a git checkout with one commit, as a real project would be."""
    if shutil.which("git") is None:
        return
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost",
             "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], **quiet)
    subprocess.run(["git", "-C", str(path), "add", "-A"], **quiet)
    subprocess.run(["git", *ident, "-C", str(path), "commit", "-q", "-m", "bench"], **quiet)


# -- running ---------------------------------------------------------------------------


def run_once(tool: Tool, wl: str, log_dir: Path) -> tuple[float, tuple[float, float], str]:
    """Run one round; return (wall s, (user, sys) CPU s of the process tree, problem or "").

    The child is reaped with a blocking ``os.wait4`` (``Popen.wait`` with a
    timeout polls with sleeps of up to 50 ms, which would round every figure
    up); a timer kills it after RUN_TIMEOUT_S.
    """
    tool.before(wl)
    err_path = log_dir / f"{tool.name}-{wl}.stderr"
    try:
        with open(err_path, "wb") as err:
            killed: list[bool] = []

            def kill() -> None:
                killed.append(True)
                proc.kill()

            t0 = time.perf_counter()
            proc = subprocess.Popen(
                tool.argv(wl), cwd=tool.cwd(wl), env=tool.env(wl), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err,
            )
            timer = threading.Timer(RUN_TIMEOUT_S, kill)
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                elapsed = time.perf_counter() - t0
                timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu = (usage.ru_utime, usage.ru_stime)
        if killed:
            return elapsed, cpu, f"timed out after {RUN_TIMEOUT_S}s"
        if proc.returncode != 0:
            tail = err_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            return elapsed, cpu, f"exit {proc.returncode}: {tail[0][:200]}"
        try:
            return elapsed, cpu, tool.verify(wl)
        except sqlite3.Error as exc:
            return elapsed, cpu, f"verification failed: {exc}"
    finally:
        tool.after(wl)


def _progress(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def bench(args: argparse.Namespace, ctx: Ctx, tools: list[str]) -> dict[str, dict[str, Cell]]:
    """Warm up, then run the rounds interleaved across tools; return workload -> tool -> Cell."""
    made = {name: TOOL_CLASSES[name](ctx) for name in tools}
    for t in made.values():
        t.setup()
    log_dir = ctx.work / "stderr"
    log_dir.mkdir(exist_ok=True)
    results: dict[str, dict[str, Cell]] = {wl: {t: Cell() for t in tools} for wl in args.only}
    if "prefect" in made and args.prefect_rounds > 0:
        _progress("warm-up: prefect W1 (creates prefect.db)")
        _, _, problem = run_once(made["prefect"], "W1", log_dir)
        if problem:
            _progress(f"  prefect warm-up: {problem}")
    for wl in args.only:
        for name, tool in made.items():
            if name in ("sw-cold", "prefect"):
                continue
            _, _, problem = run_once(tool, wl, log_dir)
            if problem:
                _progress(f"  warm-up {name} {wl}: {problem}")
        for r in range(args.rounds):
            order = list(made.items())
            if r % 2:  # alternate the order so neither column always runs first
                order.reverse()
            for name, tool in order:
                if name == "prefect" and r >= args.prefect_rounds:
                    continue
                elapsed, cpu, problem = run_once(tool, wl, log_dir)
                cell = results[wl][name]
                if problem:
                    cell.failures.append(problem)
                    _progress(f"{wl} round {r + 1} {name}: FAILED ({problem})")
                else:
                    cell.times.append(elapsed)
                    cell.cpu.append(cpu[0] + cpu[1])
                    cell.sys_cpu.append(cpu[1])
                    _progress(f"{wl} round {r + 1} {name}: {elapsed:.3f}s wall, "
                              f"{cpu[0]:.3f}s user + {cpu[1]:.3f}s sys")
        if "prefect" in results[wl] and wl == "W5":
            results[wl]["prefect"].note = f"{ctx.prefect_lines:,} lines"
    return results


# -- reporting -------------------------------------------------------------------------


HEAD = {"sparkwing": "sparkwing (warm)", "sw-base": "baseline (warm)",
        "sw-process": "sparkwing process executor", "sw-cold": "sparkwing (cold)", "doit": "doit",
        "plain": "plain Python", "prefect": "Prefect 3"}


def _table(rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(out)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(results: dict[str, dict[str, Cell]], tools: list[str], markdown: bool) -> str:
    """The timing table and the ratio table."""
    rows = [["workload", *[HEAD[t] for t in tools], "target", "sparkwing"]]
    for wl, cells in results.items():
        row = [wl]
        for t in tools:
            text = cells[t].text()
            if cells[t].note:
                text += f" [{cells[t].note}]"
            row.append(text)
        med = cells["sparkwing"].median if "sparkwing" in cells else None
        row.append(f"≤ {TARGETS[wl]}")
        row.append("n/a" if med is None else ("pass" if med <= TARGETS[wl] else "MISS"))
        rows.append(row)
    out = [_table(rows, markdown)]
    peers = [t for t in tools if t in PEERS]
    if "sparkwing" in tools and peers:
        ratio_rows = [["workload", *[f"sparkwing / {HEAD[p]}" for p in peers]]]
        for wl, cells in results.items():
            sw = cells["sparkwing"].median
            row = [wl]
            for p in peers:
                pm = cells[p].median
                if sw is None or pm is None:
                    row.append("n/a")
                elif p == "prefect" and wl == "W5":
                    row.append(f"{_ratio(sw / pm)}, Prefect at {cells[p].note}")
                else:
                    row.append(_ratio(sw / pm))
            ratio_rows.append(row)
        out.append("Ratios of medians (below 1: sparkwing is faster):")
        out.append(_table(ratio_rows, markdown))
    if "sparkwing" in tools and "sw-base" in tools:
        base_rows = [["workload", "sparkwing / baseline (wall)", "sparkwing / baseline (CPU)"]]
        for wl, cells in results.items():
            sw, base = cells["sparkwing"], cells["sw-base"]
            wall = (_ratio(sw.median / base.median)
                    if sw.median is not None and base.median else "n/a")
            cpu = (_ratio(statistics.median(sw.cpu) / statistics.median(base.cpu))
                   if sw.cpu and base.cpu else "n/a")
            base_rows.append([wl, wall, cpu])
        out.append("Against the baseline, same rounds (below 1: this checkout is faster):")
        out.append(_table(base_rows, markdown))
    if "sparkwing" in tools and "sw-process" in tools:
        proc_rows = [["workload", "jobs", "process - local (wall)", "per job"]]
        for wl, cells in results.items():
            sw, pr = cells["sparkwing"].median, cells["sw-process"].median
            if sw is None or pr is None:
                proc_rows.append([wl, str(JOBS[wl]), "n/a", "n/a"])
                continue
            proc_rows.append([wl, str(JOBS[wl]), f"{pr - sw:.3f} s",
                              f"{(pr - sw) / JOBS[wl] * 1000:.1f} ms"])
        out.append("Cost of the process executor (median wall time over local):")
        out.append(_table(proc_rows, markdown))
    cpu_rows = [["workload", *[HEAD[t] for t in tools]]]
    for wl, cells in results.items():
        cpu_rows.append([wl, *[f"{_fmt(statistics.median(cells[t].cpu))} "
                               f"({_fmt(statistics.median(cells[t].sys_cpu))})"
                               if cells[t].cpu else "n/a" for t in tools]])
    out.append("CPU seconds of the whole process tree, median: user+sys (of which sys):")
    out.append(_table(cpu_rows, markdown))
    return "\n\n".join(out)


def _ratio(r: float) -> str:
    if r < 1:
        return f"{r:.3g} ({1 / r:.3g}x faster)"
    return f"{r:.3g} ({r:.3g}x slower)"


def machine_info(tools: list[str]) -> dict[str, str]:
    """Date, machine, interpreter, commit and peer versions."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = _out(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"])
    dirty = _out(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no",
                  "--", "sparkwing-core", "sparkwing-cli", "plugins"])
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu or platform.machine()}, {platform.system()} "
                   f"{platform.release()}",
        "python": platform.python_version(),
        "commit": commit + (" (+ uncommitted changes in sparkwing code)" if dirty else ""),
    }
    if any(t in PEERS and t != "plain" for t in tools) and PEERS_PY.exists():
        info["peers"] = _out([str(PEERS_PY), "-c",
                              "import importlib.metadata as m; print(', '.join(f'{n} ' + "
                              "m.version(n) for n in ('prefect', 'doit')))"])
    return info


def _out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


# -- main ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per cell (default 5)")
    p.add_argument("--only", default=",".join(WORKLOADS),
                   help="comma-separated workloads, e.g. W1,W3 (default all)")
    p.add_argument("--skip-peers", action="store_true", help="run sparkwing only")
    p.add_argument("--tools", default=",".join(TOOLS),
                   help=f"comma-separated subset of {','.join(TOOLS)}")
    p.add_argument("--no-cold", action="store_true", help="skip the fresh-SPARKWING_HOME column")
    p.add_argument("--prefect-rounds", type=int, default=None,
                   help="rounds for Prefect (default: --rounds; a round takes 8-45 s)")
    p.add_argument("--lines", type=int, default=200_000, help="W5 lines (default 200000)")
    p.add_argument("--prefect-lines", type=int, default=20_000,
                   help="W5 lines for Prefect (default 20000; 200000 would take ~7 min a round)")
    p.add_argument("--sparkwing", default=str(REPO / ".venv" / "bin" / "sparkwing"),
                   help="the sparkwing executable (default: the workspace venv's)")
    p.add_argument("--baseline", default="",
                   help="another sparkwing executable timed in the sw-base column, rounds "
                   "interleaved with the sparkwing column (e.g. a venv of the commit before)")
    p.add_argument("--workdir", default="",
                   help="keep state here, e.g. /dev/shm/x to leave the disk out "
                   "(default: a temp dir under bench/.peers, removed after)")
    p.add_argument("--keep-python-env", action="store_true",
                   help="keep PYTHONDONTWRITEBYTECODE / PYTHONUNBUFFERED if set (by default "
                   "they are removed: without .pyc files every process recompiles its modules)")
    p.add_argument("--markdown", action="store_true", help="print markdown tables")
    p.add_argument("--json", default="", help="also write every timing to this JSON file")
    args = p.parse_args(argv)
    args.only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    bad = [w for w in args.only if w not in WORKLOADS]
    if bad:
        p.error(f"unknown workload(s) {', '.join(bad)}; choose from {', '.join(WORKLOADS)}")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.prefect_rounds is None:
        args.prefect_rounds = args.rounds
    return args


def select_tools(args: argparse.Namespace) -> list[str]:
    """The tools to run, in column order."""
    wanted = {t.strip() for t in args.tools.split(",") if t.strip()}
    unknown = wanted - set(TOOLS)
    if unknown:
        raise BenchError(f"unknown tool(s) {', '.join(sorted(unknown))}; valid: {', '.join(TOOLS)}")
    tools = [t for t in TOOLS if t in wanted]
    if args.tools == ",".join(TOOLS):  # the default: opt-in columns only when asked for
        tools = [t for t in tools if t not in OPT_IN]
    if args.baseline and "sw-base" not in tools:
        tools.insert(1, "sw-base")
    if "sw-base" in tools and not args.baseline:
        raise BenchError("the sw-base column needs --baseline PATH")
    if args.skip_peers:
        tools = [t for t in tools if t not in PEERS]
    if args.no_cold:
        tools = [t for t in tools if t != "sw-cold"]
    if args.prefect_rounds == 0:
        tools = [t for t in tools if t != "prefect"]
    if "sparkwing" not in tools:
        raise BenchError("the sparkwing column cannot be left out")
    return tools


def ensure_peers(tools: list[str]) -> None:
    """Create the peers venv when a peer that needs it is selected and it is missing."""
    if not any(t in ("doit", "prefect") for t in tools):
        return
    if PEERS_PY.exists():
        return
    _progress("bench/.peers/venv is missing: running bench/peers/setup.sh")
    subprocess.run(["bash", str(BENCH / "peers" / "setup.sh")], check=True,
                   stdout=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    args = parse_args(argv)
    try:
        tools = select_tools(args)
        sparkwing = Path(args.sparkwing)
        if not sparkwing.exists():
            raise BenchError(f"{sparkwing} not found; run `uv sync --all-packages` first")
        ensure_peers(tools)
    except (BenchError, subprocess.CalledProcessError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    work = (Path(args.workdir) if args.workdir
            else Path(tempfile.mkdtemp(prefix="work-", dir=PEERS_DIR)))
    work.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("SPARKWING_", "PREFECT_", "BENCH_", "VIRTUAL_ENV"))}
    base_env["NO_COLOR"] = "1"
    dropped = []
    if not args.keep_python_env:
        for var in PYTHON_ENV_DROPPED:
            if base_env.pop(var, None) is not None:
                dropped.append(var)
    ctx = Ctx(work=work, lines=args.lines, prefect_lines=args.prefect_lines,
              base_env=base_env, line_py=os.path.realpath(sys.executable),
              emit=WORKLOADS_DIR / "emit_lines.py", sparkwing=sparkwing,
              baseline=Path(args.baseline) if args.baseline else None)
    info = machine_info(tools)
    if dropped:
        info["environment"] = (f"{', '.join(dropped)} removed for every tool "
                               "(see --keep-python-env)")
    elif args.keep_python_env:
        kept = [v for v in PYTHON_ENV_DROPPED if v in base_env]
        info["environment"] = f"kept: {', '.join(kept) or 'nothing to keep'}"
    load_before = os.getloadavg()
    try:
        results = bench(args, ctx, tools)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    info["load"] = (f"1-min load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
                    + (" (BUSY MACHINE: figures are inflated)"
                       if max(load_before[0], load_after[0]) > 1.5 else ""))
    print("Run benchmarks: median (min-max) seconds of whole processes, verified rounds only")
    for k, v in info.items():
        print(f"{k}: {v}")
    print(f"rounds: {args.rounds} (Prefect: {args.prefect_rounds}); W5 lines: {args.lines:,}"
          + (f" (Prefect: {args.prefect_lines:,})" if "prefect" in tools else ""))
    print()
    print(report(results, tools, args.markdown))
    if args.json:
        data = {"info": info, "rounds": args.rounds, "prefect_rounds": args.prefect_rounds,
                "lines": args.lines, "prefect_lines": args.prefect_lines,
                "results": {wl: {t: {"times": c.times, "cpu": c.cpu, "sys": c.sys_cpu,
                                 "failures": c.failures}
                                 for t, c in cells.items()} for wl, cells in results.items()}}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    failed = any(c.failures for cells in results.values() for c in cells.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

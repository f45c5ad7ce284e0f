"""Profile ``sparkwing run`` on the run benchmarks' workloads (W1-W5).

    uv run python bench/profile_run.py importtime            # W1: what `run hello` imports
    uv run python bench/profile_run.py cprofile W2           # cProfile, every thread
    uv run --with pyinstrument python bench/profile_run.py pyinstrument W5
    uv run python bench/profile_run.py timeline W3           # no profiler: phase split
    uv run python bench/profile_run.py components            # per-job building blocks

``importtime`` runs ``python -X importtime -m sparkwing_cli.main run hello``
as a whole process and ranks modules by their own and cumulative import
time, and packages by the sum of their modules' own time.

``cprofile`` runs the whole CLI (``sparkwing_cli.main.main``) in this
process against a warmed ``SPARKWING_HOME``, with a profiler in the main
thread and one in every thread started during the run (sync job bodies
and shell commands run in a thread pool), merges them and prints the top
functions by own time and by cumulative time, own time summed per file,
and the cumulative time of the run command's phases. ``run`` ends with
``os._exit``; here that call is turned into ``SystemExit`` so the profile
can be written. The .prof file is kept (see ``--out``) for snakeviz or
``python -m pstats``.

``pyinstrument`` does the same with pyinstrument's sampling profiler (main
thread and asyncio only; bodies in pool threads show as waiting).

``timeline`` needs no profiler: it runs whole ``sparkwing run`` processes
and splits each one's wall time with the timestamps the run itself recorded
in state.db (process spawn -> run row created -> first job started -> last
job finished -> run finished -> process exit), plus per-job figures: time
from a job's start to its finish, and for W3 the gap between one job
finishing and the next one starting.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKLOADS_DIR = BENCH / "workloads"
SW_PIPELINE = {"W1": "hello", "W2": "w2", "W3": "w3", "W4": "w4", "W5": "w5"}

#: Functions whose cumulative time splits a run into phases: (label, file suffix(es), function).
PHASES: list[tuple[str, str | tuple[str, ...], str]] = [
    ("sparkwing_cli.main.main (whole command)", "sparkwing_cli/main.py", "main"),
    ("run: execute() total", ("sparkwing_cli/runner.py", "commands/run.py"), "execute"),
    ("load_project (sparkwing.yaml)", "config/project.py", "load_project"),
    ("load_pipeline (import .sparkwing module)", "sparkwing/project.py", "load_pipeline"),
    ("parse_inputs", "dsl/inputs.py", "parse_inputs"),
    ("resolve_profile", "config/resolve.py", "resolve_profile"),
    ("PipelineDef.build (plan fn + finalize)", "sparkwing/project.py", "build"),
    ("open_stores", "config/resolve.py", "open_stores"),
    ("get_host (plugin discovery)", "plugins/manager.py", "get_host"),
    ("asyncio.run(orchestrator)", "asyncio/runners.py", "run"),
    ("Orchestrator._start_run", "orchestrator/engine.py", "_start_run"),
    ("Orchestrator._finish_run", "orchestrator/engine.py", "_finish_run"),
    ("NodeRunner.execute (all jobs)", "orchestrator/lifecycle.py", "execute"),
    ("LocalExecutor.run_attempt (bodies)", "execution/local.py", "run_attempt"),
    ("RunJournal.update (node transitions queued)", "orchestrator/journal.py", "update"),
    ("RunJournal.flush (group commits)", "orchestrator/journal.py", "flush"),
    ("NodeLogger.record", "runtime/nodelog.py", "record"),
    ("NodeLogger.output", "runtime/nodelog.py", "output"),
    ("run_command", "runtime/command.py", "run_command"),
    ("Stores.close", "config/resolve.py", "close"),
]


def _git_init(path: Path) -> None:
    if shutil.which("git") is None:
        return
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost",
             "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], **quiet)
    subprocess.run(["git", "-C", str(path), "add", "-A"], **quiet)
    subprocess.run(["git", *ident, "-C", str(path), "commit", "-q", "-m", "bench"], **quiet)


def _argv(wl: str) -> list[str]:
    argv = ["run", SW_PIPELINE[wl]]
    if wl == "W4":
        argv += ["--sw-workers", "2"]
    return argv


@contextlib.contextmanager
def workspace(lines: int, keep: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """A git-checkout copy of the sparkwing workloads and the environment to run them."""
    (BENCH / ".peers").mkdir(exist_ok=True)
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="prof-", dir=BENCH / ".peers"))
    project = work / "sw-project"
    if not project.exists():
        shutil.copytree(WORKLOADS_DIR / "sparkwing", project)
        _git_init(project)
    # As in run_bench.py: without .pyc files every run would recompile what changed.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPARKWING_", "BENCH_"))
           and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env.update(SPARKWING_HOME=str(work / "home"), NO_COLOR="1",
               BENCH_PY=os.path.realpath(sys.executable),
               BENCH_EMIT=str(WORKLOADS_DIR / "emit_lines.py"), BENCH_LINES=str(lines))
    try:
        yield project, env
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _warm(project: Path, env: dict[str, str], wl: str) -> None:
    """One untimed run as a whole process: creates state.db and the .pyc files."""
    subprocess.run([sys.executable, "-m", "sparkwing_cli.main", *_argv(wl)], cwd=project,
                   env=env, stdout=subprocess.DEVNULL, check=True)


# -- importtime ----------------------------------------------------------------------

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def importtime(args: argparse.Namespace) -> None:
    """W1: rank what ``sparkwing run hello`` imports."""
    with workspace(args.lines, args.workdir) as (project, env):
        _warm(project, env, "W1")
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-X", "importtime", "-m", "sparkwing_cli.main", "run", "hello"],
                cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, check=True,
            )
            wall = time.perf_counter() - t0
            rows = []
            for line in proc.stderr.splitlines():
                m = _IMPORT_LINE.match(line)
                if m:
                    rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2,
                                 m.group(4)))
            runs.append((wall, rows))
    # the run with the median total import time
    runs.sort(key=lambda r: sum(x[0] for x in r[1]))
    wall, rows = runs[len(runs) // 2]
    total = sum(r[0] for r in rows)
    print(f"W1 `sparkwing run hello` under -X importtime: wall {wall:.3f}s "
          f"(median of {args.repeat}), {len(rows)} modules, {total / 1e3:.1f} ms importing")
    print("\nTop-level imports by cumulative time (ms):")
    for _self_us, cum_us, depth, name in sorted(
        (r for r in rows if r[2] <= 1), key=lambda r: -r[1]
    )[: args.top]:
        print(f"  {cum_us / 1e3:8.1f}  {'  ' * depth}{name}")
    print("\nModules by own time (ms):")
    for self_us, _cum, _d, name in sorted(rows, key=lambda r: -r[0])[: args.top]:
        print(f"  {self_us / 1e3:8.1f}  {name}")
    by_pkg: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for self_us, _cum, _d, name in rows:
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] in ("sparkwing", "sparkwing_cli") else parts[0]
        by_pkg[key][0] += self_us
        by_pkg[key][1] += 1
    third = sorted({r[3].split(".")[0] for r in rows}
                   - set(sys.stdlib_module_names)
                   # our own code, site's hooks, and copy's probe for Jython's org.python
                   - {"sparkwing", "sparkwing_cli", "pipelines", "sitecustomize",
                      "usercustomize", "org"})
    print(f"\nNon-stdlib top-level packages imported: {', '.join(third) or 'none'}")
    print("\nPackages by summed own time (ms, modules):")
    for name, (us, n) in sorted(by_pkg.items(), key=lambda kv: -kv[1][0])[: args.top]:
        print(f"  {us / 1e3:8.1f}  {n:4d}  {name}")


# -- in-process profiling ----------------------------------------------------------------


def _run_cli(argv: list[str]) -> int:
    """Run ``sparkwing <argv>`` in this process; ``os._exit`` becomes ``SystemExit``."""
    from sparkwing_cli.main import main

    real_exit = os._exit

    def fake_exit(code: int) -> None:
        raise SystemExit(code)

    os._exit = fake_exit  # type: ignore[assignment]
    saved = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - restored below
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        sys.stdout.close()
        sys.stdout = saved
        os._exit = real_exit  # type: ignore[assignment]
    return 0


def _enter(project: Path, env: dict[str, str]) -> dict[str, str | None]:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.chdir(project)
    return old


def cprofile(args: argparse.Namespace) -> None:
    """Profile every thread of one in-process run and print the top costs."""
    wl = args.workload
    with workspace(args.lines, args.workdir) as (project, env):
        _warm(project, env, wl)
        _enter(project, env)
        thread_profiles: list[cProfile.Profile] = []
        lock = threading.Lock()

        def start_thread_profile(frame: object, event: str, arg: object) -> None:
            sys.setprofile(None)
            prof = cProfile.Profile()
            with lock:
                thread_profiles.append(prof)
            prof.enable()

        main_prof = cProfile.Profile()
        threading.setprofile(start_thread_profile)
        t0 = time.perf_counter()
        main_prof.enable()
        code = _run_cli(_argv(wl))
        main_prof.disable()
        wall = time.perf_counter() - t0
        threading.setprofile(None)
        for p in thread_profiles:
            p.disable()
        stats = pstats.Stats(main_prof)
        for p in thread_profiles:
            with contextlib.suppress(TypeError):  # a thread that never ran any Python
                stats.add(p)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    prof_path = out_dir / f"{wl.lower()}.prof"
    stats.dump_stats(prof_path)
    print(f"{wl}: exit {code}, {wall:.3f}s wall under cProfile, main thread + "
          f"{len(thread_profiles)} thread(s); stats in {prof_path}")
    _print_phases(stats)
    _print_by_file(stats, args.top)
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        buf = io.StringIO()
        stats.stream = buf  # type: ignore[attr-defined]
        stats.sort_stats(key).print_stats(args.top)
        body = buf.getvalue()
        start = body.find("   ncalls")
        print(f"\nTop {args.top} functions by {title} (all threads):")
        print(_shorten(body[start:] if start >= 0 else body))


def _shorten(text: str) -> str:
    for prefix in (str(REPO) + "/", sys.prefix + "/", sys.base_prefix + "/"):
        text = text.replace(prefix, "")
    return text.rstrip()


def _print_phases(stats: pstats.Stats) -> None:
    raw = stats.stats  # type: ignore[attr-defined]
    print("\nPhases (cumulative seconds under the profiler; threads add up):")
    for label, suffix, func in PHASES:
        hits = [(v[3], v[1]) for (fn, _line, name), v in raw.items()
                if name == func and fn.endswith(suffix)]
        if hits:
            cum = max(h[0] for h in hits)
            calls = sum(h[1] for h in hits)
            print(f"  {cum:8.3f}  {calls:7d} calls  {label}")


def _print_by_file(stats: pstats.Stats, top: int) -> None:
    raw = stats.stats  # type: ignore[attr-defined]
    by_file: dict[str, float] = defaultdict(float)
    for (fn, _line, name), v in raw.items():
        by_file[name if fn == "~" else _shorten(fn)] += v[2]
    print(f"\nOwn time summed per file, built-ins by name (top {top}):")
    for fn, t in sorted(by_file.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {t:8.3f}  {fn}")


def pyinstrument_profile(args: argparse.Namespace) -> None:
    """Sample one in-process run with pyinstrument (needs ``uv run --with pyinstrument``)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.exit("pyinstrument is not installed: uv run --with pyinstrument python "
                 "bench/profile_run.py pyinstrument W2")
    wl = args.workload
    with workspace(args.lines, args.workdir) as (project, env):
        _warm(project, env, wl)
        _enter(project, env)
        profiler = Profiler(interval=0.0005, async_mode="enabled")
        profiler.start()
        code = _run_cli(_argv(wl))
        profiler.stop()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / f"{wl.lower()}.pyinstrument.html"
    html.write_text(profiler.output_html())
    print(f"{wl}: exit {code}; HTML in {html}")
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def timeline(args: argparse.Namespace) -> None:
    """Split whole-process runs into phases using the timestamps the run recorded."""
    import sqlite3
    import statistics

    wl = args.workload
    rows = []
    with workspace(args.lines, args.workdir) as (project, env):
        _warm(project, env, wl)
        exe = str(Path(sys.executable).parent / "sparkwing")
        db_path = Path(env["SPARKWING_HOME"]) / "state.db"
        for _ in range(args.repeat):
            t_spawn = time.time()
            subprocess.run([exe, *_argv(wl)], cwd=project, env=env, stdout=subprocess.DEVNULL,
                           check=True)
            t_exit = time.time()
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            run_id, created, finished = conn.execute(
                "SELECT id, created_at, finished_at FROM runs ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
            nodes = conn.execute(
                "SELECT started_at, finished_at FROM nodes WHERE run_id = ? ORDER BY position",
                (run_id,),
            ).fetchall()
            conn.close()
            starts = [n[0] for n in nodes]
            ends = [n[1] for n in nodes]
            gaps = [starts[i] - ends[i - 1] for i in range(1, len(nodes))] if wl == "W3" else []
            rows.append({
                "wall": t_exit - t_spawn,
                "spawn -> run row created (imports, config, plan, stores)": created - t_spawn,
                "run created -> first job started": min(starts) - created,
                "first job started -> last job finished": max(ends) - min(starts),
                "last job finished -> run finished": finished - max(ends),
                "run finished -> process exit (close, exit)": t_exit - finished,
                "per job: started -> finished (median)": statistics.median(
                    e - s for s, e in zip(starts, ends, strict=True)),
                "W3: previous finished -> next started (median)": (
                    statistics.median(gaps) if gaps else None),
            })
    print(f"{wl}: whole `sparkwing run` processes, median of {args.repeat} "
          f"(ms; 1-min load {os.getloadavg()[0]:.2f})")
    for key in rows[0]:
        vals = [r[key] for r in rows if r[key] is not None]
        if vals:
            print(f"  {statistics.median(vals) * 1e3:9.2f}  {key}")


def components(args: argparse.Namespace) -> None:
    """Time, without a profiler, the pieces every job pays for (microseconds per call)."""
    import asyncio
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    from sparkwing.config import open_stores, resolve_profile
    from sparkwing.ids import new_run_id
    from sparkwing.runtime.nodelog import NodeLogger
    from sparkwing.runtime.secrets import Masker
    from sparkwing.storage.logrecord import make_record
    from sparkwing.storage.records import Node, Run

    n = args.calls
    results: dict[str, list[float]] = defaultdict(list)
    with workspace(args.lines, args.workdir) as (_project, env):
        os.environ.update(env)
        for _ in range(args.repeat):
            stores = open_stores(resolve_profile(flag=None, pipeline=None, project=None))
            run_id = new_run_id()
            now = time.time()
            stores.state.create_run(Run(id=run_id, pipeline="components", status="running",
                                        created_at=now, started_at=now))
            ids = [f"n{i}" for i in range(n)]
            t0 = time.perf_counter()
            stores.state.create_nodes(run_id, [Node(run_id, i) for i in ids])
            results["state.create_nodes (per node, one call)"].append(
                (time.perf_counter() - t0) / n)
            t0 = time.perf_counter()
            for i in ids:
                stores.state.update_node(run_id, i, {"status": "running", "started_at": now},
                                         ("node_started", {}))
            results["state.update_node + event (one transition)"].append(
                (time.perf_counter() - t0) / n)
            t0 = time.perf_counter()
            writers = [stores.logs.writer(run_id, i) for i in ids]
            results["logs.writer() (claim in the stream index)"].append(
                (time.perf_counter() - t0) / n)
            masker = Masker()
            t0 = time.perf_counter()
            for i, w in zip(ids, writers, strict=True):
                log = NodeLogger(w, i, masker)
                log.record(f"job {i} started", event="node_start")
                log.record(f"job {i} succeeded", event="node_end",
                           attrs={"outcome": "success", "duration_ms": 0})
                log.close()
            results["NodeLogger: 2 records + close (creates the file)"].append(
                (time.perf_counter() - t0) / n)
            t0 = time.perf_counter()
            for i in ids:
                make_record(f"job {i} started", node=i, event="node_start")
            results["make_record (one record, no I/O)"].append((time.perf_counter() - t0) / n)
            t0 = time.perf_counter()
            stores.close()
            results["stores.close (once per run)"].append(time.perf_counter() - t0)

            async def hops(pool: ThreadPoolExecutor) -> None:
                loop = asyncio.get_running_loop()
                for _ in range(n):
                    await loop.run_in_executor(pool, _noop)

            async def tasks() -> None:
                ev = {i: asyncio.Event() for i in range(n)}

                async def one(i: int) -> None:
                    if i:
                        await ev[i - 1].wait()
                    ev[i].set()

                await asyncio.gather(*(one(i) for i in range(n)))

            with ThreadPoolExecutor(max_workers=4) as pool:
                t0 = time.perf_counter()
                asyncio.run(hops(pool))
                results["loop -> pool thread -> loop (sync body hop)"].append(
                    (time.perf_counter() - t0) / n)
            t0 = time.perf_counter()
            asyncio.run(tasks())
            results["asyncio task + Event chain (scheduling only)"].append(
                (time.perf_counter() - t0) / n)
    print(f"per-job building blocks, {n} calls x {args.repeat} repeats, median "
          f"(1-min load {os.getloadavg()[0]:.2f}); SPARKWING_HOME on {Path(env['SPARKWING_HOME'])}")
    for key, vals in results.items():
        unit = "ms" if "once" in key else "us"
        scale = 1e3 if unit == "ms" else 1e6
        print(f"  {statistics.median(vals) * scale:9.1f} {unit}  {key}")


def _noop() -> None:
    return None


def main(argv: list[str] | None = None) -> None:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("importtime", "cprofile", "pyinstrument", "timeline",
                                      "components"))
    p.add_argument("workload", nargs="?", default="W1", choices=sorted(SW_PIPELINE))
    p.add_argument("--top", type=int, default=25, help="rows per ranking (default 25)")
    p.add_argument("--repeat", type=int, default=5,
                   help="importtime / timeline runs (median shown)")
    p.add_argument("--lines", type=int, default=200_000, help="W5 lines (default 200000)")
    p.add_argument("--calls", type=int, default=500, help="components: calls per repeat")
    p.add_argument("--out", default=str(BENCH / ".peers" / "profiles"),
                   help="where .prof / .html files go (default bench/.peers/profiles)")
    p.add_argument("--workdir", default="", help="keep the project and home here")
    args = p.parse_args(argv)
    modes = {"importtime": importtime, "cprofile": cprofile,
             "pyinstrument": pyinstrument_profile, "timeline": timeline,
             "components": components}
    modes[args.mode](args)


if __name__ == "__main__":
    main()

"""A stand-in run process: records one run through the real stores, over time.

Run as a script (``python simrun.py --home H [--fail] [--lines N] [--delay S] [--hold FILE]``)
it opens the laptop stores under ``H`` (SQLite state, filesystem logs) and
plays a small plan — ``setup`` → a ``tests`` group of two jobs with steps →
``package`` — writing node/step rows, events and log records the way the
orchestrator does, with *delay* seconds between output lines. It prints
the run id on its first line, flushed, so a test can follow the run while
it is in progress. It exists so dashboard tests can drive shapes (groups,
steps, typed outputs, secrets) deterministically.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Play one run; exit 0 (success) or 1 (``--fail``)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--pipeline", default="sim")
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--hold", default="",
                        help="before the last job, wait (up to 120 s) until this file exists")
    args = parser.parse_args(argv)

    from sparkwing.ids import new_run_id
    from sparkwing.storage.fs_logs import FilesystemLogStore
    from sparkwing.storage.logrecord import make_record
    from sparkwing.storage.records import Node, Run, Step
    from sparkwing_sqlite.store import SqliteStateStore

    home = Path(args.home)
    state = SqliteStateStore(home / "state.db")
    logs = FilesystemLogStore(home / "runs")
    run_id = new_run_id()
    now = time.time()
    plan_nodes = [
        {"id": "setup", "deps": [], "groups": []},
        {"id": "tests/unit", "deps": ["setup"], "groups": ["tests"],
         "steps": [{"id": "deps", "deps": [], "groups": []},
                   {"id": "pytest", "deps": ["deps"], "groups": []}]},
        {"id": "tests/lint", "deps": ["setup"], "groups": ["tests"]},
        {"id": "package", "deps": ["tests/unit", "tests/lint"], "groups": []},
    ]
    state.create_run(Run(
        id=run_id, pipeline=args.pipeline, status="running", git_branch="main",
        git_sha="0123456789abcdef0123456789abcdef01234567", created_at=now, started_at=now,
        last_heartbeat_at=now, args={"target": "prod", "token": "hunter2"},
        secret_args=["token"], plan={"pipeline": args.pipeline, "nodes": plan_nodes},
    ))
    state.create_nodes(run_id, [
        Node(run_id, n["id"], deps=list(n["deps"]), groups=list(n["groups"])) for n in plan_nodes
    ])
    state.append_event(run_id, "run_started", {"pipeline": args.pipeline})
    print(run_id, flush=True)

    def job(node_id: str, lines: list[str], *, steps: tuple[str, ...] = (), fail: bool = False,
            output: object = None) -> bool:
        started = time.time()
        state.update_node(run_id, node_id, {"status": "running", "started_at": started},
                          event=("node_started", {}))
        w = logs.writer(run_id, node_id)
        w.write([make_record(f"job {node_id} started", node=node_id, event="node_start")])
        w.flush()
        for step in steps or ("",):
            if step:
                state.upsert_step(Step(run_id, node_id, step, status="running",
                                       started_at=time.time()))
                w.write([make_record(f"step {step} started", node=node_id, step=step,
                                     event="step_start")])
            w.write([make_record(f"$ run {step or node_id}", node=node_id, step=step,
                                 event="exec_start")])
            w.flush()
            for text in lines:
                time.sleep(args.delay)
                w.write([make_record(text, node=node_id, step=step, event="exec_line")])
                w.flush()
            if step:
                outcome = "failed" if fail else "success"
                state.upsert_step(Step(run_id, node_id, step,
                                       status="failed" if fail else "passed",
                                       started_at=started, finished_at=time.time(),
                                       error="exit status 2" if fail else ""))
                w.write([make_record(f"step {step} {outcome}", node=node_id, step=step,
                                     event="step_end", attrs={"outcome": outcome})])
        finished = time.time()
        fields: dict[str, object] = {"status": "done", "finished_at": finished}
        if fail:
            error = f"{node_id}: command exited with code 2"
            w.write([make_record(error, level="error", node=node_id, event="node_end",
                                 attrs={"outcome": "failed", "error": error})])
            w.close()
            fields.update(outcome="failed", error=error, exit_code=2)
            state.update_node(run_id, node_id, fields, event=("node_failed", {"error": error}))
            state.append_event(run_id, "node_failure_excerpt",
                               {"log_excerpt": lines[-3:], "log_excerpt_truncated": False},
                               node_id=node_id)
            return False
        w.write([make_record(f"job {node_id} succeeded", node=node_id, event="node_end",
                             attrs={"outcome": "success",
                                    "duration_ms": int((finished - started) * 1000)})])
        w.close()
        fields.update(outcome="success")
        if output is not None:
            fields.update(output=output, has_output=True)
        state.update_node(run_id, node_id, fields, event=("node_succeeded", {}))
        return True

    out = [f"\x1b[32mline {i}\x1b[0m of {args.pipeline}" for i in range(1, args.lines + 1)]
    ok = job("setup", ["cloning", "checked out main"])
    ok = job("tests/unit", out + (["FAILED test_widget - assert 1 == 2"] if args.fail else []),
             steps=("deps", "pytest"), fail=args.fail) and ok
    ok = job("tests/lint", ["all checks passed"]) and ok
    if args.hold:
        deadline = time.monotonic() + 120
        while not Path(args.hold).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if ok:
        job("package", ["built dist/app.whl"], output={"wheel": "dist/app.whl", "size": 1234})
    else:
        state.update_node(run_id, "package", {"status": "done", "outcome": "cancelled",
                                              "error": "upstream-failed",
                                              "finished_at": time.time()},
                          event=("node_cancelled", {}))
    status = "success" if ok else "failed"
    state.update_run(run_id, {"status": status, "finished_at": time.time(),
                              "error": "" if ok else "jobs failed: tests/unit"})
    state.append_event(run_id, "run_finished", {"status": status})
    state.close()
    logs.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Faults: the database restarting in the middle of a run, staying down, or refusing at load."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from sparkwing.storage.records import Run
from sparkwing.testing.procs import isolated_env, wait_for
from sparkwing_postgres.cluster import TempCluster
from sparkwing_postgres.store import PostgresStateStore

CHAIN = """
import time
import sparkwing as sw
def step(name):
    def body(ctx):
        time.sleep(1.0)
        return name
    return body
def plan(plan, inputs, run):
    prev = None
    for name in ("a", "b", "c", "d", "e"):
        job = plan.job(name, step(name))
        if prev is not None:
            job.needs(prev)
        prev = job
"""


def _project(tmp: Path, config: dict[str, Any], retry_timeout: float) -> tuple[Path, dict[str, str]]:
    root = tmp / "repo"
    (root / ".sparkwing" / "pipelines").mkdir(parents=True)
    (root / ".sparkwing" / "pipelines" / "__init__.py").write_text("")
    (root / ".sparkwing" / "pipelines" / "chain.py").write_text(textwrap.dedent(CHAIN))
    (root / ".sparkwing" / "sparkwing.yaml").write_text(
        "defaults:\n  profile: team\n"
        "pipelines:\n  - name: chain\n    entrypoint: pipelines.chain:plan\n"
    )
    profiles = tmp / "profiles.yaml"
    profiles.write_text(
        "profiles:\n  team:\n    state: {type: postgres, url_source: env:SPARKWING_PG_URL, "
        f"schema: {config['schema']}, retry_timeout: {retry_timeout}}}\n"
    )
    env = isolated_env(tmp)
    env.update(SPARKWING_PROFILES=str(profiles), SPARKWING_PG_URL=config["url"])
    return root, env


def _start_run(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sparkwing_cli.main", "run", "chain", "-o", "json"], cwd=root,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_running(config: dict[str, Any], node: str) -> str:
    def started() -> bool:
        with PostgresStateStore.from_config(config) as st:
            runs = st.list_runs()
            return bool(runs) and (st.get_node(runs[0].id, node) or Run("", "")).status \
                == "running"

    wait_for(started, timeout=120, interval=0.05)
    with PostgresStateStore.from_config(config) as st:
        return st.list_runs()[0].id


def test_a_database_restart_mid_run_does_not_fail_the_run(
    tmp_path: Path, pg_config: dict[str, Any], pg_running: TempCluster,
) -> None:
    root, env = _project(tmp_path, pg_config, retry_timeout=120)
    proc = _start_run(root, env)
    run_id = _wait_running(pg_config, "b")
    pg_running.stop("fast")  # ends every session of the run's pool
    time.sleep(2.5)  # node b finishes while the database is down: its writes must wait
    pg_running.start()
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:] + err
    assert "state store unreachable; retrying" in err
    finish = [json.loads(ln) for ln in out.splitlines() if '"event":"run_finish"' in ln]
    assert finish[0]["attrs"]["status"] == "success"
    with PostgresStateStore.from_config(pg_config) as st:
        run = st.get_run(run_id)
        nodes = st.list_nodes(run_id)
        events = st.list_events(run_id, limit=0)
    assert run is not None and run.status == "success"
    assert [(n.node_id, n.outcome) for n in nodes] == [
        (n, "success") for n in ("a", "b", "c", "d", "e")]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


class _Lines:
    """Collects a pipe's lines on a thread (so neither of a child's pipes can fill up)."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        return any(text in ln for ln in list(self.lines))

    def text(self) -> str:
        self._thread.join(timeout=60)
        return "".join(self.lines)


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and '"exception"' not in err, err


def test_a_database_that_stays_down_fails_the_run_with_a_clear_reason(
    tmp_path: Path, pg_config: dict[str, Any], pg_running: TempCluster,
) -> None:
    root, env = _project(tmp_path, pg_config, retry_timeout=2)
    proc = _start_run(root, env)
    run_id = _wait_running(pg_config, "b")
    pg_running.stop("fast")
    try:
        started = time.monotonic()
        out, err = proc.communicate(timeout=240)
        took = time.monotonic() - started
    finally:
        pg_running.start()
    assert proc.returncode == 1, out[-2000:] + err
    _no_traceback(err)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert errors == [err.strip().splitlines()[-1]], err  # one error line, the last one
    reason = errors[0]
    assert reason.startswith("error: state store postgresql://postgres@127.0.0.1:"), err
    assert "unreachable after" in reason and "s of retries (retry_timeout 2 s)" in reason
    assert "Connection refused" in reason and f"(run {run_id} could not record its end)" in reason
    assert "cancelling: state store" in err  # the run stopped at once...
    assert "job e started" not in out  # ...starting nothing more
    assert took < 120  # bounded: it gave up instead of hanging
    # one warning per outage, however many writes were waiting
    assert err.count("state store unreachable; retrying") == 1, err


def test_a_run_whose_database_comes_back_records_why_it_failed(
    tmp_path: Path, pg_config: dict[str, Any], pg_running: TempCluster,
) -> None:
    # The writes give up after 20 s; the database is back while the run writes its end
    # (it gets retry_timeout once more for that), so everything kept in memory lands.
    root, env = _project(tmp_path, pg_config, retry_timeout=20)
    proc = _start_run(root, env)
    out, err = _Lines(proc.stdout), _Lines(proc.stderr)
    run_id = _wait_running(pg_config, "b")
    pg_running.stop("fast")
    try:
        wait_for(lambda: err.has("cancelling: state store"), timeout=240)
    finally:
        pg_running.start()
    assert proc.wait(timeout=240) == 1
    stderr, stdout = err.text(), out.text()
    _no_traceback(stderr)
    assert not [ln for ln in stderr.splitlines() if ln.startswith("error:")], stderr
    finish = [json.loads(ln) for ln in stdout.splitlines() if '"event":"run_finish"' in ln]
    assert finish[0]["attrs"]["status"] == "failed"
    with PostgresStateStore.from_config(pg_config) as st:
        run = st.get_run(run_id)
        nodes = {n.node_id: n for n in st.list_nodes(run_id)}
        events = st.list_events(run_id, limit=0)
    assert run is not None and run.status == "failed" and run.finished_at is not None
    assert run.error.startswith("state store postgresql://postgres@127.0.0.1:")
    assert "unreachable after" in run.error and "(retry_timeout 20 s)" in run.error
    # b finished while the database was down: recorded as it ended, or cancelled when the
    # heartbeat's write gave up first. Either way every node's end, written while the
    # database was down, landed once it was back.
    assert nodes["a"].outcome == "success" and nodes["b"].outcome in ("success", "cancelled")
    assert all(nodes[n].status == "done" for n in "abcde")
    assert nodes["e"].outcome == "cancelled" and nodes["e"].error == run.error
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # no gap, no double
    ends = [e.node_id for e in events if e.kind in ("node_succeeded", "node_cancelled")]
    assert sorted(ends) == ["a", "b", "c", "d", "e"]
    assert events[-1].kind == "run_finished" and events[-1].payload["status"] == "failed"


def test_a_store_retries_a_write_across_a_restart(
    pg_config: dict[str, Any], pg_running: TempCluster,
) -> None:
    with PostgresStateStore.from_config(pg_config) as st:
        st.create_run(Run(id="run-1", pipeline="p"))
        assert st.append_event("run-1", "before", {}) == 1
        pg_running.stop("fast")
        restarted = threading.Timer(1.5, pg_running.start)
        restarted.start()
        try:
            assert st.append_event("run-1", "during", {}) == 2  # waited for the restart
        finally:
            restarted.join()
        assert [e.kind for e in st.list_events("run-1")] == ["before", "during"]


def test_profile_load_errors_are_one_line(tmp_path: Path, pg_config: dict[str, Any]) -> None:
    root, env = _project(tmp_path, pg_config, retry_timeout=5)

    def run(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", "run", "chain"], cwd=root,
            env={**env, "SPARKWING_PG_URL": url}, capture_output=True, text=True, timeout=120,
        )

    bad_scheme = run("mysql://ci:topsecret@db:3306/ci")
    assert bad_scheme.returncode == 2
    assert bad_scheme.stderr.count("\n") == 1 and "topsecret" not in bad_scheme.stderr
    assert "url must be a PostgreSQL URL" in bad_scheme.stderr
    refused = run("postgresql://ci:topsecret@127.0.0.1:1/ci")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "topsecret" not in refused.stderr
    assert 'profile "team": state: cannot connect to postgresql://ci@127.0.0.1:1/ci' in \
        refused.stderr

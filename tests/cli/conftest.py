"""Fixtures for the CLI tests: an isolated machine (HOME, SPARKWING_HOME, config) and a project.

Every test drives the real ``sparkwing`` command in subprocesses.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: Pipelines every test project has.
BASE_PIPELINES = {
    "ok": '''
        import sparkwing as sw

        def plan(plan, inputs, run):
            first = plan.job("first", sw.sh("echo alpha-one; echo alpha-two"))
            plan.job("second", sw.sh("echo beta-one")).needs(first)
    ''',
    "broken": '''
        import sparkwing as sw

        def plan(plan, inputs, run):
            good = plan.job("good", sw.sh("echo fine"))
            bad = plan.job("bad", sw.sh("echo before-failing; echo to-stderr >&2; exit 3"))
            bad.needs(good)
            plan.job("never", sw.sh("echo never")).needs(bad)
    ''',
    "slow": '''
        import sparkwing as sw

        def plan(plan, inputs, run):
            quick = plan.job("quick", sw.sh("echo quick-done"))
            plan.job("sleepy", sw.sh("echo sleeping; sleep 30")).needs(quick)
            plan.job("after", sw.sh("echo after")).needs("sleepy")
    ''',
}


@dataclass
class CliEnv:
    """One isolated environment; ``repo`` holds a project with the base pipelines."""

    tmp: Path
    home: Path
    sw_home: Path
    repo: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def cli(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` and wait for it."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args],
            cwd=cwd or self.repo, capture_output=True, text=True,
            env={**self.env, **(env or {})}, timeout=timeout,
        )

    def start(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        """Start ``sparkwing ARGS`` in the background (killed at teardown if still alive)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", *args],
            cwd=cwd or self.repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.env,
        )
        self.procs.append(proc)
        return proc

    def add_pipeline(self, name: str, code: str, extra_yaml: str = "",
                     repo: Path | None = None) -> None:
        """Write ``.sparkwing/pipelines/<name>.py`` and register it in sparkwing.yaml."""
        repo = repo or self.repo
        module = name.replace("-", "_")
        pdir = repo / ".sparkwing" / "pipelines"
        pdir.mkdir(parents=True, exist_ok=True)
        (pdir / f"{module}.py").write_text(textwrap.dedent(code).lstrip("\n"))
        yaml = repo / ".sparkwing" / "sparkwing.yaml"
        text = yaml.read_text() if yaml.exists() else "pipelines:\n"
        text += f"  - name: {name}\n    entrypoint: pipelines.{module}:plan\n"
        text += textwrap.indent(textwrap.dedent(extra_yaml), "    ")
        yaml.write_text(text)

    def run(self, pipeline: str, *args: str) -> str:
        """Run a pipeline through the CLI and return the new run's id."""
        proc = self.cli("run", pipeline, "-o", "json", *args)
        assert proc.returncode in (0, 1), proc.stderr
        return run_id_of(proc.stdout)

    def state(self) -> Any:
        """Open the laptop state store (a real SQLite store)."""
        from sparkwing_sqlite.store import SqliteStateStore

        return SqliteStateStore(self.sw_home / "state.db")

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
        """Poll *predicate* until it returns something truthy (fails the test after *timeout*)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_node_running(self, run_id: str | None, node: str) -> str:
        """Wait until *node* of the run (``None``: the newest run) is running; return the run id."""
        def check() -> str | None:
            with self.state() as st:
                runs = [st.get_run(run_id)] if run_id else st.list_runs()
                run = runs[0] if runs and runs[0] is not None else None
                if run is None:
                    return None
                n = st.get_node(run.id, node)
                return run.id if n is not None and n.status == "running" else None

        return self.wait_for(check, what=f"job {node} to run")


def run_id_of(ndjson: str) -> str:
    """The run id announced by a ``sparkwing run -o json`` stream."""
    import json

    for line in ndjson.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "run_finish":
            return str(rec["attrs"]["run_id"])
    raise AssertionError(f"no run_finish record in output:\n{ndjson}")


def descendants(pid: int) -> list[int]:
    """Pids of every live descendant of *pid* (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        ppid = int(text[text.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for kid in children.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def kill_quietly(pids: list[int]) -> None:
    """SIGKILL each pid that still exists."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def make_env(tmp_path: Path) -> CliEnv:
    """Build an isolated environment under *tmp_path* with a project holding the base pipelines."""
    home = tmp_path / "home"
    sw_home = tmp_path / "swhome"
    xdg = tmp_path / "xdg"
    repo = tmp_path / "repo"
    for d in (home, sw_home, xdg, repo):
        d.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SPARKWING_") or k.startswith("SPARKWING_TEST_")}
    env.update(
        HOME=str(home), SPARKWING_HOME=str(sw_home), XDG_CONFIG_HOME=str(xdg),
        SPARKWING_PROFILES=str(xdg / "sparkwing" / "profiles.yaml"), NO_COLOR="1",
        GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1", USER="tester",
    )
    ce = CliEnv(tmp_path, home, sw_home, repo, env)
    for name, code in BASE_PIPELINES.items():
        ce.add_pipeline(name, code)
    return ce


def cleanup(ce: CliEnv) -> None:
    """Kill background processes a test left running (with their children)."""
    for proc in ce.procs:
        if proc.poll() is None:
            kill_quietly([*descendants(proc.pid), proc.pid])
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def clienv(tmp_path: Path) -> Iterator[CliEnv]:
    """An isolated HOME, SPARKWING_HOME and config dir, and a project with base pipelines."""
    ce = make_env(tmp_path)
    yield ce
    cleanup(ce)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CliEnv, list[str]]]:
    """A module-wide environment with three finished runs: ok, broken, ok (oldest first).

    Tests using it must not add runs.
    """
    ce = make_env(tmp_path_factory.mktemp("recorded"))
    ids = [ce.run("ok"), ce.run("broken"), ce.run("ok")]
    yield ce, ids
    cleanup(ce)


def on_a_terminal(env: CliEnv, *args: str) -> str:
    """Run the CLI with stdout on a pseudo-terminal (colour on) and return what it printed."""
    import pty

    master, slave = pty.openpty()
    environ = {k: v for k, v in env.env.items() if k != "NO_COLOR"}
    proc = subprocess.Popen([sys.executable, "-m", "sparkwing_cli.main", *args], cwd=env.repo,
                            stdout=slave, stderr=subprocess.PIPE, env=environ)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")

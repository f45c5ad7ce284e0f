"""Fixtures for the example tests: copy an example into a temp dir and drive the real CLI.

Every example test runs twice: with the ``local`` executor and with ``process``
(each job attempt in its own ``sparkwing node exec``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Example:
    """One example copied to ``dir``, with its own isolated sparkwing home."""

    dir: Path
    sw_home: Path
    env: dict[str, str]
    executor: str = "local"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` in the example's directory."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.dir,
            capture_output=True, text=True, env=self.env, timeout=300,
        )

    def run(self, *args: str, expect: int = 0) -> tuple[str, subprocess.CompletedProcess[str]]:
        """``sparkwing run ARGS -o json`` on the example's executor; assert the exit code.

        Returns (run id, process).
        """
        proc = self.cli("run", *args, "--sw-executor", self.executor, "-o", "json")
        assert proc.returncode == expect, proc.stdout[-3000:] + proc.stderr
        finish = [json.loads(ln) for ln in proc.stdout.splitlines()
                  if '"event":"run_finish"' in ln]
        assert len(finish) == 1, proc.stdout[-2000:]
        run_id = finish[0]["attrs"]["run_id"]
        with self.state() as st:
            run = st.get_run(run_id)
            ran_on = {e.payload.get("executor") for e in st.list_events(run_id, 0, 0)
                      if e.kind == "attempt_finished"}
        assert run.invocation["engine"]["executor"] == self.executor
        assert ran_on <= {self.executor}, ran_on
        return run_id, proc

    def state(self) -> Any:
        """The example's state store (real SQLite)."""
        from sparkwing_sqlite.store import SqliteStateStore

        return SqliteStateStore(self.sw_home / "state.db")

    def log_lines(self, run_id: str, node: str) -> list[dict[str, Any]]:
        """The JSON records of one job's log file."""
        path = self.sw_home / "runs" / run_id / f"{node}.log"
        return [json.loads(ln) for ln in path.read_text().splitlines()]


@pytest.fixture(params=["local", "process"])
def example(request: pytest.FixtureRequest, tmp_path: Path):
    """``example(name)`` copies ``examples/<name>`` and returns an :class:`Example`."""
    executor = str(request.param)

    def make(name: str) -> Example:
        target = tmp_path / name
        shutil.copytree(EXAMPLES / name, target,
                        ignore=shutil.ignore_patterns("__pycache__", "dist", "registry"))
        sw_home = tmp_path / "swhome"
        sw_home.mkdir(exist_ok=True)
        (tmp_path / "home").mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKWING_")}
        env.update(HOME=str(tmp_path / "home"), SPARKWING_HOME=str(sw_home),
                   XDG_CONFIG_HOME=str(tmp_path / "xdg"), NO_COLOR="1",
                   SPARKWING_PROFILES=str(tmp_path / "xdg" / "profiles.yaml"))
        return Example(target, sw_home, env, executor)

    return make

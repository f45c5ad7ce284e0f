"""Fixtures for end-to-end tests of ``sparkwing run``: a throwaway project and the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sparkwing.testing.procs import isolated_env, kill_with_args


@dataclass
class Result:
    """A finished CLI invocation."""

    code: int
    out: str
    err: str


class Project:
    """A temporary repository with a ``.sparkwing/`` and an isolated ``SPARKWING_HOME``."""

    def __init__(self, root: Path, home: Path, env: dict[str, str]) -> None:
        self.root = root
        self.home = home
        self.env = env
        self.pipelines: dict[str, str] = {}

    def add(self, name: str, source: str, extra_yaml: str = "") -> None:
        """Add pipeline *name* whose module is *source* (dedented)."""
        mod = name.replace("-", "_")
        (self.root / ".sparkwing" / "pipelines" / f"{mod}.py").write_text(textwrap.dedent(source))
        self.pipelines[name] = f"  - name: {name}\n    entrypoint: pipelines.{mod}:plan\n" + extra_yaml
        (self.root / ".sparkwing" / "sparkwing.yaml").write_text(
            "pipelines:\n" + "".join(self.pipelines.values())
        )

    def run(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None) -> Result:
        """Run the real ``sparkwing`` CLI in the project."""
        proc = subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args],
            cwd=self.root, env={**self.env, **(env or {})}, capture_output=True, text=True,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start the real CLI without waiting."""
        return subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.root, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def state(self) -> Any:
        """Open the run store this project's runs were recorded in."""
        from sparkwing_sqlite.store import SqliteStateStore

        return SqliteStateStore(self.home / "state.db")

    def last_run(self) -> Any:
        """The newest recorded run."""
        st = self.state()
        try:
            runs = st.list_runs()
            assert runs, "no run was recorded"
            return runs[0]
        finally:
            st.close()

    def nodes(self, run_id: str) -> dict[str, Any]:
        """The nodes of a run by id."""
        st = self.state()
        try:
            return {n.node_id: n for n in st.list_nodes(run_id)}
        finally:
            st.close()

    def log_records(self, run_id: str, node_id: str) -> list[dict[str, Any]]:
        """The parsed log records of one node, read through the filesystem log store.

        A quick job's few records may live in the run's index rather than a file.
        """
        from sparkwing.storage.fs_logs import FilesystemLogStore

        store = FilesystemLogStore(self.home / "runs")
        try:
            return [json.loads(line) for line in store.read(run_id, node_id).lines]
        finally:
            store.close()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A fresh project with an isolated home and config directory."""
    root = tmp_path / "repo"
    (root / ".sparkwing" / "pipelines").mkdir(parents=True)
    (root / ".sparkwing" / "pipelines" / "__init__.py").write_text("")
    env = isolated_env(tmp_path)
    return Project(root, Path(env["SPARKWING_HOME"]), env)


@pytest.fixture
def reaper() -> Iterator[list[str]]:
    """Arguments of processes the test may leave behind; they are killed afterwards."""
    args: list[str] = []
    yield args
    kill_with_args(args)

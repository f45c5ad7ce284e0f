"""Fixtures for the trigger tests: a throwaway project, its state store and the real CLI.

Each project's pipeline modules get a name of their own (``p_<hex>_<name>``)
because in-process tests import them into one interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

#: A pipeline with one job writing a line.
ONE_JOB = """
    import sparkwing as sw

    def plan(plan, inputs, run):
        plan.job("hello", sw.sh("echo hello"))
"""

#: A pipeline with a typed input.
WITH_INPUT = """
    from dataclasses import dataclass
    import sparkwing as sw

    @dataclass
    class Inputs:
        who: str = "world"

    def plan(plan, inputs: Inputs, run):
        plan.job("greet", sw.sh(f"echo hello {inputs.who}"))
"""


class Project:
    """A temporary project with its own ``SPARKWING_HOME`` (set in this process too)."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.home = Path(env["SPARKWING_HOME"])
        self.tag = os.urandom(3).hex()
        self.entries: list[str] = []

    def add(self, name: str, source: str = ONE_JOB, on: str = "") -> None:
        """Add pipeline *name* with module *source* and an optional ``on:`` block (YAML text)."""
        module = f"p_{self.tag}_{name.replace('-', '_')}"
        (self.root / ".sparkwing" / f"{module}.py").write_text(textwrap.dedent(source))
        entry = f"  - name: {name}\n    entrypoint: {module}:plan\n"
        if on:
            entry += "    on:\n" + textwrap.indent(textwrap.dedent(on).strip("\n"), "      ") + "\n"
        self.entries.append(entry)
        self.write_yaml("pipelines:\n" + "".join(self.entries))

    def write_yaml(self, text: str) -> None:
        """Replace ``sparkwing.yaml``."""
        (self.root / ".sparkwing" / "sparkwing.yaml").write_text(text)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the real ``sparkwing`` command in the project."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.root, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )

    def cli_json(self, *args: str) -> Any:
        """Run the CLI with ``-o json`` and decode its output (it must exit 0)."""
        proc = self.cli(*args, "-o", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def state(self) -> Any:
        """A new state store on the project's ``state.db`` (close it)."""
        from sparkwing_sqlite.store import SqliteStateStore

        return SqliteStateStore(self.home / "state.db")

    def runs(self) -> list[Any]:
        """Every recorded run, newest first."""
        if not (self.home / "state.db").exists():
            return []
        st = self.state()
        try:
            return st.list_runs()
        finally:
            st.close()

    def triggers(self, **filters: Any) -> list[Any]:
        """Every trigger row, newest first."""
        if not (self.home / "state.db").exists():
            return []
        st = self.state()
        try:
            return st.list_triggers(limit=0, **filters)
        finally:
            st.close()


@pytest.fixture
def project(tmp_path: Path, sparkwing_home: Path) -> Project:
    """A fresh project; ``SPARKWING_HOME`` points at its home here and in the CLI it runs."""
    root = tmp_path / "repo"
    (root / ".sparkwing").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_",))}
    env.update(HOME=str(tmp_path), NO_COLOR="1")
    return Project(root, env)

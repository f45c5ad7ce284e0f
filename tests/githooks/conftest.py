"""Fixtures for the git hook tests: an isolated git repository with a sparkwing project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

#: The command under test: ``sparkwing pipeline hooks``.
HOOKS_ARGV = (sys.executable, "-m", "sparkwing_cli.main", "pipeline", "hooks")


class Repo:
    """A git work tree at ``root`` with ``.sparkwing/`` in ``project`` and its own home."""

    def __init__(self, root: Path, project: Path, home: Path, env: dict[str, str]) -> None:
        self.root = root
        self.project = project
        self.home = home
        self.env = env

    def write_pipelines(self, yaml_pipelines: str, modules: dict[str, str]) -> None:
        """Write sparkwing.yaml's ``pipelines:`` list and pipeline modules (dedented)."""
        sw = self.project / ".sparkwing"
        (sw / "pipelines").mkdir(parents=True, exist_ok=True)
        (sw / "pipelines" / "__init__.py").write_text("")
        for name, source in modules.items():
            (sw / "pipelines" / f"{name}.py").write_text(textwrap.dedent(source))
        (sw / "sparkwing.yaml").write_text(
            "pipelines:\n" + textwrap.indent(textwrap.dedent(yaml_pipelines).strip() + "\n", "  ")
        )

    def git(self, *args: str, check: bool = True, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run git in the work tree."""
        proc = subprocess.run(["git", *args], cwd=cwd or self.root, env=self.env,
                              capture_output=True, text=True, timeout=180)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc

    def hooks(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing pipeline hooks ARGS``."""
        return subprocess.run([*HOOKS_ARGV, *args], cwd=cwd or self.project, env=self.env,
                              capture_output=True, text=True, timeout=120)

    def commits(self) -> int:
        """How many commits HEAD has (0 before the first)."""
        proc = self.git("rev-list", "--count", "HEAD", check=False)
        return int(proc.stdout.strip()) if proc.returncode == 0 else 0

    def commit_file(self, name: str, text: str = "x\n", message: str = "change"
                    ) -> subprocess.CompletedProcess[str]:
        """Write, stage and commit one file; return git's result (not checked)."""
        (self.root / name).write_text(text)
        self.git("add", name)
        return self.git("commit", "-m", message, check=False)

    def runs(self) -> list[Any]:
        """Every recorded run, newest first."""
        db = self.home / "state.db"
        if not db.exists():
            return []
        from sparkwing_sqlite.store import SqliteStateStore

        st = SqliteStateStore(db)
        try:
            return st.list_runs()
        finally:
            st.close()


def make_repo(tmp_path: Path, subdir: str = "") -> Repo:
    """A fresh repository (project in *subdir*) with git and sparkwing isolated from the user."""
    root = tmp_path / "work"
    project = root / subdir if subdir else root
    project.mkdir(parents=True)
    home = tmp_path / "swhome"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPARKWING_", "GIT_"))}
    env.update(
        HOME=str(tmp_path),
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@example.invalid",
        GIT_COMMITTER_NAME="Test Committer",
        GIT_COMMITTER_EMAIL="committer@example.invalid",
        SPARKWING_HOME=str(home),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        SPARKWING_PROFILES=str(tmp_path / "config" / "sparkwing" / "profiles.yaml"),
        NO_COLOR="1",
        OUT=str(tmp_path / "out"),
    )
    (tmp_path / "out").mkdir()
    repo = Repo(root, project, home, env)
    repo.git("init", "-q", "-b", "main")
    return repo


@pytest.fixture
def new_repo(tmp_path: Path) -> Any:
    """A factory: ``new_repo(subdir)`` makes a repository whose project sits in *subdir*."""
    return lambda subdir="": make_repo(tmp_path, subdir)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A fresh isolated git repository whose root holds the sparkwing project."""
    return make_repo(tmp_path)

"""Fixtures for the box slot tests: a project whose run blocks until the test releases it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sparkwing.testing.procs import isolated_env

#: A pipeline whose only job records when it started, waits for ``release-$TAG``
#: (or ``release-all``) in ``$MARKS``, then records when it ended.
GATED_PIPELINE = """
import sparkwing as sw

SCRIPT = (
    'date +%s%N > "$MARKS/$TAG.start.tmp" && mv "$MARKS/$TAG.start.tmp" "$MARKS/$TAG.start"; '
    'while [ ! -e "$MARKS/release-$TAG" ] && [ ! -e "$MARKS/release-all" ]; do sleep 0.02; done; '
    'date +%s%N > "$MARKS/$TAG.end"'
)


def plan(plan, inputs, run):
    plan.job("gate", sw.sh(SCRIPT))
"""


@dataclass
class BoxEnv:
    """A project with the gated pipeline, an isolated home, and the processes started."""

    root: Path
    home: Path
    marks: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, tag: str, *flags: str, env: dict[str, str] | None = None,
              sigint: signal.Handlers = signal.SIG_DFL) -> subprocess.Popen[str]:
        """Start ``sparkwing run gated`` (in its own process group) tagged *tag*.

        *sigint* is the SIGINT disposition it inherits: the default, as from a
        terminal, whatever this test process has (a background job of a script
        has it ignored), or ``SIG_IGN`` to start it like such a job.
        """
        proc = subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", "run", "gated", "-o", "json", *flags],
            cwd=self.root, env={**self.env, "TAG": tag, **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
        )
        self.procs.append(proc)
        return proc

    def run(self, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run the CLI to completion."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.root,
            env={**self.env, "TAG": "sync", **(env or {})}, capture_output=True, text=True,
            timeout=120,
        )

    def started(self) -> set[str]:
        """Tags whose job has started."""
        return {p.name[: -len(".start")] for p in self.marks.glob("*.start")}

    def ended(self) -> set[str]:
        """Tags whose job has ended."""
        return {p.name[: -len(".end")] for p in self.marks.glob("*.end")}

    def stamp(self, tag: str, what: str) -> int:
        """The nanosecond timestamp the job of *tag* wrote at ``start`` or ``end``."""
        return int((self.marks / f"{tag}.{what}").read_text().strip())

    def release(self, tag: str = "all") -> None:
        """Let the job of *tag* (or every job) finish."""
        (self.marks / f"release-{tag}").write_text("")

    def slot_files(self, prefix: str) -> list[str]:
        """Names of files in the box-slots directory starting with *prefix*."""
        d = self.home / "box-slots"
        return sorted(p.name for p in d.glob(f"{prefix}*")) if d.is_dir() else []


@pytest.fixture
def box(tmp_path: Path) -> Iterator[BoxEnv]:
    """A project with the ``gated`` pipeline; leftover processes are killed at the end."""
    root = tmp_path / "repo"
    pipelines = root / ".sparkwing" / "pipelines"
    pipelines.mkdir(parents=True)
    (pipelines / "__init__.py").write_text("")
    (pipelines / "gated.py").write_text(GATED_PIPELINE)
    (root / ".sparkwing" / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: gated\n    entrypoint: pipelines.gated:plan\n"
    )
    marks = tmp_path / "marks"
    marks.mkdir()
    home = tmp_path / "home"
    env = isolated_env(tmp_path, MARKS=str(marks))
    b = BoxEnv(root, home, marks, env)
    yield b
    b.release()
    for proc in b.procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.communicate(timeout=30)

"""One child process of a runner (``triggers run`` or ``node exec``): its own process group, streamed, stopped.

The child's stdout and stderr lines go to the runner's log, bound to the
trigger or node attempt it runs. The JSON document that ends a ``triggers
run`` child's stdout (``-o json``, indented over several lines) says which
run it started; its last stderr line is the one-line error of a run that
could not start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

#: Stdout lines kept to find the ``-o json`` answer in (the child's logs go elsewhere).
STDOUT_TAIL_LINES = 400


class Child:
    """A running child process and what it printed."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: dict[str, str],
                 emit: Callable[[str], None], pass_fds: Sequence[int] = ()) -> None:
        self._emit = emit
        self.last_stdout = ""
        self.last_stderr = ""
        #: The last stdout lines (the ``-o json`` answer spans several).
        self.stdout_tail: deque[str] = deque(maxlen=STDOUT_TAIL_LINES)
        self.proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
        self._pumps = [threading.Thread(target=self._pump, args=(s, n), daemon=True)
                       for s, n in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr"))]
        for pump in self._pumps:
            pump.start()

    @property
    def pid(self) -> int:
        """The child's pid (also its process group id)."""
        return self.proc.pid

    def _pump(self, stream: IO[str] | None, name: str) -> None:
        assert stream is not None
        for raw in stream:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if name == "stdout":
                self.last_stdout = line
                self.stdout_tail.append(line)
            else:
                self.last_stderr = line
            self._emit(f"[{name}] {line}")

    def signal(self, sig: int) -> None:
        """Send *sig* to the child's whole process group (nothing if it is gone)."""
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace_s: float) -> None:
        """SIGTERM the group, wait up to *grace_s*, then SIGKILL it."""
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        self.signal(signal.SIGKILL)  # helpers the child left behind in its group too

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the child (and its output); its exit code, ``None`` on timeout."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for pump in self._pumps:
            pump.join(timeout=5)
        return code

    def result(self) -> dict[str, Any]:
        """The child's ``-o json`` answer: the JSON object ending its stdout (``{}`` if none)."""
        lines = list(self.stdout_tail)
        for start in range(len(lines) - 1, -1, -1):
            if not lines[start].startswith("{"):
                continue
            try:
                data = json.loads("\n".join(lines[start:]))
            except ValueError:
                continue
            return data if isinstance(data, dict) else {}
        return {}


def child_argv(trigger_id: str, holder: str, seq: int, run_id: str, profile: str) -> list[str]:
    """The command line that starts a claimed trigger's run (``triggers run`` in claimed mode)."""
    return [sys.executable, "-m", "sparkwing_cli.main", "triggers", "run", "--id", trigger_id,
            "--claimed-by", holder, "--claim-seq", str(seq), "--run-id", run_id,
            "--profile", profile, "-o", "json"]


def node_argv(run_id: str, node_id: str, attempt: int, profile: str, result_fd: int) -> list[str]:
    """The command line that runs a claimed node attempt (``node exec``, ending with its runner)."""
    return [sys.executable, "-m", "sparkwing_cli.main", "node", "exec", "--run", run_id,
            "--node", node_id, "--attempt", str(attempt), "--profile", profile,
            "--result-fd", str(result_fd), "--watch-parent"]

"""What one attempt's commands leave behind, and the tracker of its live processes.

:class:`CommandResult` and :class:`CommandError` are what a command ends
with; :class:`ProcessTracker` holds the process groups of an attempt's
running commands so that a timeout or a cancel can kill them. Kept apart
from :mod:`sparkwing.runtime.command` (which starts and reads commands):
every job's context makes a tracker, but only a job that runs a command
needs the modules that start one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from ..errors import SparkwingError
from ..slotted import Slotted

if TYPE_CHECKING:
    from .pipes import Child


class CommandError(SparkwingError):
    """A command exited non-zero (or was killed)."""

    def __init__(
        self, command: str, exit_code: int, last_lines: list[str], terminated: str = "",
        stdout: str = "",
    ) -> None:
        self.command = command
        self.exit_code = exit_code
        self.last_lines = last_lines
        self.terminated = terminated
        self.stdout = stdout
        if terminated:
            what = f"was killed ({terminated})"
        elif exit_code < 0:
            what = f"was killed by signal {-exit_code}"
        else:
            what = f"exited with code {exit_code}"
        super().__init__(f"command {what}: {short_command(command)}")


class CommandResult(Slotted):
    """A finished command: exit code and wall time."""

    __slots__ = ("command", "duration_s", "exit_code")

    def __init__(self, command: str, exit_code: int, duration_s: float) -> None:
        self.command = command
        self.exit_code = exit_code
        self.duration_s = duration_s


def short_command(command: str, limit: int = 120) -> str:
    """*command* on one line, cut to *limit* characters (for messages)."""
    one = " ".join(command.split())
    return one if len(one) <= limit else one[: limit - 3] + "..."


class ProcessTracker:
    """The live processes of one node attempt, so a timeout or cancel can kill their trees."""

    def __init__(self) -> None:
        self._procs: set[Child] = set()
        self._lock = threading.Lock()
        self.killed_reason = ""
        self.children: list[ProcessTracker] = []

    def child(self) -> ProcessTracker:
        """A tracker for one step: killed with this one, killable on its own."""
        c = ProcessTracker()
        with self._lock:
            self.children.append(c)
            if self.killed_reason:
                c.killed_reason = self.killed_reason
        return c

    def add(self, proc: Child) -> None:
        """Track a started process; kill it at once if the attempt is already being killed."""
        with self._lock:
            self._procs.add(proc)
            reason = self.killed_reason
        if reason:
            kill_group(proc, signal.SIGKILL)

    def discard(self, proc: Child) -> None:
        """Stop tracking a finished process."""
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self, reason: str, grace_s: float = 2.0) -> None:
        """SIGTERM every tracked process group, then SIGKILL whatever is left after *grace_s*."""
        with self._lock:
            self.killed_reason = reason
            procs = list(self._procs)
            children = list(self.children)
        for c in children:
            with c._lock:
                c.killed_reason = reason
                procs.extend(c._procs)
        for p in procs:
            kill_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in procs:
            remaining = deadline - time.monotonic()
            try:
                p.wait(timeout=max(0.0, remaining))
            except subprocess.TimeoutExpired:
                pass
            kill_group(p, signal.SIGKILL)


def kill_group(proc: Child, sig: int) -> None:
    """Send *sig* to *proc*'s process group (nothing when it is gone or not ours)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

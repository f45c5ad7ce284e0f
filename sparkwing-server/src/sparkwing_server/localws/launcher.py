"""Starting ``sparkwing`` commands from the dashboard as detached processes.

A retry started from the dashboard is an ordinary ``sparkwing runs retry``
process in its own session: it keeps running when the dashboard stops, its
standard output is discarded (the run is recorded in the stores), and its
standard error goes to an unlinked temporary file so the dashboard can
report why it failed to start. A thread waits for each process so none is
left a zombie.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import IO

#: Environment variables not passed on: they describe the dashboard process, not the run.
_DROPPED_ENV = ("SPARKWING_TRIGGER_SOURCE",)


def cli_available() -> bool:
    """Tell whether the ``sparkwing`` command line (package ``sparkwing_cli``) is installed."""
    return importlib.util.find_spec("sparkwing_cli") is not None


def sparkwing_argv(*args: str) -> list[str]:
    """The command line running ``sparkwing ARGS`` with this interpreter."""
    return [sys.executable, "-m", "sparkwing_cli.main", *args]


@dataclass
class Launched:
    """A started process and the file collecting its standard error."""

    process: subprocess.Popen[bytes]
    stderr: IO[bytes]

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def exited(self) -> int | None:
        """The exit status once the process ended, else ``None``."""
        return self.process.poll()

    def error_line(self) -> str:
        """The last ``error: ...`` line it wrote (else its last line), without the prefix."""
        self.stderr.flush()
        self.stderr.seek(0)
        lines = [ln.strip() for ln in self.stderr.read().decode("utf-8", "replace").splitlines()]
        lines = [ln for ln in lines if ln]
        errors = [ln for ln in lines if ln.startswith("error:")]
        line = (errors or lines or [""])[-1]
        return line.removeprefix("error:").strip()

    def release(self) -> None:
        """Stop watching: a background thread reaps the process and closes the file."""
        threading.Thread(target=_reap, args=(self.process, self.stderr), daemon=True,
                         name=f"sw-reap-{self.pid}").start()


def _reap(process: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
    try:
        process.wait()
    finally:
        stderr.close()


def start_detached(argv: list[str], cwd: str, env: dict[str, str] | None = None) -> Launched:
    """Start *argv* in *cwd* in a new session, detached from the dashboard's terminal."""
    environ = dict(os.environ if env is None else env)
    for name in _DROPPED_ENV:
        environ.pop(name, None)
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this call; closed by release()
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr, start_new_session=True, close_fds=True,
        )
    except BaseException:
        stderr.close()
        raise
    return Launched(process, stderr)

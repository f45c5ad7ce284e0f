"""Small helpers for tests that drive real processes."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

_SEQ = itertools.count(1)


def wait_for(pred: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> None:
    """Poll *pred* until it returns true; raise ``AssertionError`` after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:g}s")


def pid_alive(pid: int) -> bool:
    """True if process *pid* exists and is not a zombie (Linux ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def isolated_env(tmp: Path, **extra: str) -> dict[str, str]:
    """An environment for running sparkwing in tests without touching the user's files.

    Inherited ``SPARKWING_*`` variables and CI vendor markers
    (``GITHUB_ACTIONS``, ``GITLAB_CI``, ``BUILDKITE``) are dropped;
    ``SPARKWING_HOME``, ``XDG_CONFIG_HOME``, ``SPARKWING_PROFILES`` and
    ``HOME`` point into *tmp*; colours are off. *extra* is added last.
    """
    import os

    from ..triggers.civendor import VENDOR_MARKERS

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SPARKWING_") and k not in VENDOR_MARKERS}
    env.update(
        SPARKWING_HOME=str(tmp / "home"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        SPARKWING_PROFILES=str(tmp / "config" / "sparkwing" / "profiles.yaml"),
        HOME=str(tmp),
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def pids_with_arg(arg: str) -> list[int]:
    """Live processes (Linux ``/proc``) one of whose command-line arguments is exactly *arg*."""
    found: list[int] = []
    want = arg.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if want in argv and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def unique_sleep() -> str:
    """A ``sleep`` argument (about 300 s) no other test or session uses: ``300.<pid><n>``.

    :func:`pids_with_arg` then finds exactly the processes a test started.
    """
    return f"300.{os.getpid()}{next(_SEQ)}"


def kill_with_args(args: Iterable[str]) -> None:
    """SIGKILL every live process that has one of *args* as a command-line argument."""
    for arg in args:
        for pid in pids_with_arg(arg):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def die_with_parent() -> None:
    """``preexec_fn`` for a test server: ask Linux to stop the child when its parent dies.

    Without this a killed test run (a timeout, SIGKILL) leaves an emulator
    running. Elsewhere than Linux it does nothing.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

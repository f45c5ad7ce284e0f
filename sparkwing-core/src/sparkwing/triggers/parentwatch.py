"""A runner's child run dies with its runner: watch the parent, kill the process tree, exit.

``sparkwing triggers run --claimed-by`` runs under a runner that heartbeats
its claim. When the runner is gone (``kill -9``, a crash), nobody keeps the
claim alive: the controller requeues the trigger once its lease runs out and
another runner starts the run again. The old run must not go on beside the
new one, so the child watches its parent process; once it changed (the
child was re-parented), it SIGKILLs every descendant process (job commands
run in process groups of their own, so a group kill would miss them) and
exits at once without recording anything: the next claim records the run
as lost.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

#: Seconds between two looks at the parent process.
WATCH_INTERVAL_S = 0.2
#: Exit code of a child whose runner vanished.
ORPHAN_EXIT = 3


def descendants(pid: int) -> list[int]:
    """Pids of every live descendant of *pid* (from ``/proc``; empty where there is none)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _orphaned(parent: int) -> None:
    import sys

    try:  # stderr was the runner's pipe: it is most likely closed now
        sys.stderr.write(f"the runner (pid {parent}) is gone; stopping this run's processes\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    os._exit(ORPHAN_EXIT)


def watch_parent() -> threading.Thread:
    """Start a daemon thread that ends this process tree once the parent process is gone."""
    parent = os.getppid()

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(WATCH_INTERVAL_S):
            if os.getppid() != parent:
                _orphaned(parent)

    thread = threading.Thread(target=loop, name="parent-watch", daemon=True)
    thread.start()
    return thread

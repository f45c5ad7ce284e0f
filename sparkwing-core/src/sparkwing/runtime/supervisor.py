"""The group supervisor: the process groups a sparkwing process started die with it.

Commands (and ``process`` executor children) run in their own process
groups so a timeout or a cancel can kill their trees. A group outlives a
``sparkwing`` process killed with ``SIGKILL`` (or by the OOM killer), and a
per-process death signal (``PR_SET_PDEATHSIG``) would only reach each
group's first process, not what it started. So the first time a process
starts a group, it also starts a small supervisor: a ``/bin/sh`` script in
its own session (a shell starts in well under a millisecond of CPU, a
Python interpreter takes about ten) that reads ``+PGID`` / ``-PGID`` lines
from a pipe whose only writer is this process. When the pipe closes (this process exited, however
it died), the supervisor sends ``SIGKILL`` to every group still registered
and exits. A process that ends normally has unregistered its finished
commands, so only groups it left behind are killed.
"""

from __future__ import annotations

import os
import threading

from .spawn import make_inherited_private

#: The supervisor's program, a ``/bin/sh`` script run with an empty environment (so nothing
#: like ``SHELLOPTS`` changes it). ``read`` and ``kill`` are builtins: it never starts another
#: process. Groups are kept as `` 12 34 `` in one variable; removing one is parameter expansion.
SUPERVISOR_CODE = """
trap '' INT HUP PIPE
groups=' '
while IFS= read -r line; do
  case $line in
    +*) groups="$groups${line#+} " ;;
    -*) g=${line#-}
        case $groups in *" $g "*) groups="${groups%%" $g "*} ${groups#*" $g "}" ;; esac ;;
  esac
done
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
"""
#: The shell that runs :data:`SUPERVISOR_CODE`.
SUPERVISOR_SHELL = "/bin/sh"


class GroupSupervisor:
    """This process's handle on its supervisor (started on the first :meth:`watch`)."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._pid = 0
        self._child = 0
        self._lock = threading.Lock()
        self.failed = False

    def start(self) -> None:
        """Start the supervisor now if it is not running (before a group it must watch exists).

        Registering a group right after it was started then takes one write:
        a process killed between the two leaves that group behind only for
        that short moment, not for the supervisor's whole start-up.
        """
        self._ensure()

    def watch(self, pgid: int) -> None:
        """Kill process group *pgid* if this process dies before :meth:`release`."""
        self._send(f"+{pgid}\n")

    def release(self, pgid: int) -> None:
        """Forget process group *pgid* (its command finished)."""
        if self._fd is not None and self._pid == os.getpid():
            self._send(f"-{pgid}\n")

    @property
    def pid(self) -> int | None:
        """The supervisor's pid (``None`` until one was started)."""
        return self._child if self._child and self._pid == os.getpid() else None

    def _send(self, line: str) -> None:
        fd = self._ensure()
        if fd is None:
            return
        try:
            os.write(fd, line.encode("ascii"))
        except OSError:  # the supervisor is gone: nothing more to do
            self.failed = True

    def _ensure(self) -> int | None:
        if self._fd is not None and self._pid == os.getpid():
            return self._fd
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                return self._fd
            if self.failed and self._pid == os.getpid():
                return None
            self._pid = os.getpid()  # a forked child starts its own
            make_inherited_private()  # the supervisor holds nothing of this process's but its pipe
            read_fd, write_fd = os.pipe()  # both ends close on exec
            try:
                # posix_spawn, not Popen: nothing to reap or warn about while this process lives
                self._child = os.posix_spawn(
                    SUPERVISOR_SHELL, [SUPERVISOR_SHELL, "-c", SUPERVISOR_CODE], {},
                    file_actions=[(os.POSIX_SPAWN_DUP2, read_fd, 0),
                                  (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                  (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)],
                    setsid=True,
                )
            except (OSError, AttributeError, NotImplementedError):  # no posix_spawn here
                os.close(write_fd)
                self.failed = True
                return None
            finally:
                os.close(read_fd)
            self.failed = False
            self._fd = write_fd
            return write_fd


#: The supervisor of this process.
SUPERVISOR = GroupSupervisor()

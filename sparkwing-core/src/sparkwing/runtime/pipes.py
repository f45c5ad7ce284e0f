"""Reading a child process's pipes until they close, or until shortly after the child exited.

A command that starts a background process (``server &``) and exits leaves
that process holding the command's output pipe: reading until end of file
would wait for the background process, and the job would hang. Readers here
stop :data:`DRAIN_S` after the child itself exited; the caller drops what is
left, says so in the job's log and kills the child's process group.
"""

from __future__ import annotations

import fcntl
import math
import os
import select
import time
from collections.abc import Callable, Mapping
from typing import Protocol

#: Read size for pipes (the default of :func:`read_until_exit`).
CHUNK = 1 << 16
#: The capacity :func:`widen_pipe` asks for: Linux's default limit for unprivileged
#: processes (``/proc/sys/fs/pipe-max-size``).
PIPE_BYTES = 1 << 20
#: Seconds output may still arrive after the child exited before the rest is dropped.
DRAIN_S = 0.5
#: How often the child is polled where its exit cannot be waited on with a pidfd.
POLL_S = 0.2


class Stream(Protocol):
    """One of a child's pipes as the parent holds it."""

    def fileno(self) -> int:
        """The descriptor."""
        ...

    def close(self) -> None:
        """Close it."""
        ...


class Child(Protocol):
    """A started child process as its readers and trackers use it (``subprocess.Popen`` is one)."""

    @property
    def pid(self) -> int:
        """Its process id (and process group: children start in a session of their own)."""
        ...

    @property
    def stdout(self) -> Stream | None:
        """Its standard output pipe, if piped."""
        ...

    @property
    def stderr(self) -> Stream | None:
        """Its standard error pipe, if piped on its own."""
        ...

    def poll(self) -> int | None:
        """The exit code if it has exited, else ``None``."""
        ...

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code (``subprocess.TimeoutExpired`` after *timeout* seconds)."""
        ...


def read_until_exit(proc: Child,
                    readers: Mapping[int, Callable[[bytes], None]],
                    drain_s: float = DRAIN_S, chunk: int = CHUNK) -> bool:
    """Hand every chunk read from each pipe of *readers* to its callback until all close.

    A read takes up to *chunk* bytes. Returns ``False`` when every pipe reached end of file, ``True`` when some
    were still open *drain_s* seconds after *proc* exited (reading stopped:
    a process the child left behind holds them). The pipes are not closed.
    """
    # poll(2) rather than a selector: no epoll descriptor to create and close per command
    poller = select.poll()
    pidfd = _pidfd(proc.pid)
    try:
        for fd in readers:
            poller.register(fd, select.POLLIN)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        open_pipes = len(readers)
        deadline: float | None = None
        while open_pipes:
            if deadline is not None:
                timeout: float | None = max(0.0, deadline - time.monotonic())
            else:
                timeout = None if pidfd is not None else POLL_S
            for fd, _ in poller.poll(None if timeout is None else math.ceil(timeout * 1000)):
                if fd == pidfd:
                    poller.unregister(fd)
                    deadline = time.monotonic() + drain_s
                    continue
                data = os.read(fd, chunk)
                if data:
                    readers[fd](data)
                else:
                    poller.unregister(fd)
                    open_pipes -= 1
            if deadline is None and pidfd is None and proc.poll() is not None:
                deadline = time.monotonic() + drain_s
            if open_pipes and deadline is not None and time.monotonic() >= deadline:
                return True
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def widen_pipe(fd: int) -> None:
    """Raise the capacity of the pipe *fd* to :data:`PIPE_BYTES` where Linux allows it.

    With the default 64 KiB a chatty child fills the pipe with one write and
    waits for each read to empty it, so child and reader take turns instead
    of running side by side. A refusal (another OS, a lowered limit, the
    user's pipe quota spent) leaves the pipe as it was. While open, a widened
    pipe counts 1 MiB against the user's quota
    (``/proc/sys/fs/pipe-user-pages-soft``, 64 MiB by default), so only the
    pipe a command's output is logged from is widened.
    """
    op = getattr(fcntl, "F_SETPIPE_SZ", None)
    if op is None:
        return
    try:
        fcntl.fcntl(fd, op, PIPE_BYTES)
    except OSError:
        pass


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when *pid* exits (Linux 5.3+), else ``None``."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:  # an old kernel, or a sandbox refusing the call
        return None
    return fd

"""Running commands for a node: streamed into its log, each in its own process group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import SparkwingError
from ..events import LOG_EXEC_START
from ..slotted import Slotted
from .directexec import direct_command
from .heap import keep_freed_heap
from .linesplit import LineSplitter, decoded_tail
from .nodelog import NodeLogger
from .pipes import Child, read_until_exit, widen_pipe
from .spawn import spawn
from .supervisor import SUPERVISOR

#: Read size for a command's pipes: a widened log pipe (see
#: :func:`~sparkwing.runtime.pipes.widen_pipe`) holds up to 1 MiB, and fewer, larger
#: reads mean fewer passes through the per-block work. Buffers this size stay in
#: the heap once :func:`~sparkwing.runtime.heap.keep_freed_heap` ran.
READ_BYTES = 1 << 18


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
        super().__init__(f"command {what}: {_short(command)}")


class CommandResult(Slotted):
    """A finished command: exit code and wall time."""

    __slots__ = ("command", "duration_s", "exit_code")

    def __init__(self, command: str, exit_code: int, duration_s: float) -> None:
        self.command = command
        self.exit_code = exit_code
        self.duration_s = duration_s


def _short(command: str, limit: int = 120) -> str:
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
            _killpg(proc, signal.SIGKILL)

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
            _killpg(p, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in procs:
            remaining = deadline - time.monotonic()
            try:
                p.wait(timeout=max(0.0, remaining))
            except subprocess.TimeoutExpired:
                pass
            _killpg(p, signal.SIGKILL)


def _killpg(proc: Child, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_command(
    command: str | Sequence[str],
    *,
    shell: bool,
    log: NodeLogger,
    tracker: ProcessTracker,
    step: str = "",
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    capture: str | None = None,
    check: bool = True,
) -> Any:
    """Run a command, streaming its output into *log* line by line as it arrives.

    With ``capture=None`` stdout and stderr are merged and every line becomes
    an ``exec_line`` record; the result is a :class:`CommandResult`. With
    ``capture="text" | "lines" | "json"`` stdout is collected (stderr is still
    streamed) and returned as trimmed text, non-blank lines, or parsed JSON.
    A non-zero exit raises :class:`CommandError` when *check* is true.
    """
    direct = None
    if shell:
        text = str(command)
        argv: list[str] = ["bash", "-c", text]
        direct = direct_command(text, os.environ if env is None else env, cwd or os.getcwd())
    else:
        argv = [str(a) for a in command]
        text = " ".join(argv)
    # Not flushed: readers see it with the command's first output, or within LAZY_FLUSH_S.
    log.record(f"$ {text}", event=LOG_EXEC_START, step=step, flush=False)
    SUPERVISOR.start()
    started = time.monotonic()
    proc = None
    if direct is not None:
        try:
            proc = _start(direct.argv, direct.env, cwd, capture, direct.executable)
        except OSError:  # not startable after all: bash reports that in its own words
            proc = None
    if proc is None:
        try:
            proc = _start(argv, None if env is None else dict(env), cwd, capture)
        except OSError as exc:
            log.record(f"could not start command: {exc}", level="error", step=step)
            raise CommandError(text, -1, [str(exc)]) from exc
    SUPERVISOR.watch(proc.pid)
    tracker.add(proc)
    tail: deque[str] = deque(maxlen=20)
    captured: list[bytes] = []
    try:
        _pump(proc, log, step, capture is not None, captured, tail)
        code = proc.wait()
    finally:
        tracker.discard(proc)
        SUPERVISOR.release(proc.pid)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    duration = time.monotonic() - started
    out_text = b"".join(captured).decode("utf-8", "replace") if capture is not None else ""
    if code != 0 and check:
        if capture is not None:
            tail.extend(out_text.splitlines()[-20:])
        raise CommandError(text, code, list(tail), tracker.killed_reason, out_text)
    if capture is None:
        return CommandResult(text, code, duration)
    if capture == "text":
        return out_text.strip()
    if capture == "lines":
        return [ln.strip() for ln in out_text.splitlines() if ln.strip()]
    if capture == "json":
        try:
            return json.loads(out_text)
        except ValueError as exc:
            raise SparkwingError(f"command output is not JSON ({exc}): {_short(text)}") from None
    raise ValueError(f"capture must be None, 'text', 'lines' or 'json', got {capture!r}")


def _start(argv: list[str], env: dict[str, str] | None, cwd: str | None, capture: str | None,
           executable: str | None = None) -> Child:
    """Start *argv* in a new session, output piped (stderr merged unless capturing).

    A program found on ``PATH`` already (*executable*) with its environment
    is started with ``posix_spawn`` where that gives the same child
    (:mod:`~sparkwing.runtime.spawn`), else with ``Popen``; the pipes are
    read with ``os.read``, so neither wraps them in a buffered file.
    """
    if executable is not None and env is not None:
        child = spawn(executable, argv, env, cwd, merge_stderr=capture is None)
        if child is not None:
            return child
    return subprocess.Popen(
        argv,
        bufsize=0,
        executable=executable,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if capture is None else subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )


def _pump(
    proc: Child,
    log: NodeLogger,
    step: str,
    capturing: bool,
    captured: list[bytes],
    tail: deque[str],
) -> None:
    """Read the process's pipes until both close; stream lines of the log pipe.

    When the command exits but a process it left in the background still
    holds a pipe, reading stops shortly after the exit (see
    :func:`~sparkwing.runtime.pipes.read_until_exit`): the rest of that
    output is dropped with a note in the log and the command's process group
    is killed.
    """
    log_pipe = proc.stderr if capturing else proc.stdout
    assert log_pipe is not None
    widen_pipe(log_pipe.fileno())
    keep_freed_heap()
    splitter = LineSplitter()

    def feed(data: bytes, final: bool = False) -> None:
        lines = splitter.finish() if final else splitter.push(data)
        if lines is not None:
            tail.extend(decoded_tail(lines, 20))
            log.output_bytes(lines, step)

    readers: dict[int, Callable[[bytes], None]] = {log_pipe.fileno(): feed}
    if capturing:
        assert proc.stdout is not None
        readers[proc.stdout.fileno()] = captured.append
    if read_until_exit(proc, readers, chunk=READ_BYTES):
        feed(b"", True)
        _killpg(proc, signal.SIGKILL)
        log.record(
            f"the command exited but process group {proc.pid} still held its output open "
            "(a background process?); the rest of its output was dropped and the group killed",
            level="warn", step=step,
        )
        return
    feed(b"", True)

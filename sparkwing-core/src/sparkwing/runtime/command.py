"""Running commands for a node: streamed into its log, each in its own process group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import SparkwingError
from ..events import LOG_EXEC_START
from .directexec import direct_command
from .heap import keep_freed_heap
from .linesplit import LineSplitter, decoded_tail
from .nodelog import NodeLogger
from .pipes import Child, read_until_exit, widen_pipe
from .processes import CommandError as CommandError
from .processes import CommandResult as CommandResult
from .processes import ProcessTracker as ProcessTracker
from .processes import kill_group, short_command
from .spawn import spawn
from .supervisor import SUPERVISOR

#: Read size for a command's pipes: a widened log pipe (see
#: :func:`~sparkwing.runtime.pipes.widen_pipe`) holds up to 1 MiB, and fewer, larger
#: reads mean fewer passes through the per-block work. Buffers this size stay in
#: the heap once :func:`~sparkwing.runtime.heap.keep_freed_heap` ran.
READ_BYTES = 1 << 18


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
            raise SparkwingError(f"command output is not JSON ({exc}): {short_command(text)}") from None
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
        kill_group(proc, signal.SIGKILL)
        log.record(
            f"the command exited but process group {proc.pid} still held its output open "
            "(a background process?); the rest of its output was dropped and the group killed",
            level="warn", step=step,
        )
        return
    feed(b"", True)

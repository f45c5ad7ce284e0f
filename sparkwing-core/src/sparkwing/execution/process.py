"""The ``process`` executor: every attempt in a fresh ``sparkwing node exec`` process.

The child runs in its own process group with the project root as its
working directory. It prints its log records as JSON lines on stdout
(``--log-to stdout``); they are forwarded into the node's log and to the
live reporter as they arrive, so the terminal shows them and nothing is
written twice. Whatever else the child writes (on stderr, or a body's
``print()``) becomes output lines of the node's log. The child records its
result as an ``attempt_finished`` event and also writes it to a pipe this
executor reads.

Secret inputs are stored redacted on the run, so their values reach the
child in the environment variable ``SPARKWING_SECRET_INPUTS`` (values to
mask in ``SPARKWING_SECRET_VALUES``), never in its argv.

* Timeout: the child enforces the attempt's timeout itself (and records
  ``failed``/``timeout``); past the timeout plus ``grace_s`` its process
  group is killed and the attempt is ``failed``/``timeout``.
* Cancel: SIGTERM to the group, ``grace_s`` to finish (the child kills the
  commands it started), then SIGKILL; the cancellation propagates.
* A child that exits without a result: ``failed`` with reason
  ``executor_lost`` and its exit status.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..runtime.nodelog import NodeLogger
from ..runtime.pipes import read_until_exit
from ..runtime.supervisor import SUPERVISOR
from .contracts import Attempt, AttemptResult, ExecutorContext

#: Seconds a cancelled or overdue child gets between SIGTERM and SIGKILL.
GRACE_S = 5.0


class ProcessExecutor:
    """Runs each attempt as ``sparkwing node exec --run R --node N --attempt K`` in a new process."""

    name = "process"
    in_process = False

    def __init__(self, command: Sequence[str] | None = None, grace_s: float = GRACE_S) -> None:
        self.command = list(command or [sys.executable, "-m", "sparkwing_cli.main"])
        self.grace_s = grace_s

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ExecutorContext) -> ProcessExecutor:
        """Build from ``executor: {type: process, command: [...], grace_s: N}``."""
        command = config.get("command")
        if command is not None:
            if isinstance(command, str):
                command = command.split()
            if not (isinstance(command, list) and command and all(isinstance(c, str)
                                                                  for c in command)):
                raise ConfigError("executor process: command must be a list of strings "
                                  "(the argv that starts sparkwing)")
        grace = config.get("grace_s", GRACE_S)
        if not isinstance(grace, int | float) or grace < 0:
            raise ConfigError(f"executor process: grace_s must be a number >= 0, got {grace!r}")
        return cls(command, float(grace))

    def argv(self, attempt: Attempt, result_fd: int | None, log_to: str) -> list[str]:
        """The child's command line (no secret in it)."""
        argv = [*self.command, "node", "exec", "--run", attempt.run_id, "--node",
                attempt.node_id, "--attempt", str(attempt.attempt), "--log-to", log_to]
        if attempt.profile:
            argv += ["--profile", attempt.profile]
        if attempt.timeout_s:
            argv += ["--timeout", f"{attempt.timeout_s:g}"]
        if attempt.no_progress_s:
            argv += ["--no-progress-timeout", f"{attempt.no_progress_s:g}"]
        if result_fd is not None:
            argv += ["--result-fd", str(result_fd)]
        return argv

    def env(self, attempt: Attempt) -> dict[str, str]:
        """The child's environment: this process's, the job's, the secrets out of band."""
        env = dict(os.environ)
        env.update(attempt.env)
        env["SPARKWING_EXECUTOR"] = self.name
        env.pop("SPARKWING_SECRET_INPUTS", None)
        env.pop("SPARKWING_SECRET_VALUES", None)
        if attempt.secret_inputs:
            env["SPARKWING_SECRET_INPUTS"] = json.dumps(dict(attempt.secret_inputs))
        if attempt.secret_values:
            env["SPARKWING_SECRET_VALUES"] = json.dumps(list(attempt.secret_values))
        return env

    async def run_attempt(self, attempt: Attempt) -> AttemptResult:
        """Start the child, forward its records, enforce the deadline, read its result."""
        ctx = attempt.context
        log: NodeLogger | None = ctx.log if ctx is not None else None
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                self.argv(attempt, write_fd, "stdout" if log is not None else "store"),
                cwd=str(attempt.workdir), env=self.env(attempt), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                pass_fds=(write_fd,),
            )
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            return AttemptResult("failed", failure_reason="executor_lost",
                                 error=f"{attempt.node_id}: cannot start node exec: {exc}")
        os.close(write_fd)
        SUPERVISOR.watch(proc.pid)  # killed with its group if this process dies
        if ctx is not None:
            ctx.tracker.add(proc)  # a second Ctrl-C kills it with the run
        child = _Child(proc, read_fd, log)
        child.start()
        try:
            code = await self._wait(proc, attempt)
        except asyncio.CancelledError:
            await asyncio.shield(asyncio.to_thread(self._stop, proc))
            await asyncio.shield(asyncio.to_thread(child.join))
            SUPERVISOR.release(proc.pid)
            raise
        finally:
            if ctx is not None:
                ctx.tracker.discard(proc)
        await asyncio.to_thread(child.join)
        SUPERVISOR.release(proc.pid)
        return self._result(attempt, code, child)

    async def _wait(self, proc: subprocess.Popen[bytes], attempt: Attempt) -> int | None:
        """The child's exit status, or ``None`` when it overstayed its deadline (then killed)."""
        waiter = asyncio.ensure_future(asyncio.to_thread(proc.wait))
        if not attempt.timeout_s:
            return await asyncio.shield(waiter)
        done, _ = await asyncio.wait({waiter}, timeout=attempt.timeout_s + self.grace_s)
        if done:
            return waiter.result()
        await asyncio.to_thread(self._stop, proc)
        await waiter
        return None

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the child's group, wait ``grace_s``, SIGKILL what is left."""
        _killpg(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            pass
        _killpg(proc, signal.SIGKILL)
        proc.wait()

    def _result(self, attempt: Attempt, code: int | None, child: _Child) -> AttemptResult:
        nid = attempt.node_id
        if child.result is not None:
            return AttemptResult.from_payload(child.result)
        if code is None:
            text = f"{nid}: timeout exceeded ({attempt.timeout_s:g}s); node exec was killed"
            if child.log is not None:
                child.log.record(text, level="error")
            return AttemptResult("failed", failure_reason="timeout", error=text)
        tail = f": {child.stderr_tail[-1]}" if child.stderr_tail else ""
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        text = f"{nid}: node exec {how} without recording a result{tail}"
        if child.log is not None:
            child.log.record(text, level="error")
        return AttemptResult("failed", exit_code=code, failure_reason="executor_lost", error=text)

    async def close(self) -> None:
        """Nothing is held between attempts."""


class _Child:
    """A thread reading a child's stdout (records), stderr (output lines) and result pipe.

    Reading stops shortly after the child exits even when a process it left
    behind still holds one of its pipes; that process's group is then killed
    and a note written to the node's log.
    """

    def __init__(self, proc: subprocess.Popen[bytes], result_fd: int,
                 log: NodeLogger | None) -> None:
        self.proc = proc
        self.result_fd = result_fd
        self.log = log
        self.result: dict[str, Any] | None = None
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self.thread: threading.Thread | None = None
        self._records_pending = b""
        self._stderr_pending = b""
        self._result_chunks: list[bytes] = []

    def start(self) -> None:
        self.thread = threading.Thread(target=self._read, daemon=True,
                                       name=f"node-exec-{self.proc.pid}")
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def _read(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        try:
            cut = read_until_exit(self.proc, {self.proc.stdout.fileno(): self._records,
                                              self.proc.stderr.fileno(): self._stderr,
                                              self.result_fd: self._result_chunks.append})
        finally:
            os.close(self.result_fd)
        if self._records_pending and self.log is not None:
            self.log.output([self._records_pending.decode("utf-8", "replace")])
        if self._stderr_pending:
            self._lines([self._stderr_pending])
        if cut:
            _killpg(self.proc, signal.SIGKILL)
            if self.log is not None:
                self.log.record(
                    f"node exec exited but process group {self.proc.pid} still held its output "
                    "open (a background process?); the rest of its output was dropped and the "
                    "group killed", level="warn")
        try:
            value = json.loads(b"".join(self._result_chunks) or b"null")
        except ValueError:
            value = None
        self.result = value if isinstance(value, dict) else None

    def _records(self, data: bytes) -> None:
        data = self._records_pending + data
        cut = data.rfind(b"\n") + 1
        self._records_pending = data[cut:]
        if cut and self.log is not None:
            self.log.forward(data[:cut].decode("utf-8", "replace"))

    def _stderr(self, data: bytes) -> None:
        lines = (self._stderr_pending + data).split(b"\n")
        self._stderr_pending = lines.pop()
        self._lines(lines)

    def _lines(self, raw: list[bytes]) -> None:
        lines = [b.decode("utf-8", "replace").rstrip("\r") for b in raw]
        self.stderr_tail.extend(ln for ln in lines if ln.strip())
        if self.log is not None and lines:
            self.log.output(lines)


def _killpg(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

"""Conformance suite for :class:`~sparkwing.execution.contracts.Executor` implementations.

Use it by subclassing and providing ``executor_factory``::

    from sparkwing.testing.suites.executors import ExecutorSuite

    class TestMyExecutor(ExecutorSuite):
        __test__ = True

        @pytest.fixture
        def executor_factory(self):
            return lambda context: MyExecutor(context)

``executor_factory`` takes an :class:`~sparkwing.execution.contracts.ExecutorContext`
and returns a new executor. Every test writes a small project (pipeline
``suite``) into a temporary directory, records a run of it in a fresh
``SPARKWING_HOME`` (so an out-of-process executor's ``sparkwing node exec``
finds the run, its plan and its stores) and hands the executor attempts of
that run's jobs, each with its live node and Context, as the orchestrator
would. The suite checks the contract's promises: success with an output,
failure with the exit code, output lines in order, the attempt's
environment, secret masking in logs and output, the timeout, and
cancellation leaving no process behind.

Linux only: "no process left behind" is checked in ``/proc``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sparkwing.events import LOG_EXEC_LINE
from sparkwing.execution.contracts import (
    Attempt,
    AttemptResult,
    Executor,
    ExecutorContext,
)

#: The pipeline every test runs jobs of. ``{marker}`` is a per-test file the jobs write pids to.
SUITE_PIPELINE = '''
from dataclasses import dataclass
import os
import sparkwing as sw

@dataclass
class Inputs:
    token: str = sw.arg(default="", secret=True)
    marker: str = ""

def plan(p: sw.Plan, inputs: Inputs, run) -> None:
    def ok(ctx):
        ctx.info("computing the answer")
        return {"answer": 42, "items": [1, 2, 3], "node": ctx.node_id}

    def secret(ctx):
        ctx.info(f"the token is {inputs.token}")
        ctx.sh(f"echo token-from-shell {inputs.token}")
        return {"token": inputs.token}

    def slow(ctx):
        ctx.sh(f"echo $$ >> {inputs.marker}; sleep 60 & echo $! >> {inputs.marker}; wait")

    p.job("ok", ok)
    p.job("fail", sw.sh("echo before-failure; exit 7"))
    p.job("order", sw.sh("seq 1 300"))
    p.job("env", sw.sh('echo "suite env is $SUITE_VALUE"'))
    p.job("secret", secret)
    p.job("slow", slow)
'''

#: The secret the ``secret`` job reads from its inputs.
SECRET = "s3cret-Value-for-the-suite"


class ExecutorWorld:
    """One recorded run of the suite pipeline, whose jobs' attempts a test hands to an executor."""

    def __init__(self, root: Path) -> None:
        from sparkwing.testing.harness import Harness

        self.root = root
        self.marker = root / "pids.txt"
        self.token = uuid.uuid4().hex
        harness = Harness(root / "project")
        harness.pipeline("suite", SUITE_PIPELINE)
        self.prepared = harness.prepare("suite", "--token", SECRET, "--marker", str(self.marker))
        self.orch = self.prepared.orchestrator
        self.logs: list[Any] = []

    def begin(self) -> None:
        """Record the run (on the running loop)."""
        self.orch.begin()

    def attempt(self, node_id: str, *, timeout_s: float | None = None,
                env: dict[str, str] | None = None) -> Attempt:
        """Attempt 1 of *node_id*, as the orchestrator would hand it over."""
        orch = self.orch
        node = orch.graph.nodes[node_id]
        log = orch.journal.node_log(node_id)
        self.logs.append(log)
        ctx = orch.runner.context(node, log)
        rc = orch.run_ctx
        return Attempt(
            run_id=rc.run_id, node_id=node_id, attempt=1, pipeline=rc.pipeline,
            workdir=rc.workdir, profile=rc.profile, timeout_s=timeout_s,
            env={"SUITE_PROCESS_TOKEN": self.token, **(env or {})},
            secret_values=list(orch.options.secret_values),
            secret_inputs={"token": SECRET}, node=node, context=ctx, recorder=orch.journal,
        )

    def close_logs(self) -> None:
        """Close the logs of the attempts made so far (flushes them)."""
        for log in self.logs:
            log.close()
        self.logs.clear()

    def records(self, node_id: str) -> list[dict[str, Any]]:
        """Every record of a node's log."""
        self.close_logs()
        chunk = self.orch.logs.read(self.orch.run_ctx.run_id, node_id)
        return [json.loads(line) for line in chunk.lines]

    def log_text(self, node_id: str) -> str:
        """A node's whole log as stored (raw JSON lines)."""
        self.close_logs()
        return "\n".join(self.orch.logs.read(self.orch.run_ctx.run_id, node_id).lines)

    def attempt_events(self, node_id: str) -> list[dict[str, Any]]:
        """Payloads of the ``attempt_finished`` events recorded for *node_id*."""
        from sparkwing import events

        self.orch.journal.flush()
        return [e.payload for e in self.orch.state.list_events(self.orch.run_ctx.run_id, 0, 0)
                if e.kind == events.ATTEMPT_FINISHED and e.node_id == node_id]

    def processes_left(self) -> list[int]:
        """Pids of live processes started for this test's attempts (their env holds its token)."""
        needle = f"SUITE_PROCESS_TOKEN={self.token}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if needle in environ.split(b"\0") and stat.rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        return found


class ExecutorSuite:
    """Behaviour every executor must show. Subclass, set ``__test__ = True``,
    and override the ``executor_factory`` fixture."""

    __test__ = False

    @pytest.fixture
    def executor_factory(self) -> Callable[[ExecutorContext], Executor]:
        """Return a callable building a new executor (override this)."""
        raise NotImplementedError("an ExecutorSuite subclass must override executor_factory")

    @pytest.fixture
    def world(self, sparkwing_home: Path, tmp_path: Path) -> Iterator[ExecutorWorld]:
        """A recorded run of the suite pipeline in a fresh home."""
        w = ExecutorWorld(tmp_path)
        try:
            yield w
        finally:
            w.close_logs()
            w.prepared.close()

    @pytest.fixture
    def context(self, sparkwing_home: Path) -> ExecutorContext:
        """What the factory gets."""
        return ExecutorContext(home=sparkwing_home, profile="laptop", workers=2)

    def attempt(self, world: ExecutorWorld, factory: Callable[[ExecutorContext], Executor],
                context: ExecutorContext, node_id: str, **kwargs: Any) -> AttemptResult:
        """Record the run, run one attempt of *node_id* on a new executor, close it."""

        async def go() -> AttemptResult:
            world.begin()
            executor = factory(context)
            try:
                return await executor.run_attempt(world.attempt(node_id, **kwargs))
            finally:
                await executor.close()

        return asyncio.run(go())

    # -- the contract ------------------------------------------------------------------------
    def test_implements_the_protocol(self, executor_factory: Callable[[ExecutorContext], Executor],
                                     context: ExecutorContext) -> None:
        executor = executor_factory(context)
        assert isinstance(executor, Executor)
        assert isinstance(executor.name, str) and executor.name
        asyncio.run(executor.close())

    def test_success_returns_the_output_and_streams_the_log(
        self, world: ExecutorWorld, executor_factory: Any, context: ExecutorContext
    ) -> None:
        result = self.attempt(world, executor_factory, context, "ok")
        assert result.outcome == "success", result
        assert result.output == {"answer": 42, "items": [1, 2, 3], "node": "ok"}
        assert (result.exit_code, result.failure_reason, result.error) == (None, "", "")
        assert "computing the answer" in [r.get("msg") for r in world.records("ok")]
        self._check_recorded(world, "ok", result)

    def test_failure_reports_the_exit_code(
        self, world: ExecutorWorld, executor_factory: Any, context: ExecutorContext
    ) -> None:
        result = self.attempt(world, executor_factory, context, "fail")
        assert result.outcome == "failed"
        assert result.exit_code == 7
        assert result.error.startswith("fail: ") and "7" in result.error
        assert result.output is None
        lines = [r.get("msg") for r in world.records("fail")
                 if r.get("event") == LOG_EXEC_LINE]
        assert lines == ["before-failure"]
        self._check_recorded(world, "fail", result)

    def test_output_lines_keep_their_order(
        self, world: ExecutorWorld, executor_factory: Any, context: ExecutorContext
    ) -> None:
        result = self.attempt(world, executor_factory, context, "order")
        assert result.outcome == "success", result
        lines = [r.get("msg") for r in world.records("order")
                 if r.get("event") == LOG_EXEC_LINE]
        assert lines == [str(i) for i in range(1, 301)]

    def test_the_attempt_environment_reaches_commands(
        self, world: ExecutorWorld, executor_factory: Any, context: ExecutorContext
    ) -> None:
        result = self.attempt(world, executor_factory, context, "env",
                              env={"SUITE_VALUE": "from-the-attempt"})
        assert result.outcome == "success", result
        lines = [r.get("msg") for r in world.records("env")
                 if r.get("event") == LOG_EXEC_LINE]
        assert lines == ["suite env is from-the-attempt"]

    def test_secrets_are_masked_in_logs_and_output(
        self, world: ExecutorWorld, executor_factory: Any, context: ExecutorContext
    ) -> None:
        result = self.attempt(world, executor_factory, context, "secret")
        assert result.outcome == "success", result
        assert result.output == {"token": "***"}
        text = world.log_text("secret")
        assert SECRET not in text
        msgs = [r.get("msg") for r in world.records("secret")]
        assert "the token is ***" in msgs and "token-from-shell ***" in msgs
        for payload in world.attempt_events("secret"):
            assert SECRET not in json.dumps(payload)

    def test_timeout_fails_the_attempt_and_kills_its_processes(
        self, world: ExecutorWorld, executor_factory: Any, context: ExecutorContext
    ) -> None:
        result = self.attempt(world, executor_factory, context, "slow", timeout_s=1.0)
        assert result.outcome == "failed"
        assert result.failure_reason == "timeout"
        _wait_until(lambda: not world.processes_left(), 10.0, "processes left after the timeout")

    def test_cancel_stops_the_attempt_and_leaves_no_process(
        self, world: ExecutorWorld, executor_factory: Any, context: ExecutorContext
    ) -> None:
        async def go() -> None:
            world.begin()
            executor = executor_factory(context)
            task = asyncio.ensure_future(executor.run_attempt(world.attempt("slow")))
            try:
                deadline = time.monotonic() + 60
                while not _pids(world.marker) and time.monotonic() < deadline:
                    assert not task.done(), task.result()
                    await asyncio.sleep(0.05)
                assert _pids(world.marker), "the slow job never started"
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            finally:
                await executor.close()

        asyncio.run(go())
        _wait_until(lambda: not world.processes_left(), 10.0, "processes left after cancel")
        assert world.processes_left() == []

    def _check_recorded(self, world: ExecutorWorld, node_id: str, result: AttemptResult) -> None:
        """An executor that says it recorded the attempt did, with the same outcome."""
        found = world.attempt_events(node_id)
        if result.recorded:
            assert [p["outcome"] for p in found] == [result.outcome]
        else:
            assert found == []


def _pids(marker: Path) -> list[int]:
    try:
        return [int(x) for x in marker.read_text().split()]
    except (OSError, ValueError):
        return []


def _wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(what)

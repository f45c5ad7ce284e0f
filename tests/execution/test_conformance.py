"""The built-in executors pass the executor conformance suite."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sparkwing.execution.contracts import Executor, ExecutorContext
from sparkwing.execution.local import LocalExecutor
from sparkwing.execution.process import ProcessExecutor
from sparkwing.testing.suites.executors import ExecutorSuite


class TestLocalExecutor(ExecutorSuite):
    __test__ = True

    @pytest.fixture
    def executor_factory(self) -> Callable[[ExecutorContext], Executor]:
        return lambda context: LocalExecutor(context.workers)


class TestProcessExecutor(ExecutorSuite):
    __test__ = True

    @pytest.fixture
    def executor_factory(self) -> Callable[[ExecutorContext], Executor]:
        return lambda context: ProcessExecutor.from_config({"grace_s": 3}, context)

"""The k8s executor, against the fake cluster, passes the executor conformance suite."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sparkwing.execution.contracts import Executor, ExecutorContext
from sparkwing.testing.suites.executors import ExecutorSuite
from sparkwing_k8s.executor import K8sExecutor
from sparkwing_k8s.testing import FakeKubernetes


class TestK8sExecutor(ExecutorSuite):
    __test__ = True

    @pytest.fixture
    def cluster(self, tmp_path: Path, sparkwing_home: Path) -> Iterator[Path]:
        """A fake cluster whose "image" is the suite's project and this environment."""
        with FakeKubernetes(image_root=tmp_path / "project", image_env=dict(os.environ)) as fake:
            yield fake.write_kubeconfig(tmp_path / "kubeconfig")

    @pytest.fixture
    def executor_factory(self, cluster: Path) -> Callable[[ExecutorContext], Executor]:
        config = {"kubeconfig": str(cluster), "termination_grace_s": 3,
                  "command": [sys.executable, "-m", "sparkwing_cli.main"]}
        return lambda context: K8sExecutor.from_config(config, context)

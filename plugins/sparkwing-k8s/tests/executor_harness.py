"""What the executor tests share: a real job Context over a real log store, a real state store."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkwing.execution.contracts import Attempt, AttemptResult, ExecutorContext
from sparkwing.runtime.context import Context, RunContext
from sparkwing.runtime.nodelog import NodeLogger
from sparkwing.runtime.secrets import Masker, SecretSource
from sparkwing.storage.fs_logs import FilesystemLogStore
from sparkwing.storage.records import Run
from sparkwing_k8s.executor import K8sExecutor
from sparkwing_k8s.results import ResultReader
from sparkwing_k8s.testing import FakeKubernetes
from sparkwing_sqlite.store import SqliteStateStore

RUN_ID = "run-20260101-000000-beef"


@dataclass
class Harness:
    """A run recorded in a real state store, a real log store, and the executor under test."""

    fake: FakeKubernetes
    kubeconfig: Path
    home: Path
    state: SqliteStateStore = field(init=False)
    logs: FilesystemLogStore = field(init=False)

    def __post_init__(self) -> None:
        self.state = SqliteStateStore(self.home / "state.db")
        self.logs = FilesystemLogStore(self.home / "logs")
        self.state.create_run(Run(id=RUN_ID, pipeline="demo", status="running",
                                  created_at=time.time(), profile="laptop"))

    def executor(self, **config: Any) -> K8sExecutor:
        """The ``k8s`` executor as the plugin builds it (probing the fake's ``/version``)."""
        block = {"kubeconfig": str(self.kubeconfig), **config}
        return K8sExecutor.from_config(block, ExecutorContext(home=self.home, profile="laptop"),
                                       results=ResultReader(self.state))

    def attempt(self, node_id: str = "build", *, attempt: int = 1,
                settings: Mapping[str, Any] | None = None, **kw: Any) -> Attempt:
        """An attempt of *node_id* whose Context logs into the log store."""
        masker = Masker()
        for value in kw.get("secret_values", []):
            masker.add(value)
        log = NodeLogger(self.logs.writer(RUN_ID, node_id), node_id, masker)
        run_ctx = RunContext(run_id=RUN_ID, pipeline="demo", workdir=self.home)
        ctx = Context(run_ctx, node_id, None, log, masker=masker, secrets=SecretSource(),
                      outputs={})
        return Attempt(run_id=RUN_ID, node_id=node_id, attempt=attempt, pipeline="demo",
                       workdir=self.home, profile="laptop", settings=dict(settings or {}),
                       context=ctx, **kw)

    def records(self, node_id: str = "build") -> list[dict[str, Any]]:
        """The node's log records so far."""
        return [json.loads(r) for r in self.logs.read(RUN_ID, node_id).lines]

    def messages(self, node_id: str = "build") -> list[str]:
        """The ``msg`` of each record."""
        return [str(r.get("msg", "")) for r in self.records(node_id)]

    def jobs(self) -> list[dict[str, Any]]:
        """Every Job the fake cluster was asked to create (as created), in order."""
        return self.fake.run(lambda c: [ch.obj for ch in c.store.history
                                        if ch.resource == "jobs" and ch.type == "ADDED"])

    def live(self, resource: str) -> list[dict[str, Any]]:
        """The objects of *resource* that exist now."""
        return self.fake.run(lambda c: c.store.list(resource))


def run(executor: K8sExecutor, attempt: Attempt) -> AttemptResult:
    """Run one attempt to its end, then close the executor."""
    async def go() -> AttemptResult:
        try:
            return await executor.run_attempt(attempt)
        finally:
            await executor.close()

    return asyncio.run(go())


def shell(script: str) -> dict[str, Any]:
    """Settings that make the pod run *script* (``node exec``'s arguments become ``$@``)."""
    return {"command": ["sh", "-c", script, "sh"]}

"""The run's graph state: its nodes, their live states, outputs and completion events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..dsl.nodes import JobNode
from ..dsl.plan import Plan
from ..runtime.context import Context
from ..storage.records import OK_OUTCOMES


class NodeState:
    """Live state of one node during a run (what reporters see).

    A plain class rather than a dataclass: it is built once per node and
    the run's start-up time counts.
    """

    __slots__ = ("attempt", "attempts", "detail", "error", "excerpt", "finished", "groups", "id",
                 "kind", "outcome", "output_tail", "started", "status")

    def __init__(self, id: str, kind: str = "job", *, attempts: int = 1,
                 groups: list[str] | None = None) -> None:
        self.id = id
        self.kind = kind
        self.status = "pending"
        self.outcome = ""
        self.error = ""
        self.started: float | None = None
        self.finished: float | None = None
        self.attempt = 0
        self.attempts = attempts
        self.detail = ""
        self.excerpt = ""
        self.groups = list(groups or [])
        #: While the job runs: its log's last output lines, newest last (the live view
        #: shows the newest); ``None`` otherwise.
        self.output_tail: Sequence[str] | None = None

    def __repr__(self) -> str:
        return f"NodeState({self.id!r}, status={self.status!r}, outcome={self.outcome!r})"

    @property
    def duration(self) -> float | None:
        """Seconds the node ran (so far)."""
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started


class RunGraph:
    """Every node of a live run, what each produced, and who waits for whom.

    Nodes added while the run is live (dynamic fan-out members, spawned
    children) join through :meth:`add`. ``cancel_reason`` is set once the
    run is being cancelled.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.nodes: dict[str, JobNode] = {}
        self.states: dict[str, NodeState] = {}
        self.outputs: dict[str, Any] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.contexts: dict[str, Context] = {}
        #: Fan-out source -> the ids of the members it created (empty when expansion failed).
        self.dynamic_children: dict[str, list[str]] = {}
        #: Fan-out source -> set once its members exist (or its expansion failed).
        self.expanded: dict[str, asyncio.Event] = {}
        self.expanded_errors: dict[str, str] = {}
        #: Nodes cancelled because a ``cancel_others`` group evicted them.
        self.superseded: set[str] = set()
        self.cancel_reason = ""
        self.add(plan.nodes())

    def add(self, nodes: Iterable[JobNode]) -> list[NodeState]:
        """Register *nodes* (pending) and return their states."""
        out = []
        for n in nodes:
            self.nodes[n.id] = n
            st = NodeState(n.id, n.kind, attempts=n.retries + 1, groups=n.groups)
            self.states[n.id] = st
            self.done[n.id] = asyncio.Event()
            out.append(st)
        return out

    def blocked_by(self, node: JobNode) -> str:
        """The dependency (or fan-out member) whose outcome keeps *node* from running, or ``""``."""
        for dep in node.deps:
            st = self.states[dep]
            if st.outcome not in OK_OUTCOMES and not self.nodes[dep].continues_on_error:
                return dep
            siblings = self.dynamic_children.get(dep, [])
            for child in ([] if node.id in siblings else siblings):
                cst = self.states[child]
                if cst.outcome not in OK_OUTCOMES and not self.nodes[child].continues_on_error:
                    return child
        return ""

    async def wait_for_deps(self, node: JobNode) -> None:
        """Wait until every dependency (and every member of a dependency's fan-out) is done."""
        for dep in node.deps:
            await self.done[dep].wait()
            if dep in self.expanded and node.id not in self.dynamic_children.get(dep, ()):
                await self.expanded[dep].wait()
                for child in self.dynamic_children.get(dep, []):
                    await self.done[child].wait()

    def failed_required(self) -> list[str]:
        """Nodes whose outcome fails the run (required, not recovery jobs, not OK)."""
        return [
            nid for nid, st in self.states.items()
            if self.nodes[nid].kind != "recovery"
            and not self.nodes[nid].is_optional
            and st.outcome not in OK_OUTCOMES
        ]

"""Jobs created while a run is live: dynamic fan-out members and spawned children.

Mixed into :class:`~sparkwing.orchestrator.engine.Orchestrator`; uses its state and stores.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..dsl.nodes import JobNode
from ..runtime.context import Context
from ..storage.records import OK_OUTCOMES, Node
from .core import EngineCore


class ExpansionMixin(EngineCore):
    """Jobs created while a run is live: dynamic fan-out members and spawned children."""

    def _expand(self, source: JobNode) -> None:
        from ..dsl.nodes import as_body

        assert self.run is not None
        fan = source.dynamic
        items = self.outputs.get(source.id)
        children: list[JobNode] = []
        try:
            if not isinstance(items, list):
                raise TypeError(f"output of {source.id} is {type(items).__name__}, not a list")
            for item in items:
                made = fan.fn(item)
                if not (isinstance(made, tuple) and len(made) == 2):
                    raise TypeError("fn(item) must return (node_id, body)")
                cid = str(made[0])
                validate = JobNode(self.plan, cid, as_body(cid, made[1]))
                if cid in self.nodes:
                    raise ValueError(f"duplicate node id {cid!r}")
                validate.deps = [source.id]
                validate.groups = [fan.name]
                children.append(validate)
        except Exception as exc:
            self.reporter.warning(f"dynamic fan-out {fan.name} failed: {exc}")
            for dep in fan.dependents:
                self.states[dep.id].error = f"expansion failed: {exc}"
            self.state.append_event(self.run.id, "expansion_failed", {"error": str(exc)},
                                    node_id=source.id)
            self.dynamic_children[source.id] = []
            self.expanded_errors[source.id] = str(exc)
            return
        self.dynamic_children[source.id] = [c.id for c in children]
        self._add_nodes(children)
        self.state.append_event(self.run.id, "fan_out_expanded",
                                {"group": fan.name, "nodes": [c.id for c in children]},
                                node_id=source.id)

    def _add_nodes(self, nodes: list[JobNode], *, start: bool = True) -> None:
        from .engine import NodeState

        assert self.run is not None
        self.state.create_nodes(self.run.id, [
            Node(self.run.id, n.id, kind=n.kind, deps=list(n.deps), groups=list(n.groups))
            for n in nodes
        ])
        for n in nodes:
            self.nodes[n.id] = n
            self.states[n.id] = NodeState(n.id, n.kind, attempts=n.retries + 1,
                                          groups=list(n.groups))
            self.done[n.id] = asyncio.Event()
            self.reporter.node_changed(self.states[n.id])
        if start:
            for n in nodes:
                self.tasks[n.id] = asyncio.ensure_future(self._node(n.id))

    async def spawn(self, parent: Context, child_id: str, body: Any) -> Any:
        """Run *body* as a new job ``<parent>/<child_id>`` now; return its output or raise."""
        from ..dsl.nodes import as_body
        from ..errors import SparkwingError

        nid = f"{parent.node_id}/{child_id}"
        node = JobNode(self.plan, nid, as_body(nid, body))
        node.groups = [parent.node_id]
        self._add_nodes([node], start=False)
        task = asyncio.ensure_future(self._spawned(node))
        self.tasks[nid] = task
        await task
        st = self.states[nid]
        if st.outcome not in OK_OUTCOMES:
            raise SparkwingError(f"spawned job {nid} {st.outcome}: {st.error}")
        return self.outputs.get(nid)

    async def _spawned(self, node: JobNode) -> None:
        try:
            await self._execute(node, slot=False)  # runs in its parent's worker slot
        except asyncio.CancelledError:
            if self.states[node.id].status != "done":
                self._settle(node.id, "cancelled", self.cancel_reason or "ctx-cancelled")
        finally:
            self.done[node.id].set()

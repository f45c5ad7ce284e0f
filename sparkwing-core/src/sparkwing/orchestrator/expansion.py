"""Jobs created while a run is live: dynamic fan-out members and spawned children."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from .. import events
from ..dsl.nodes import JobNode, as_body
from .graph import RunGraph
from .journal import RunJournal


def fan_out_members(source: JobNode, items: Any, taken: Container[str]) -> list[JobNode]:
    """Build the members of *source*'s dynamic fan-out from its output *items*.

    Raises ``TypeError``/``ValueError`` for an output that is not a list, an
    ``fn(item)`` that does not return ``(node_id, body)``, or an id in *taken*.
    ``sparkwing node exec`` calls this too, to find a member from the stored output.
    """
    fan = source.dynamic
    if not isinstance(items, list):
        raise TypeError(f"output of {source.id} is {type(items).__name__}, not a list")
    children: list[JobNode] = []
    for item in items:
        made = fan.fn(item)
        if not (isinstance(made, tuple) and len(made) == 2):
            raise TypeError("fn(item) must return (node_id, body)")
        cid = str(made[0])
        child = JobNode(source.plan, cid, as_body(cid, made[1]))
        if cid in taken or any(c.id == cid for c in children):
            raise ValueError(f"duplicate node id {cid!r}")
        child.deps = [source.id]
        child.groups = [fan.name]
        children.append(child)
    return children


class Expander:
    """Adds nodes to a live run: fan-out members once their source succeeded, spawned children.

    Built from the run's graph and the journal the new nodes are recorded in.
    """

    def __init__(self, graph: RunGraph, journal: RunJournal) -> None:
        self.graph = graph
        self.journal = journal

    def expand(self, source: JobNode) -> list[JobNode]:
        """Create the members of *source*'s fan-out (none when expansion fails: dependents cancel)."""
        fan = source.dynamic
        graph = self.graph
        try:
            children = fan_out_members(source, graph.outputs.get(source.id), graph.nodes)
        except Exception as exc:
            self.journal.warning(f"dynamic fan-out {fan.name} failed: {exc}")
            for dep in fan.dependents:
                graph.states[dep.id].error = f"expansion failed: {exc}"
            self.journal.event(events.EXPANSION_FAILED, {"error": str(exc)}, node_id=source.id)
            graph.dynamic_children[source.id] = []
            graph.expanded_errors[source.id] = str(exc)
            return []
        graph.dynamic_children[source.id] = [c.id for c in children]
        self.add(children)
        self.journal.event(events.FAN_OUT_EXPANDED,
                           {"group": fan.name, "nodes": [c.id for c in children]},
                           node_id=source.id)
        return children

    def spawned(self, parent_id: str, child_id: str, body: Any) -> JobNode:
        """Create the node ``<parent>/<child_id>`` running *body* (started by the caller)."""
        nid = f"{parent_id}/{child_id}"
        node = JobNode(self.graph.plan, nid, as_body(nid, body))
        node.groups = [parent_id]
        self.add([node])
        return node

    def add(self, nodes: list[JobNode]) -> None:
        """Record *nodes* and add them to the graph (pending)."""
        self.journal.add_nodes(nodes)
        for st in self.graph.add(nodes):
            self.journal.changed(st)

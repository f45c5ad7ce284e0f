"""The plan: the outer DAG of jobs a pipeline registers, validated before anything runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import PlanError
from ..ids import validate_node_id
from .nodes import Approval, Group, Job, JobNode, _duration, as_body
from .work import Work, topo_order

ON_EXPIRY = ("fail", "deny", "approve")


class Plan:
    """The jobs of one run. A pipeline function receives it and registers nodes on it.

    Plan construction does no I/O: bodies, predicates and key functions run
    later, when the orchestrator dispatches the job.
    """

    def __init__(self, pipeline: str = "") -> None:
        self.pipeline = pipeline
        self._nodes: dict[str, JobNode] = {}
        self.groups: dict[str, Group] = {}
        self.run_concurrency: list[tuple[Any, int]] = []
        self.dynamic_fan_outs: list[Any] = []
        self.finalized = False

    # -- registering ---------------------------------------------------------------
    def _add(self, node_id: str, body: Any, kind: str = "job") -> JobNode:
        validate_node_id(node_id)
        if node_id in self._nodes:
            raise PlanError(f'duplicate node id "{node_id}" in pipeline "{self.pipeline}"')
        node = JobNode(self, node_id, body, kind)
        self._nodes[node_id] = node
        return node

    def job(self, node_id: str, body: Any) -> JobNode:
        """Add a job running *body*: a function ``fn(ctx)``, ``sw.sh("cmd")``, or a ``sw.Job``."""
        return self._add(node_id, as_body(node_id, body))

    def group(self, name: str, *nodes: JobNode | Group) -> Group:
        """Group nodes under *name* (shown together; usable as a ``needs`` target)."""
        members: list[JobNode] = []
        for n in nodes:
            members.extend(n.members if isinstance(n, Group) else [n])
        group = Group(name, members)
        if name:
            self.groups[name] = group
        return group

    def fan_out(
        self, name: str, items: Iterable[Any], fn: Callable[[Any], Any]
    ) -> Group:
        """Add one job per item: ``fn(item)`` returns ``(node_id, body)`` or a node it added."""
        members: list[JobNode] = []
        for item in items:
            made = fn(item)
            if isinstance(made, JobNode):
                members.append(made)
            elif isinstance(made, tuple) and len(made) == 2:
                members.append(self.job(str(made[0]), made[1]))
            else:
                raise PlanError(
                    f'fan_out "{name}": fn(item) must return (node_id, body) or a job, '
                    f"got {type(made).__name__}"
                )
        return self.group(name, *members)

    def approval(
        self, node_id: str, *, message: str = "", timeout: float | str = 0,
        on_expiry: str = "fail",
    ) -> JobNode:
        """Add an approval gate: dependents wait until someone approves (or it expires)."""
        if on_expiry not in ON_EXPIRY:
            raise PlanError(
                f'approval "{node_id}": on_expiry must be one of {", ".join(ON_EXPIRY)}, '
                f"got {on_expiry!r}"
            )
        node = self._add(node_id, None, kind="approval")
        node.approval = Approval(message, _duration(timeout, node_id, "approval timeout"), on_expiry)
        return node

    def concurrency(self, group: Any, *, cost: int = 1) -> Plan:
        """Hold a concurrency group for the whole run (acquired before any job starts)."""
        self.run_concurrency.append((group, cost))
        return self

    def fan_out_dynamic(
        self, name: str, source: JobNode, fn: Callable[[Any], Any]
    ) -> DynamicFanOut:
        """Add one job per element of *source*'s list output, created once *source* finishes.

        ``fn(item)`` returns ``(node_id, body)``; each child needs *source*.
        """
        fan = DynamicFanOut(name, source, fn)
        source.dynamic = fan
        self.dynamic_fan_outs.append(fan)
        return fan

    # -- reading --------------------------------------------------------------------------
    def nodes(self) -> list[JobNode]:
        """Every node in registration order."""
        return list(self._nodes.values())

    def node(self, node_id: str) -> JobNode:
        """Return one node; raises :class:`PlanError` for an unknown id."""
        try:
            return self._nodes[node_id]
        except KeyError:
            raise PlanError(f'no node "{node_id}" in pipeline "{self.pipeline}"') from None

    def selected(self, glob: str) -> set[str]:
        """Jobs ``--sw-only GLOB`` runs: the matches, what they need, and their recovery jobs."""
        import fnmatch

        keep = {n for n in self._nodes if fnmatch.fnmatchcase(n, glob)}
        stack = list(keep)
        while stack:
            for dep in self._nodes[stack.pop()].deps:
                if dep not in keep:
                    keep.add(dep)
                    stack.append(dep)
        for n in list(keep):
            rec = self._nodes[n].recovery
            if rec is not None:
                keep.add(rec.id)
        return keep

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    # -- finalising ------------------------------------------------------------------------
    def finalize(self) -> Plan:
        """Materialise every job's steps and validate the graph (unknown deps, cycles)."""
        if self.finalized:
            return self
        for node in self._nodes.values():
            node.deps.extend(d for d in node.optional_deps if d in self._nodes and d not in node.deps)
            for dep in node.deps:
                if dep not in self._nodes:
                    raise PlanError(f'job "{node.id}" needs unknown job "{dep}"')
                if dep == node.id:
                    raise PlanError(f'job "{node.id}" needs itself')
            if isinstance(node.body, Job):
                work = Work(node.id)
                result = node.body.work(work)
                if result is not None and getattr(result, "work", None) is not work:
                    raise PlanError(
                        f'job "{node.id}": work() must return one of its own steps or None'
                    )
                work.result = result
                work.validate()
                node.work = work
        if topo_order({n.id: n.deps for n in self._nodes.values()}) is None:
            raise PlanError(f'pipeline "{self.pipeline}": cycle detected among jobs')
        self.finalized = True
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of the plan (jobs, steps, edges, modifiers)."""
        return {"pipeline": self.pipeline, "nodes": [_node_dict(n) for n in self._nodes.values()]}


class DynamicFanOut:
    """A fan-out whose members are created at run time from a source job's list output."""

    def __init__(self, name: str, source: JobNode, fn: Callable[[Any], Any]) -> None:
        self.name = name
        self.source = source
        self.fn = fn
        self.dependents: list[JobNode] = []

    def needed_by(self, *nodes: JobNode) -> DynamicFanOut:
        """Make *nodes* wait for every member of the fan-out (they also need the source)."""
        for n in nodes:
            n.needs(self.source)
            self.dependents.append(n)
        return self


def _node_dict(n: JobNode) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": n.id,
        "kind": n.kind,
        "deps": list(n.deps),
        "groups": list(n.groups),
        "describe": n.describe(),
    }
    mods: dict[str, Any] = {}
    if n.retries:
        mods["retry"] = {"attempts": n.retries, "backoff_s": n.backoff_s}
    if n.timeout_s:
        mods["timeout_s"] = n.timeout_s
    if n.no_progress_s:
        mods["no_progress_timeout_s"] = n.no_progress_s
    if n.skip_preds:
        mods["skip_if"] = len(n.skip_preds)
    if n.continues_on_error:
        mods["continue_on_error"] = True
    if n.is_optional:
        mods["optional"] = True
    if n.env_vars:
        mods["env"] = sorted(n.env_vars)
    if n.recovery is not None:
        mods["on_failure"] = n.recovery.id
    if n.recovery_of:
        mods["recovery_of"] = n.recovery_of
    if n.memo is not None:
        mods["memoize"] = {"ttl_s": n.memo.ttl_s}
    if n.verifiers:
        mods["verify"] = len(n.verifiers)
    if n.concurrency_groups:
        mods["concurrency"] = [getattr(g, "name", str(g)) for g, _ in n.concurrency_groups]
    if n.approval is not None:
        mods["approval"] = {
            "message": n.approval.message,
            "timeout_s": n.approval.timeout_s,
            "on_expiry": n.approval.on_expiry,
        }
    if n.dynamic is not None:
        mods["dynamic_fan_out"] = n.dynamic.name
    if n.executor_name:
        mods["executor"] = n.executor_name
    if mods:
        d["modifiers"] = mods
    if n.work is not None:
        d["steps"] = [
            {
                "id": s.id,
                "deps": list(s.deps),
                "groups": list(s.groups),
                **({"finally": True} if s.is_finally else {}),
                **({"risks": list(s.risks)} if s.risks else {}),
                **({"optional": True} if s.is_optional else {}),
            }
            for s in n.work.steps.values()
        ]
        if n.work.result is not None:
            d["result_step"] = n.work.result.id
    return d

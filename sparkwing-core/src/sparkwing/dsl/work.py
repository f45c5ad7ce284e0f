"""The inner DAG of a job: steps that share the job's process and workspace."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import PlanError
from ..ids import validate_node_id
from .refs import Ref


class StepNode:
    """One step of a job's :class:`Work`. Modifiers chain and return the step."""

    def __init__(self, work: Work, step_id: str, fn: Callable[..., Any]) -> None:
        self.work = work
        self.id = step_id
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        self.deps: list[str] = []
        self.skip_preds: list[Callable[..., Any]] = []
        self.continues_on_error = False
        self.is_optional = False
        self.is_finally = False
        self.dry_run_fn: Callable[..., Any] | None = None
        self.safe_in_dry_run = False
        self.risks: list[str] = []
        self.groups: list[str] = []

    def needs(self, *deps: StepNode | StepGroup | str) -> StepNode:
        """Run after these steps finish successfully."""
        for dep in _step_ids(deps, self.id):
            if dep not in self.deps:
                self.deps.append(dep)
        return self

    def skip_if(self, predicate: Callable[..., Any]) -> StepNode:
        """Skip the step when ``predicate(ctx)`` is true (predicates OR together)."""
        self.skip_preds.append(predicate)
        return self

    def continue_on_error(self) -> StepNode:
        """A failure neither cancels sibling steps nor blocks dependents (the job still fails)."""
        self.continues_on_error = True
        return self

    def optional(self) -> StepNode:
        """A failure is recorded but does not fail the job."""
        self.is_optional = True
        self.continues_on_error = True
        return self

    def finally_(self) -> StepNode:
        """A cleanup step: runs once its dependencies end, whatever their outcome."""
        self.is_finally = True
        return self

    def dry_run(self, fn: Callable[..., Any]) -> StepNode:
        """Run ``fn(ctx)`` instead of the step under ``--sw-dry-run``."""
        self.dry_run_fn = fn
        return self

    def safe_without_dry_run(self) -> StepNode:
        """Under ``--sw-dry-run``, run the step as it is (it changes nothing)."""
        self.safe_in_dry_run = True
        return self

    def risk(self, *labels: str) -> StepNode:
        """Label the step's blast radius; a run needs ``--sw-allow`` for every label."""
        for label in labels:
            if label not in self.risks:
                self.risks.append(label)
        return self

    @property
    def output(self) -> Ref[Any]:
        """A :class:`Ref` to this step's return value (readable by later steps)."""
        return Ref(self.work.node_id, self.id)

    def __repr__(self) -> str:
        return f"StepNode({self.id!r})"


class StepGroup:
    """A named set of steps: a ``needs`` target and a modifier fan-out."""

    def __init__(self, name: str, members: Iterable[StepNode]) -> None:
        self.name = name
        self.members = list(members)
        for m in self.members:
            m.groups.append(name)

    def needs(self, *deps: StepNode | StepGroup | str) -> StepGroup:
        """Every member needs *deps*."""
        for m in self.members:
            m.needs(*deps)
        return self

    def skip_if(self, predicate: Callable[..., Any]) -> StepGroup:
        """Every member gets the predicate."""
        for m in self.members:
            m.skip_if(predicate)
        return self


class Work:
    """The steps of one job, declared by :meth:`sparkwing.Job.work`."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.steps: dict[str, StepNode] = {}
        self.result: StepNode | None = None
        self.fail_fast = True

    def step(self, step_id: str, fn: Callable[..., Any]) -> StepNode:
        """Add a step running ``fn(ctx)`` (sync or async); its return value is its output."""
        validate_node_id(step_id, "step id")
        if "/" in step_id:
            raise PlanError(f'job "{self.node_id}": step id {step_id!r} must not contain "/"')
        if step_id in self.steps:
            raise PlanError(f'job "{self.node_id}": duplicate step id "{step_id}"')
        if not callable(fn):
            raise PlanError(
                f'job "{self.node_id}": step "{step_id}" needs a function fn(ctx), '
                f"got {type(fn).__name__}"
            )
        node = StepNode(self, step_id, fn)
        self.steps[step_id] = node
        return node

    def group(self, name: str, *steps: StepNode) -> StepGroup:
        """Group steps for display and as a ``needs`` target."""
        return StepGroup(name, steps)

    def collect_all(self) -> Work:
        """Let independent steps finish after a failure instead of cancelling them (fail-fast)."""
        self.fail_fast = False
        return self

    def validate(self) -> None:
        """Check step dependencies exist and form no cycle."""
        for s in self.steps.values():
            for d in s.deps:
                if d not in self.steps:
                    raise PlanError(
                        f'job "{self.node_id}": step "{s.id}" needs unknown step "{d}"'
                    )
        order = topo_order({s.id: s.deps for s in self.steps.values()})
        if order is None:
            raise PlanError(f'job "{self.node_id}": cycle detected among steps')


def topo_order(deps: dict[str, list[str]]) -> list[str] | None:
    """Return a topological order of *deps* (id -> dependency ids), or ``None`` on a cycle."""
    indeg = {k: 0 for k in deps}
    users: dict[str, list[str]] = {k: [] for k in deps}
    for k, ds in deps.items():
        for d in ds:
            if d in indeg:
                indeg[k] += 1
                users[d].append(k)
    ready = [k for k, n in indeg.items() if n == 0]
    out: list[str] = []
    while ready:
        k = ready.pop()
        out.append(k)
        for u in users[k]:
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    return out if len(out) == len(deps) else None


def _step_ids(deps: Iterable[Any], owner: str) -> list[str]:
    out: list[str] = []
    for d in deps:
        if isinstance(d, StepNode):
            out.append(d.id)
        elif isinstance(d, StepGroup):
            out.extend(m.id for m in d.members)
        elif isinstance(d, str):
            out.append(d)
        else:
            raise PlanError(f'step "{owner}": needs() takes steps, step groups or ids')
    return out

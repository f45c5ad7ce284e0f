"""sparkwing: CI/CD pipelines as Python code.

The authoring API is re-exported here (``import sparkwing as sw``). Names
are resolved lazily so that importing :mod:`sparkwing` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .plugins import hookimpl

_LAZY: dict[str, str] = {
    "Plan": "sparkwing.dsl.plan:Plan",
    "JobNode": "sparkwing.dsl.nodes:JobNode",
    "Group": "sparkwing.dsl.nodes:Group",
    "Job": "sparkwing.dsl.nodes:Job",
    "Ref": "sparkwing.dsl.nodes:Ref",
    "sh": "sparkwing.dsl.nodes:sh",
    "Work": "sparkwing.dsl.work:Work",
    "StepNode": "sparkwing.dsl.work:StepNode",
    "arg": "sparkwing.dsl.inputs:arg",
    "NoInputs": "sparkwing.dsl.inputs:NoInputs",
    "Context": "sparkwing.runtime.context:Context",
    "RunContext": "sparkwing.runtime.context:RunContext",
    "CommandError": "sparkwing.runtime.command:CommandError",
    "CommandResult": "sparkwing.runtime.command:CommandResult",
    "SparkwingError": "sparkwing.errors:SparkwingError",
    "PlanError": "sparkwing.errors:PlanError",
}

__all__ = [
    "CommandError",
    "CommandResult",
    "Context",
    "Group",
    "Job",
    "JobNode",
    "NoInputs",
    "Plan",
    "PlanError",
    "Ref",
    "RunContext",
    "SparkwingError",
    "StepNode",
    "Work",
    "__version__",
    "arg",
    "hookimpl",
    "sh",
]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'sparkwing' has no attribute {name!r}")
    import importlib

    modname, attr = target.split(":")
    value = getattr(importlib.import_module(modname), attr)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from .dsl.inputs import NoInputs, arg
    from .dsl.nodes import Group, Job, JobNode, Ref, sh
    from .dsl.plan import Plan
    from .dsl.work import StepNode, Work
    from .errors import PlanError, SparkwingError
    from .runtime.command import CommandError, CommandResult
    from .runtime.context import Context, RunContext

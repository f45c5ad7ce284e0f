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
    "Ref": "sparkwing.dsl.refs:Ref",
    "sh": "sparkwing.dsl.nodes:sh",
    "Work": "sparkwing.dsl.work:Work",
    "StepNode": "sparkwing.dsl.work:StepNode",
    "arg": "sparkwing.dsl.inputs:arg",
    "NoInputs": "sparkwing.dsl.inputs:NoInputs",
    "Context": "sparkwing.runtime.context:Context",
    "RunContext": "sparkwing.runtime.context:RunContext",
    "CommandError": "sparkwing.runtime.processes:CommandError",
    "CommandResult": "sparkwing.runtime.processes:CommandResult",
    "SparkwingError": "sparkwing.errors:SparkwingError",
    "PlanError": "sparkwing.errors:PlanError",
    "key": "sparkwing.cachekeys:key",
    "hash_files": "sparkwing.cachekeys:hash_files",
    "hash_env": "sparkwing.cachekeys:hash_env",
    "NO_CACHE": "sparkwing.cachekeys:NO_CACHE",
    "concurrency_group": "sparkwing.dsl.concurrency:concurrency_group",
    "ConcurrencyGroup": "sparkwing.dsl.concurrency:ConcurrencyGroup",
}

__all__ = [
    "NO_CACHE",
    "CommandError",
    "CommandResult",
    "ConcurrencyGroup",
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
    "concurrency_group",
    "hash_env",
    "hash_files",
    "hookimpl",
    "key",
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
    from .cachekeys import NO_CACHE, hash_env, hash_files, key
    from .dsl.concurrency import ConcurrencyGroup, concurrency_group
    from .dsl.inputs import NoInputs, arg
    from .dsl.nodes import Group, Job, JobNode, sh
    from .dsl.plan import Plan
    from .dsl.refs import Ref
    from .dsl.work import StepNode, Work
    from .errors import PlanError, SparkwingError
    from .runtime.context import Context, RunContext
    from .runtime.processes import CommandError, CommandResult

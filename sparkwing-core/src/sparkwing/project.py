"""Importing a project's pipeline functions from ``.sparkwing/`` and building their plans."""

from __future__ import annotations

import importlib
import inspect
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .dsl.inputs import NoInputs
from .dsl.plan import Plan
from .dsl.planning import planning
from .errors import ConfigError, PlanError, SparkwingError

if TYPE_CHECKING:
    from .config.project import PipelineEntry, ProjectConfig
    from .runtime.context import RunContext


@dataclass
class PipelineDef:
    """A pipeline's plan function and the dataclass of its inputs."""

    entry: PipelineEntry
    fn: Callable[..., Any]
    inputs_cls: Any
    arity: int

    def build(self, inputs: Any, run: RunContext) -> Plan:
        """Call the plan function (no I/O allowed) and return the finalized plan."""
        plan = Plan(self.entry.name)
        args: list[Any] = [plan, inputs, run][: self.arity]
        with planning(self.entry.name):
            try:
                result = self.fn(*args)
            except SparkwingError:
                raise
            except Exception as exc:
                raise PlanError(
                    f'building the plan of pipeline "{self.entry.name}" failed: '
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if inspect.isawaitable(result):
                raise PlanError(
                    f'pipeline "{self.entry.name}": the plan function must not be async'
                )
            return plan.finalize()


def load_pipeline(project: ProjectConfig, entry: PipelineEntry) -> PipelineDef:
    """Import *entry*'s module from the project's ``.sparkwing/`` and find its plan function."""
    where = f"{project.shown}:{entry.line}" if entry.line else str(project.file)
    pdir = str(project.dir)
    if pdir not in sys.path:
        sys.path.insert(0, pdir)
    try:
        module = importlib.import_module(entry.module)
    except ModuleNotFoundError as exc:
        if exc.name and entry.module.startswith(exc.name):
            raise ConfigError(
                f'{where}: entrypoint "{entry.entrypoint}": no module {entry.module!r} '
                f"(expected {entry.module_file(project.dir)})"
            ) from None
        raise SparkwingError(
            f'importing pipeline "{entry.name}" ({entry.module}) failed: {exc}'
        ) from exc
    except SparkwingError:
        raise
    except Exception as exc:
        raise SparkwingError(
            f'importing pipeline "{entry.name}" ({entry.module}) failed: '
            f"{type(exc).__name__}: {exc}"
        ) from exc
    fn = getattr(module, entry.function, None)
    if fn is None or not callable(fn):
        raise ConfigError(
            f'{where}: entrypoint "{entry.entrypoint}": {entry.module} has no function '
            f"{entry.function!r}"
        )
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    arity = len(params)
    if not 1 <= arity <= 3:
        raise ConfigError(
            f'{where}: entrypoint "{entry.entrypoint}" must take (plan, inputs, run); '
            f"it takes {arity} parameters"
        )
    inputs_cls: Any = NoInputs
    if arity >= 2:
        try:
            hints = typing.get_type_hints(fn)
        except Exception:
            hints = {}
        hinted = hints.get(params[1].name)
        if hinted is not None and hinted is not type(None) and hinted is not inspect.Parameter.empty:
            inputs_cls = hinted
    return PipelineDef(entry, fn, inputs_cls, arity)

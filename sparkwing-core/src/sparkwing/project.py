"""Importing a project's pipeline functions from ``.sparkwing/`` and building their plans.

Errors in the user's code point at the user's line: when a pipeline module
fails to import (a syntax error included) or its plan function raises, the
one-line error starts with ``FILE:LINE``, the innermost place of the
failure inside the project's ``.sparkwing/`` (for a syntax error, where
Python found it), shown relative to where the command runs.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .dsl.inputs import NoInputs
from .dsl.plan import Plan
from .dsl.planning import planning
from .errors import ConfigError, PipelineImportError, PlanError, SparkwingError
from .slotted import Slotted

if TYPE_CHECKING:
    from .config.project import PipelineEntry, ProjectConfig
    from .runtime.context import RunContext


class PipelineDef(Slotted):
    """A pipeline's plan function and the dataclass of its inputs."""

    __slots__ = ("arity", "entry", "fn", "inputs_cls", "project_dir", "project_root")

    def __init__(
        self,
        entry: PipelineEntry,
        fn: Callable[..., Any],
        inputs_cls: Any,
        arity: int,
        project_dir: Path | None = None,
        project_root: Path | None = None,
    ) -> None:
        self.entry = entry
        self.fn = fn
        self.inputs_cls = inputs_cls
        self.arity = arity
        #: The project's ``.sparkwing/`` directory (where the user's frames are looked for).
        self.project_dir = project_dir
        #: The project's root (paths in errors are shown relative to the cwd inside it).
        self.project_root = project_root

    def build(self, inputs: Any, run: RunContext) -> Plan:
        """Call the plan function (no I/O allowed) and return the finalized plan.

        An exception from the plan function becomes a one-line
        :class:`PlanError` (a :class:`SparkwingError` keeps its class) that
        starts with the user's ``FILE:LINE``.
        """
        plan = Plan(self.entry.name)
        args: list[Any] = [plan, inputs, run][: self.arity]
        with planning(self.entry.name):
            try:
                result = self.fn(*args)
            except SparkwingError as exc:
                where = self._where(exc)
                if not where:
                    raise
                raise type(exc)(f"{where}: {exc}") from exc
            except Exception as exc:
                where = self._where(exc)
                raise PlanError(
                    (f"{where}: " if where else "")
                    + f'building the plan of pipeline "{self.entry.name}" failed: '
                    f"{_describe(exc)}"
                ) from exc
            if inspect.isawaitable(result):
                raise PlanError(
                    f'pipeline "{self.entry.name}": the plan function must not be async'
                )
            return plan.finalize()

    def _where(self, exc: BaseException) -> str:
        if self.project_dir is None:
            return ""
        return user_location(exc, self.project_dir, self.project_root)


def user_location(exc: BaseException, project_dir: Path, root: Path | None = None) -> str:
    """``FILE:LINE`` of the innermost place in *project_dir* where *exc* was raised, or ``""``.

    A :class:`SyntaxError` in a file of *project_dir* names the line Python
    found it on; otherwise the innermost traceback frame whose file lies in
    *project_dir* is named. The file is shown as :func:`display_path` shows
    project files.
    """
    from .config.yamlload import display_path

    base = os.path.realpath(project_dir)
    found: tuple[str, int] | None = None
    for frame, lineno in _walk(exc.__traceback__):
        name = frame.f_code.co_filename
        if _inside(name, base):
            found = (name, lineno)
    if isinstance(exc, SyntaxError) and exc.filename and _inside(exc.filename, base):
        found = (exc.filename, exc.lineno or 0)
    if found is None:
        return ""
    name, lineno = found
    shown = display_path(Path(name), root)
    return f"{shown}:{lineno}" if lineno else shown


def _walk(tb: TracebackType | None) -> list[tuple[Any, int]]:
    out = []
    while tb is not None:
        out.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return out


def _inside(filename: str, base: str) -> bool:
    path = os.path.realpath(filename)
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def _describe(exc: BaseException) -> str:
    """``Type: message`` on one line (a syntax error's own message, without its location)."""
    text = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    text = " ".join(text.split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
        raise _import_error(project, entry, exc) from exc
    except SparkwingError as exc:
        at = user_location(exc, project.dir, project.root)
        if not at:
            raise
        raise type(exc)(f"{at}: {exc}") from exc
    except Exception as exc:  # SyntaxError is an Exception too
        raise _import_error(project, entry, exc) from exc
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
    return PipelineDef(entry, fn, inputs_cls, arity, project.dir, project.root)


def _import_error(project: ProjectConfig, entry: PipelineEntry,
                  exc: BaseException) -> PipelineImportError:
    at = user_location(exc, project.dir, project.root)
    return PipelineImportError(
        (f"{at}: " if at else "")
        + f'pipeline "{entry.name}" failed to import ({entry.module}): {_describe(exc)}'
    )

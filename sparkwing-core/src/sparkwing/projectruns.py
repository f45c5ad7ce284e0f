"""Which project a run belongs to, and listing one project's runs.

A project is identified by the absolute, symlink-free path of its root (the
directory holding ``.sparkwing/``). A run that records it as
``invocation["project"]`` belongs to that project; otherwise the project is
found from the directory the run was started in (``invocation["cwd"]``):
the project whose root is, or contains, that directory, looked up on disk
(and, when the directory is gone, by the path alone). A run that records
neither (written by another tool) cannot be placed and is shown with every
project.

Why a path and not the git remote: two checkouts of one repository (a
worktree, a second clone) are separate places whose runs a user tells
apart, a project need not be a git repository, and a path is known before
anything is read from git. A moved checkout starts a new history in this
sense; ``--all-projects`` (CLI) and "all projects" (dashboard) still show
everything.

One store holds the runs of every project of a profile, so listing one
project's runs filters pages of :meth:`StateStore.list_runs` (newest first).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .storage.contracts import StateStore
    from .storage.records import Run, RunFilter

#: Key of the project root in a run's ``invocation``.
PROJECT_KEY = "project"

#: Runs read per store call while filtering by project.
PAGE = 200


def project_id(root: Path | str) -> str:
    """The identity of the project rooted at *root*: its absolute, symlink-free path."""
    return os.path.realpath(os.fspath(root))


def run_project(run: Run) -> str:
    """The project a run belongs to (``""`` when it cannot be told)."""
    invocation: dict[str, Any] = run.invocation or {}
    recorded = invocation.get(PROJECT_KEY)
    if isinstance(recorded, str) and recorded:
        return recorded
    cwd = invocation.get("cwd")
    if not isinstance(cwd, str) or not cwd:
        return ""
    return root_of(cwd) or cwd


def belongs(run: Run, project: str) -> bool:
    """Whether *run* belongs to the project whose identity is *project* (unplaceable runs do)."""
    invocation: dict[str, Any] = run.invocation or {}
    recorded = invocation.get(PROJECT_KEY)
    if isinstance(recorded, str) and recorded:
        return recorded == project
    cwd = invocation.get("cwd")
    if not isinstance(cwd, str) or not cwd:
        return True
    root = root_of(cwd)
    if root:
        return root == project
    return cwd == project or cwd.startswith(project.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=512)
def root_of(directory: str) -> str:
    """The identity of the project at or above *directory* on disk (``""`` when there is none)."""
    from .config.project import PROJECT_DIR, PROJECT_FILE, find_project

    try:
        root = find_project(Path(directory))
    except OSError:
        return ""
    if root is None or not (root / PROJECT_DIR / PROJECT_FILE).is_file():
        return ""
    return project_id(root)


def project_name(project: str) -> str:
    """A short name for a project identity: the last part of its path."""
    return os.path.basename(project.rstrip(os.sep)) or project


def list_project_runs(state: StateStore, flt: RunFilter, project: str | None) -> list[Run]:
    """Runs matching *flt*, newest first by id, limited to *project* when it is given.

    ``flt.limit`` counts matching runs (``<= 0``: all of them).
    """
    if project is None:
        return state.list_runs(flt)
    return filter_runs(state, flt, lambda run: belongs(run, project))


def filter_runs(state: StateStore, flt: RunFilter, keep: Callable[[Run], bool]) -> list[Run]:
    """Runs matching *flt* and *keep*, newest first by id, paging through the store."""
    want = flt.limit if flt.limit > 0 else None
    out: list[Run] = []
    page = replace(flt, limit=PAGE)
    while True:
        batch = state.list_runs(page)
        out.extend(r for r in batch if keep(r))
        if want is not None and len(out) >= want:
            return out[:want]
        if len(batch) < PAGE:
            return out
        page = replace(page, before_id=batch[-1].id)

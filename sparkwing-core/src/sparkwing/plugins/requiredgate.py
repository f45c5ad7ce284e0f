"""The ``plugins.required`` gate every command passes: free when a project requires no plugin.

:mod:`sparkwing.plugins.required` (the check itself, its statuses and
messages) is imported only when the project lists requirements.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PluginError

if TYPE_CHECKING:
    from ..config.project import ProjectConfig
    from .manager import PluginHost


def ensure(project: ProjectConfig, host: PluginHost | None = None) -> None:
    """Raise a one-line :class:`PluginError` (exit 2) unless *project*'s plugin set is there.

    Costs nothing when the project requires no plugin.
    """
    if not project.required_plugins:
        return
    from .required import check, problem_line

    if host is None:
        from .manager import get_host

        host = get_host()
    line = problem_line(project.shown, check(project.required_plugins, host))
    if line:
        raise PluginError(line)


def ensure_at(start: Path) -> None:
    """Check the plugin set of the project at or above *start* (nothing to do without one).

    The project file is loaded without evaluating ``on.schedule`` (no cron
    library import); the command that follows validates the rest.
    """
    from ..config.project import PROJECT_DIR, PROJECT_FILE, find_project, load_project_file

    root = find_project(start)
    if root is None or not (root / PROJECT_DIR / PROJECT_FILE).is_file():
        return
    ensure(load_project_file(root / PROJECT_DIR / PROJECT_FILE, check_schedules=False))

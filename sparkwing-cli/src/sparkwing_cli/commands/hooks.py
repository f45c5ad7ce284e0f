"""``sparkwing pipeline hooks install|uninstall|status``: git hooks that run pipelines.

Pipelines opt in with ``on: {pre_commit: {}}`` (or ``pre_push`` /
``post_commit``) in ``.sparkwing/sparkwing.yaml``. ``install`` exits 1 when
a declared hook could not be installed because a hook file not written by
sparkwing is in the way (everything else is still installed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..clickstyle import SparkwingGroup
from ..output import emit_json, output_option

if TYPE_CHECKING:
    from sparkwing.githooks import HookManager

_dir_option = click.option(
    "-C", "--cd", "directory", metavar="DIR", default=None,
    type=click.Path(file_okay=False, path_type=Path), help="Behave as if started in DIR.",
)

_VERBS = {
    "installed": "installed",
    "updated": "updated",
    "unchanged": "up to date",
    "removed": "removed",
    "skipped": "skipped",
    "untouched": "left alone",
    "none": "-",
}


@click.group("hooks", cls=SparkwingGroup)
def hooks_group() -> None:
    """Git hooks that run the pipelines declaring on: pre_commit, pre_push or post_commit.

    pre-commit and pre-push block the commit or push when a pipeline fails;
    post-commit never blocks. Hook files not written by sparkwing are never
    touched.
    """


@hooks_group.command("install")
@_dir_option
@output_option
def install_cmd(directory: Path | None, output: str) -> None:
    """Write the managed hooks for this project's pipelines (refreshing existing ones).

    A managed hook that no pipeline declares any more is removed. Exits 1
    when an unmanaged hook file blocks a declared hook.
    """
    from sparkwing.errors import SparkwingError

    manager = _manager(directory, need_project=True)
    changes = manager.install()
    if output == "json":
        emit_json(_report(manager, changes))
    else:
        _print_changes(changes, uninstall=False)
        if not any(manager.declared.values()):
            click.echo("no pipeline declares on: pre_commit, pre_push or post_commit; "
                       "nothing to install")
    skipped = [c for c in changes if c.action == "skipped"]
    if skipped:
        names = ", ".join(_shown(c.path) for c in skipped)
        raise SparkwingError(
            f"{names} not installed: an existing hook file was not written by sparkwing "
            "(move it aside, then run sparkwing pipeline hooks install again)"
        )


@hooks_group.command("uninstall")
@_dir_option
@output_option
def uninstall_cmd(directory: Path | None, output: str) -> None:
    """Remove the hooks sparkwing installed; other hook files stay."""
    manager = _manager(directory, need_project=False)
    changes = manager.uninstall()
    if output == "json":
        emit_json(_report(manager, changes))
    else:
        _print_changes(changes, uninstall=True)


@hooks_group.command("status")
@_dir_option
@output_option
def status_cmd(directory: Path | None, output: str) -> None:
    """Show each hook: managed, unmanaged or absent, and its pipelines."""
    manager = _manager(directory, need_project=False)
    statuses = manager.status()
    if output == "json":
        emit_json({"repo": str(manager.repo.toplevel), "hooks_dir": str(manager.repo.hooks_dir),
                   "hooks": [s.to_dict() for s in statuses]})
        return
    click.echo(f"hooks dir: {_shown(manager.repo.hooks_dir)}")
    for st in statuses:
        if st.state == "managed":
            detail = ", ".join(st.installed) or "(no pipelines)"
            if not st.declared:
                detail += "; no pipeline declares it now (install removes it)"
            elif not st.up_to_date:
                detail += f"; out of date (declared: {', '.join(st.declared)}; run install)"
        elif st.state == "unmanaged":
            detail = "not written by sparkwing; left alone"
            if st.declared:
                detail += f" (declared: {', '.join(st.declared)})"
        else:
            detail = (f"declared: {', '.join(st.declared)}; run sparkwing pipeline hooks install"
                      if st.declared else "-")
        click.echo(f"{st.hook:<12} {st.state:<10} {detail}")


def _manager(directory: Path | None, *, need_project: bool) -> HookManager:
    from sparkwing.config import find_project, load_project
    from sparkwing.config.project import PROJECT_DIR, PROJECT_FILE
    from sparkwing.errors import UsageError
    from sparkwing.githooks import HookManager

    if directory is not None and not directory.is_dir():
        raise UsageError(f'-C: "{directory}" is not a directory')
    start = directory if directory is not None else Path.cwd()
    root = find_project(start)
    project = None
    if need_project or (root is not None and (root / PROJECT_DIR / PROJECT_FILE).is_file()):
        project = load_project(start)
    return HookManager.at(start, project)


def _shown(path: Path) -> str:
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _report(manager: Any, changes: list[Any]) -> dict[str, Any]:
    return {"repo": str(manager.repo.toplevel), "hooks_dir": str(manager.repo.hooks_dir),
            "hooks": [c.to_dict() for c in changes]}


def _print_changes(changes: list[Any], *, uninstall: bool) -> None:
    for c in changes:
        verb = _VERBS.get(c.action, c.action)
        if c.action == "skipped":
            detail = f"{_shown(c.path)} exists and was not written by sparkwing; left untouched"
        elif c.action == "untouched":
            detail = f"{_shown(c.path)} was not written by sparkwing"
        elif c.action == "none":
            detail = "no hook file" if uninstall else "no pipeline declares it"
        elif c.action == "removed":
            detail = _shown(c.path)
        else:
            detail = f"{', '.join(c.pipelines)} -> {_shown(c.path)}"
        click.echo(f"{c.hook:<12} {verb:<11} {detail}")

"""``sparkwing plugins``: what is installed, what it registers, what failed; ``plugins check``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..output import emit_json, output_option

if TYPE_CHECKING:
    from sparkwing.config import ProjectConfig
    from sparkwing.plugins.manager import PluginInfo
    from sparkwing.plugins.required import RequirementStatus

_cd_option = click.option(
    "-C", "--cd", "directory", metavar="DIR", default=None,
    type=click.Path(exists=True, file_okay=False),
    help="Check the project at or above DIR instead of the current directory.",
)


@click.group("plugins", invoke_without_command=True)
@output_option
@click.pass_context
def plugins_cmd(ctx: click.Context, output: str) -> None:
    """List plugins: distribution, version, contract, what each registers, load errors.

    Exits 0 even when a plugin failed to load (unless SPARKWING_STRICT_PLUGINS
    is set), so it can always show what is wrong. `sparkwing plugins check`
    checks the project's plugins.required.
    """
    if ctx.invoked_subcommand is not None:
        return
    from sparkwing.execution.contracts import CONTRACT_VERSION
    from sparkwing.plugins.manager import get_host

    infos = get_host().plugin_infos()
    if output == "json":
        emit_json({"contract": CONTRACT_VERSION, "plugins": [i.to_dict() for i in infos]})
        return
    for info in infos:
        _print_info(info)


def _print_info(i: PluginInfo) -> None:
    origin = "built-in" if i.internal else f"{i.distribution} {i.version}".strip()
    state = "blocked" if i.blocked else ("FAILED" if i.error else "ok")
    contract = f"contract {i.contract}" if i.contract is not None else "contract ?"
    click.echo(f"{i.name:<12} {origin:<28} {contract:<11} {state}")
    if i.provides:
        click.echo(f"  provides: {', '.join(i.provides)}")
    adds = [what for what, yes in (("CLI commands", i.adds_commands),
                                   ("server routes", i.adds_routes)) if yes]
    if adds:
        click.echo(f"  adds:     {', '.join(adds)}")
    if i.observes:
        click.echo(f"  observes: {', '.join(h.removeprefix('sparkwing_') for h in i.observes)}")
    if i.hooks:
        click.echo(f"  hooks:    {', '.join(i.hooks)}")
    if i.error:
        click.echo(f"  error:    {i.error}")


@plugins_cmd.command("check")
@_cd_option
@output_option
def check_cmd(directory: str | None, output: str) -> None:
    """Check the project's plugins.required against the installed plugins (exit 0 or 2).

    Every other command runs the same check before it does anything; this
    command does only that, for CI. Outside a project there is nothing to
    check and it exits 0.
    """
    from sparkwing.config import PROJECT_DIR, PROJECT_FILE, find_project, load_project_file
    from sparkwing.errors import PluginError
    from sparkwing.plugins.manager import get_host
    from sparkwing.plugins.required import check, install_command, problem_line

    start = Path(directory).expanduser() if directory else Path.cwd()
    root = find_project(start)
    file = root / PROJECT_DIR / PROJECT_FILE if root is not None else None
    project = (load_project_file(file, check_schedules=False)
               if file is not None and file.is_file() else None)
    statuses = check(project.required_plugins, get_host()) if project is not None else []
    problem = problem_line(project.shown, statuses) if project is not None else ""
    if output == "json":
        emit_json(_check_json(project, statuses, install_command(statuses)))
        if problem:
            raise click.exceptions.Exit(2)
        return
    if project is None:
        click.echo(f"no .sparkwing/{PROJECT_FILE} here or above; nothing is required")
        return
    if not statuses:
        click.echo(f"{project.shown} requires no plugins")
        return
    for s in statuses:
        detail = s.problem or f"{s.required.name} {s.installed}"
        click.echo(f"{s.required.text:<36} {s.status:<14} {detail}")
    if problem:
        raise PluginError(problem)


def _check_json(project: ProjectConfig | None, statuses: list[RequirementStatus],
                command: str) -> dict[str, Any]:
    return {
        "ok": all(s.ok for s in statuses),
        "file": project.shown if project is not None else "",
        "required": [s.to_dict() for s in statuses],
        "install": command,
    }

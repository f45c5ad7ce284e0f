"""``sparkwing pipeline ...``: create, list, describe and explain the project's pipelines."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..lazy import LazyGroup
from ..output import emit_json, emit_ndjson, output_option

if TYPE_CHECKING:
    from sparkwing.config import PipelineEntry, ProjectConfig

#: Subcommands that live in other modules (imported on first use).
LAZY = {
    "hooks": "sparkwing_cli.commands.hooks:hooks_group",
    "run": "sparkwing_cli.commands.run:run_cmd",
    "trigger": "sparkwing_cli.commands.pipeline_trigger:trigger_cmd",
}


class PipelineGroup(LazyGroup):
    """A lazy group that leaves out a subcommand whose module is not installed."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the command, or ``None`` when its module is missing."""
        target = self.lazy.get(cmd_name)
        if target is not None and cmd_name not in self.commands:
            modname = target.split(":")[0]
            try:
                importlib.import_module(modname)
            except ModuleNotFoundError as exc:
                if exc.name and modname.startswith(exc.name):
                    return None
                raise
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command whose module can be imported."""
        return [n for n in super().list_commands(ctx) if self.get_command(ctx, n) is not None]


@click.group("pipeline", cls=PipelineGroup, lazy=LAZY)
def pipeline_group() -> None:
    """Create, list, describe and explain the pipelines of this project."""


def _start(directory: Path | None) -> Path:
    from sparkwing.errors import UsageError

    if directory is None:
        return Path.cwd()
    if not directory.is_dir():
        raise UsageError(f"-C {directory}: no such directory")
    return directory


def _pick_name(flag: str | None, positional: str | None, verb: str) -> str:
    """The pipeline named by ``NAME`` or ``--name NAME`` (both: they must agree)."""
    from sparkwing.errors import UsageError

    if flag and positional and flag != positional:
        raise UsageError(f"two pipelines given: {positional} and --name {flag}; give one")
    name = flag or positional
    if not name:
        raise UsageError(f"missing pipeline name: sparkwing pipeline {verb} NAME "
                         "(see 'sparkwing pipeline list')")
    return name


_name_option = click.option("--name", default=None, metavar="NAME",
                            help="The pipeline (the same as the NAME argument).")

_cd_option = click.option("-C", "--cd", "directory", metavar="DIR", default=None,
                          type=click.Path(file_okay=False, path_type=Path),
                          help="Behave as if started in DIR.")


@pipeline_group.command("new")
@click.argument("name_arg", metavar="NAME", required=False)
@click.option("--name", default=None, metavar="NAME",
              help="Pipeline name, kebab-case (the same as the NAME argument).")
@click.option("--template", default="minimal", show_default=True, metavar="TEMPLATE",
              help="minimal | build-test-deploy")
@click.option("--description", default="", metavar="TEXT", help="One line for pipeline list.")
@_cd_option
def new_cmd(name_arg: str | None, name: str | None, template: str, description: str,
            directory: Path | None) -> None:
    """Add a pipeline from a template (creates .sparkwing/ on first use)."""
    from ..scaffold import scaffold

    name = _pick_name(name, name_arg, "new")
    done = scaffold(_start(directory), name, template, description)
    root = done.root
    for path in done.created:
        if path.is_file() and path != done.project_file:
            click.echo(f"created {path.relative_to(root)}")
    verb = "created" if done.project_file in done.created else "updated"
    click.echo(f"{verb} {done.project_file.relative_to(root)} (pipeline \"{name}\", "
               f"entrypoint {done.entrypoint})")
    click.echo(f"next: sparkwing run {name}")


def _project(directory: Path | None) -> ProjectConfig:
    from sparkwing.config import load_project

    return load_project(_start(directory))


def _triggers(entry: PipelineEntry) -> list[str]:
    return sorted(entry.on)


@pipeline_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include hidden pipelines.")
@_cd_option
@output_option
def list_cmd(show_all: bool, directory: Path | None, output: str) -> None:
    """List the project's pipelines (-o json: one object per line)."""
    project = _project(directory)
    entries = project.pipelines if show_all else project.visible_pipelines()
    if output == "json":
        emit_ndjson([
            {"name": e.name, "description": e.description, "entrypoint": e.entrypoint,
             "triggers": _triggers(e), "hidden": e.hidden}
            for e in entries
        ])
        return
    if not entries:
        hidden = len(project.pipelines) - len(entries)
        click.echo("no pipelines" + (f" ({hidden} hidden; see --all)" if hidden else
                                     "; add one with: sparkwing pipeline new --name NAME"))
        return
    from ..render import table

    rows = [[e.name + (" (hidden)" if e.hidden else ""), e.description or "-", e.entrypoint,
             ", ".join(_triggers(e)) or "manual"] for e in entries]
    for line in table(rows, ["NAME", "DESCRIPTION", "ENTRYPOINT", "TRIGGERS"]):
        click.echo(line)


@pipeline_group.command("describe")
@click.argument("name_arg", metavar="NAME", required=False)
@_name_option
@_cd_option
@output_option
def describe_cmd(name_arg: str | None, name: str | None, directory: Path | None,
                 output: str) -> None:
    """Show a pipeline: entrypoint, triggers and its input flags."""
    from sparkwing.dsl.inputs import input_specs
    from sparkwing.project import load_pipeline

    name = _pick_name(name, name_arg, "describe")
    project = _project(directory)
    entry = project.pipeline(name)
    pdef = load_pipeline(project, entry)
    inputs = [s.to_dict() for s in input_specs(pdef.inputs_cls)]
    module_file = entry.module_file(project.dir)
    data = {
        "name": entry.name,
        "description": entry.description,
        "entrypoint": entry.entrypoint,
        "file": str(module_file.relative_to(project.root)),
        "hidden": entry.hidden,
        "triggers": entry.on,
        "args": dict(entry.args),
        "profile": entry.profile,
        "requires": list(entry.requires),
        "inputs": inputs,
    }
    if output == "json":
        emit_json(data)
        return
    from ..render import flag_value

    click.echo(entry.name + (f": {entry.description}" if entry.description else ""))
    click.echo(f"  entrypoint: {entry.entrypoint}  ({data['file']})")
    click.echo(f"  triggers:   {', '.join(_triggers(entry)) or 'manual only'}")
    if entry.args:
        click.echo("  args:       " + " ".join(f"--{k}={v}" for k, v in entry.args.items()))
    if entry.profile:
        click.echo(f"  profile:    {entry.profile}")
    if not inputs:
        click.echo("  inputs:     none")
    else:
        click.echo("  inputs:")
        for i in inputs:
            kind = "|".join(i["choices"]) if i["choices"] else i["type"]
            names = (f"-{i['short']}, " if i["short"] else "") + f"--{i['name']}"
            notes = ["required"] if i["required"] else []
            if not i["required"] and i["default"] not in (None, "", [], False):
                notes.append(f"default {'***' if i['secret'] else flag_value(i['default'])}")
            if i["secret"]:
                notes.append("secret")
            help_text = i["help"] + (f" ({', '.join(notes)})" if notes else "")
            click.echo(f"    {names} {kind}  {help_text}".rstrip())
    click.echo(f"  run:        sparkwing run {entry.name}"
               + "".join(f" --{i['name']} ..." for i in inputs if i["required"]))


@pipeline_group.command(
    "explain", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@_name_option
@_cd_option
@output_option
@click.argument("pipeline_args", metavar="NAME [PIPELINE FLAGS]...", nargs=-1,
                type=click.UNPROCESSED)
def explain_cmd(name: str | None, directory: Path | None, output: str,
                pipeline_args: tuple[str, ...]) -> None:
    """Show the plan a run would execute, without running anything.

    Pipeline flags after the name are used as `sparkwing run` would use
    them; required ones that are missing get placeholder values.
    """
    from ..plantree import build_plan, render_tree

    positional = None
    if pipeline_args and not pipeline_args[0].startswith("-"):
        positional, pipeline_args = pipeline_args[0], pipeline_args[1:]
    name = _pick_name(name, positional, "explain")
    project = _project(directory)
    entry = project.pipeline(name)
    plan, placeholders = build_plan(project, entry, list(pipeline_args))
    plan_dict = plan.to_dict()
    if output == "json":
        emit_json(plan_dict)
        return
    count = len(plan_dict["nodes"])
    head = f"pipeline {entry.name}: {count} job{'' if count == 1 else 's'}"
    if placeholders:
        head += "  (placeholders for missing inputs: " + ", ".join(
            f"--{k}={v}" for k, v in placeholders.items()) + ")"
    click.echo(head)
    for line in render_tree(plan_dict):
        click.echo(line)

"""The click command tree of ``sparkwing`` (imported for every command but ``run``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from . import __version__
from .lazy import LazyGroup

COMMANDS = {
    "run": "sparkwing_cli.commands.run:run_cmd",
    "runs": "sparkwing_cli.commands.runs:runs_group",
    "pipeline": "sparkwing_cli.commands.pipeline:pipeline_group",
    "plugin": "sparkwing_cli.commands.plugin_new:plugin_group",
    "plugins": "sparkwing_cli.commands.plugins:plugins_cmd",
    "profile": "sparkwing_cli.commands.profile:profile_cmd",
    "dashboard": "sparkwing_cli.commands.dashboard:dashboard_group",
    "controller": "sparkwing_cli.commands.controller:controller_group",
    "runner": "sparkwing_cli.commands.runner:runner_cmd",
    "cache": "sparkwing_cli.commands.cache:cache_group",
    "debug": "sparkwing_cli.commands.debug:debug_group",
    "triggers": "sparkwing_cli.commands.triggers:triggers_group",
    "outbox": "sparkwing_cli.commands.outbox:outbox_group",
    "node": "sparkwing_cli.commands.node:node_group",
    "doctor": "sparkwing_cli.commands.doctor:doctor_cmd",
}


#: Commands that do not check ``plugins.required`` first: they diagnose or create plugins.
UNCHECKED = frozenset({"plugins", "plugin"})


class RootGroup(LazyGroup):
    """The root group: lazy subcommands plus commands added by plugins.

    Before any subcommand runs, the plugin set pinned by the project's
    ``plugins.required`` is checked (except for :data:`UNCHECKED` commands
    and ``--help``); a missing, blocked, broken or wrong-version plugin stops
    the command with one line and exit 2.
    """

    _plugins_added = False

    def _add_plugin_commands(self) -> None:
        if RootGroup._plugins_added:
            return
        RootGroup._plugins_added = True
        from sparkwing.plugins.manager import get_host

        get_host().add_cli_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return every command, including those added by plugins."""
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def resolve_command(
        self, ctx: click.Context, args: list[str],
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Check ``plugins.required`` of the project the command is about, then find the command."""
        name, rest = (args[0], args[1:]) if args else ("", [])
        if name and name not in UNCHECKED and not _asks_for_help(rest):
            start = _start_dir(rest)
            if start.is_dir():
                from sparkwing.plugins.requiredgate import ensure_at

                ensure_at(start)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return a built-in command, else look among plugin commands."""
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            self._add_plugin_commands()
            cmd = super().get_command(ctx, cmd_name)
        return cmd


def _asks_for_help(args: list[str]) -> bool:
    """True when the subcommand's arguments ask for help (before any ``--``)."""
    for tok in args:
        if tok == "--":
            return False
        if tok in ("-h", "--help"):
            return True
    return False


def _start_dir(args: list[str]) -> Path:
    """The directory a subcommand works in: its ``-C/--cd DIR`` if given, else the cwd."""
    for i, tok in enumerate(args):
        if tok == "--":
            break
        if tok in ("-C", "--cd") and i + 1 < len(args):
            return Path(args[i + 1]).expanduser()
        if tok.startswith("--cd="):
            return Path(tok[len("--cd="):]).expanduser()
        if tok.startswith("-C") and len(tok) > 2:
            return Path(tok[2:]).expanduser()
    return Path.cwd()


@click.group(
    cls=RootGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="sparkwing",
                      message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="SPARKWING_DEBUG_TRACEBACK",
              help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """sparkwing: CI/CD pipelines as Python code, run anywhere.

    Pipelines live in .sparkwing/ of your repository; `sparkwing run NAME`
    runs one here and records it under $SPARKWING_HOME (~/.sparkwing).
    """
    if debug:
        os.environ["SPARKWING_DEBUG_TRACEBACK"] = "1"


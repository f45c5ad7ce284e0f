"""Entry point of the ``sparkwing`` command: one error boundary for the whole CLI."""

from __future__ import annotations

import os
import sys

import click
from sparkwing.errors import SparkwingError

from . import __version__
from .lazy import LazyGroup

COMMANDS = {
    "run": "sparkwing_cli.commands.run:run_cmd",
    "runs": "sparkwing_cli.commands.runs:runs_group",
    "pipeline": "sparkwing_cli.commands.pipeline:pipeline_group",
    "plugins": "sparkwing_cli.commands.plugins:plugins_cmd",
    "profile": "sparkwing_cli.commands.profile:profile_cmd",
    "dashboard": "sparkwing_cli.commands.dashboard:dashboard_group",
    "cache": "sparkwing_cli.commands.cache:cache_group",
    "debug": "sparkwing_cli.commands.debug:debug_group",
}


class RootGroup(LazyGroup):
    """The root group: lazy subcommands plus commands added by plugins."""

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

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return a built-in command, else look among plugin commands."""
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            self._add_plugin_commands()
            cmd = super().get_command(ctx, cmd_name)
        return cmd


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


def _one_line_usage(exc: click.ClickException) -> str:
    msg = exc.format_message().replace("\n", " ").strip()
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        msg += f" (see '{ctx.command_path} --help')"
    return msg


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn every error into one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = cli.main(args=argv, prog_name="sparkwing", standalone_mode=False)
    except SparkwingError as exc:
        if debug or os.environ.get("SPARKWING_DEBUG_TRACEBACK") == "1":
            import traceback

            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {_one_line_usage(exc)}", err=True)
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # a bug: still one line unless --debug
        if debug or os.environ.get("SPARKWING_DEBUG_TRACEBACK") == "1":
            raise
        click.echo(
            f"error: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            err=True,
        )
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()

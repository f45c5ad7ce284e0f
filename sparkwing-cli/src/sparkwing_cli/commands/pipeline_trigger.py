"""``sparkwing pipeline trigger NAME``: run a pipeline on a controller's runners (see :mod:`..remotetrigger`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..output import output_option


@click.command(
    "trigger", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("name")
@click.option("--ref", default="", metavar="REF",
              help="Send this branch, tag or commit instead of the working tree as it is.")
@click.option("--profile", default=None, metavar="NAME",
              help="Profile whose controller: block names the controller and its token.")
@click.option("--controller", "controller", default="", metavar="URL",
              help="The controller's URL (instead of a profile).")
@click.option("--token-env", default="", metavar="VAR",
              help="Environment variable holding the token (default: the profile's "
                   "token_env, else SPARKWING_TOKEN).")
@click.option("--follow/--detach", default=True,
              help="Follow the run's jobs and logs until it ends (default), or only queue it "
                   "and print its trigger and run ids.")
@click.option("-C", "directory", type=click.Path(path_type=Path), default=None,
              help="Send the checkout containing this directory (default: the current one).")
@output_option
@click.argument("pipeline_args", metavar="[PIPELINE FLAGS]...", nargs=-1, type=click.UNPROCESSED)
def trigger_cmd(name: str, ref: str, profile: str | None, controller: str, token_env: str,
                follow: bool, directory: Path | None, output: str,
                pipeline_args: tuple[str, ...]) -> None:
    """Send this checkout to a controller, queue pipeline NAME, and follow the run.

    The working tree travels as a git bundle holding only the commits the
    controller lacks (uncommitted and untracked, not ignored files included
    as a snapshot commit; an unchanged tree sends nothing). Pipeline flags
    after the name become the run's inputs. Exit 0 when the run succeeded,
    1 when it failed or was cancelled, 3 when its outcome is unknown.
    """
    from sparkwing.errors import UsageError

    from .. import remotetrigger

    start = directory or Path.cwd()
    if not start.is_dir():
        raise UsageError(f"-C {start}: no such directory")
    code = remotetrigger.main(name, pipeline_args, start=start, ref=ref, profile=profile,
                              controller=controller, token_env=token_env, detach=not follow,
                              json_out=output == "json")
    sys.stdout.flush()
    sys.exit(code)

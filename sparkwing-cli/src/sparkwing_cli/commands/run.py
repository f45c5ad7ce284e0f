"""``sparkwing run PIPELINE [pipeline flags] [sparkwing flags]`` (the click face of :mod:`..runner`)."""

from __future__ import annotations

import os
import sys

import click

from ..runner import RunArgs, execute, run_main, split_args

__all__ = ["RunArgs", "execute", "run_cmd", "split_args"]


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                      "help_option_names": []},
    add_help_option=False,
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def run_cmd(argv: tuple[str, ...]) -> None:
    """Run a pipeline here and record it (see `sparkwing run --help`)."""
    code = run_main(list(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads still running a timed-out pure-Python body must not hold the process open.
    os._exit(code)

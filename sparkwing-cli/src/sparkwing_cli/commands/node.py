"""``sparkwing node exec``: the per-attempt entry of out-of-process executors (hidden from help)."""

from __future__ import annotations

import sys

import click


@click.group("node", hidden=True)
def node_group() -> None:
    """Run single nodes of recorded runs (used by executors; see `sparkwing node exec --help`)."""


@node_group.command(
    "exec", add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.pass_context
def exec_cmd(ctx: click.Context) -> None:
    """Run one attempt of one node of a recorded run (see `sparkwing node exec --help`)."""
    from ..nodeexec import node_exec_main

    code = node_exec_main(list(ctx.args))
    sys.stdout.flush()
    sys.exit(code)

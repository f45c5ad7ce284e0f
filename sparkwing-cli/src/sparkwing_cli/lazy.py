"""A click group whose subcommands are imported only when invoked.

Keeps ``sparkwing run`` from paying for the imports of every other command.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from .clickstyle import SparkwingGroup


class LazyGroup(SparkwingGroup):
    """A group whose subcommands are given as ``{name: "module:attribute"}``."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return eager and lazy command names, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return a command, importing it on first use."""
        if cmd_name in self.lazy and cmd_name not in self.commands:
            modname, attr = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(modname), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

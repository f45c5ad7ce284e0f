"""``sparkwing plugin new``: write a plugin distribution to start from."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("plugin")
def plugin_group() -> None:
    """Create sparkwing plugins (see `sparkwing plugins` for the installed ones)."""


@plugin_group.command("new")
@click.option("--name", required=True, metavar="NAME",
              help="Plugin name, kebab-case (redis: distribution sparkwing-redis, type redis).")
@click.option("--kind", required=True,
              type=click.Choice(["state", "logs", "artifacts", "executor", "trigger"]),
              help="What the plugin provides.")
@click.option("--dir", "directory", default=None, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Where to write it (default: ./sparkwing-NAME); must be new or empty.")
def new_cmd(name: str, kind: str, directory: Path | None) -> None:
    """Write a complete plugin distribution: pyproject with the entry point, the
    registration, an implementation to fill in, its conformance test and a README.

    It installs and passes its own tests as written; the README says what is
    left to fill in.
    """
    from ..pluginkit.generate import generate

    done = generate(name, kind, directory)
    for path in done.files:
        click.echo(f"created {path}")
    click.echo(f"next: uv pip install -e {done.root} && sparkwing plugins && "
               f"(cd {done.root} && pytest)")

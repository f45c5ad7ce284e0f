"""``sparkwing plugins``: what is installed, what it provides, what failed to load."""

from __future__ import annotations

import click

from ..output import emit_json, output_option


@click.command("plugins")
@output_option
def plugins_cmd(output: str) -> None:
    """List plugins: distribution, version, hooks, backends provided, load errors."""
    from sparkwing.plugins.manager import get_host

    infos = get_host().plugin_infos()
    if output == "json":
        emit_json({"plugins": [i.to_dict() for i in infos]})
        return
    for i in infos:
        origin = "built-in" if i.internal else f"{i.distribution} {i.version}".strip()
        state = "blocked" if i.blocked else ("FAILED" if i.error else "ok")
        click.echo(f"{i.name:<12} {origin:<28} {state}")
        if i.provides:
            click.echo(f"  provides: {', '.join(i.provides)}")
        if i.hooks:
            click.echo(f"  hooks:    {', '.join(i.hooks)}")
        if i.error:
            click.echo(f"  error:    {i.error}")

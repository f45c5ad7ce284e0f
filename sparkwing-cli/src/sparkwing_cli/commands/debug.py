"""``sparkwing debug list|release``: debug pauses held on running jobs."""

from __future__ import annotations

import time

import click
from sparkwing.errors import NotFoundError

from ..clickstyle import SparkwingGroup
from ..output import emit_ndjson, output_option
from ..runstore import open_read_stores, profile_option


@click.group("debug", cls=SparkwingGroup)
def debug_group() -> None:
    """Debug pauses: `sparkwing run P --sw-pause-before JOB` holds a job until released."""


@debug_group.command("list")
@click.option("--run", "run_id", default=None, help="Only pauses of this run.")
@click.option("--all", "show_all", is_flag=True, help="Include released pauses.")
@output_option
@profile_option
def list_cmd(run_id: str | None, show_all: bool, output: str, profile: str | None) -> None:
    """List held pauses (newest last)."""
    stores = open_read_stores(profile, reconcile=False)
    try:
        pauses = stores.state.list_pauses(run_id, held_only=not show_all)
    finally:
        stores.close()
    if output == "json":
        from sparkwing.views import pause_view

        emit_ndjson([pause_view(p) for p in pauses])
        return
    if not pauses:
        click.echo("no pauses held")
        return
    now = time.time()
    for p in pauses:
        state = "released" if p.released_at else f"expires in {max(0, int(p.expires_at - now))}s"
        click.echo(f"{p.run_id}  {p.node_id}  {p.reason}  {state}")


@debug_group.command("release")
@click.option("--run", "run_id", required=True, help="Run id.")
@click.option("--node", "node_id", required=True, help="Paused job id.")
@profile_option
def release_cmd(run_id: str, node_id: str, profile: str | None) -> None:
    """Release a paused job so its run continues."""
    from sparkwing.triggers.request import current_user

    stores = open_read_stores(profile, reconcile=False)
    try:
        ok = stores.state.release_pause(run_id, node_id, current_user(), "manual", time.time())
    finally:
        stores.close()
    if not ok:
        raise NotFoundError(f"no held pause on job {node_id!r} of run {run_id!r}")
    click.echo(f"released {node_id} of {run_id}")

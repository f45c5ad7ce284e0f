"""``runs approvals list | approve | deny``: resolve approval gates from the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..clickstyle import SparkwingGroup
from ..output import emit_ndjson, output_option
from ..render import ago, table
from ..runstore import find_run, open_read_stores, profile_option, project_scope, run_ref_option

if TYPE_CHECKING:
    from sparkwing.storage.records import Run


def approver() -> str:
    """Who is approving: ``$USER``, else the login name, else ``unknown``."""
    from sparkwing.triggers.request import current_user

    return current_user()


@click.group("approvals", cls=SparkwingGroup)
def approvals_group() -> None:
    """List, approve or deny approval gates of runs."""


@approvals_group.command("list")
@click.option("--run", "run_ref", default=None, metavar="ID", help="Only this run (or latest).")
@click.option("--all", "show_all", is_flag=True,
              help="Include resolved approvals and gates of runs that already ended.")
@profile_option
@output_option
def list_cmd(run_ref: str | None, show_all: bool, profile: str | None, output: str) -> None:
    """List approvals still waiting on live runs (with --all, every approval)."""
    from sparkwing.views import approval_view

    with open_read_stores(profile) as stores:
        run_id = find_run(stores.state, run_ref, project_scope(False)).id if run_ref else None
        approvals = stores.state.list_approvals(run_id, pending_only=not show_all)
        runs: dict[str, Run | None] = {}
        for a in approvals:
            if a.run_id not in runs:
                runs[a.run_id] = stores.state.get_run(a.run_id)
    if not show_all:  # a gate of a run that ended can no longer be decided
        approvals = [a for a in approvals
                     if (run := runs[a.run_id]) is not None and not run.terminal]
    if output == "json":
        emit_ndjson([approval_view(a, runs[a.run_id]) for a in approvals])
        return
    if not approvals:
        click.echo("no pending approvals" if not show_all else "no approvals")
        return
    rows = []
    for a in approvals:
        state = a.resolution or "pending"
        if a.approver:
            state += f" by {a.approver}"
        rows.append([a.run_id, a.node_id, ago(a.requested_at), state, a.message or a.comment])
    for line in table(rows, ["RUN", "GATE", "REQUESTED", "STATE", "MESSAGE"]):
        click.echo(line)


def _resolve(run_ref: str, scope: str | None, node: str, resolution: str, comment: str,
             profile: str | None) -> None:
    from sparkwing.orchestrator.approvals import resolve

    with open_read_stores(profile) as stores:
        run = find_run(stores.state, run_ref, scope)
        who = approver()
        resolve(stores.state, run.id, node, resolution, who, comment)
    verb = "approved" if resolution == "approved" else "denied"
    click.echo(f"{verb} {node} of run {run.id} as {who}" + (f": {comment}" if comment else ""))


_node_option = click.option("--node", required=True, metavar="GATE", help="The approval gate's id.")
_comment_option = click.option("--comment", default="", metavar="TEXT",
                               help="Recorded with the decision.")


@approvals_group.command("approve")
@run_ref_option
@_node_option
@_comment_option
@profile_option
def approve_cmd(run_ref: str, scope: str | None, node: str, comment: str,
                profile: str | None) -> None:
    """Approve a waiting gate: the jobs behind it run (default run: the newest)."""
    _resolve(run_ref, scope, node, "approved", comment, profile)


@approvals_group.command("deny")
@run_ref_option
@_node_option
@_comment_option
@profile_option
def deny_cmd(run_ref: str, scope: str | None, node: str, comment: str,
             profile: str | None) -> None:
    """Deny a waiting gate: it fails and the jobs behind it do not run (default run: the newest)."""
    _resolve(run_ref, scope, node, "denied", comment, profile)

"""``sparkwing triggers ...``: trigger sources, recorded run requests and the schedule tick.

* ``list``: the registered trigger sources and the most recent trigger rows;
* ``show ID``: one trigger row with its request and the run it started;
* ``tick``: start the runs whose ``on.schedule`` entries fire this minute;
* ``run``: claim a queued trigger row and start its run here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..clickstyle import SparkwingGroup
from ..output import emit_json, output_option
from ..render import ago, local_time, paint, status_text, table, use_colour
from ..runstore import open_read_stores, profile_option

#: Statuses ``--status`` accepts.
TRIGGER_STATUSES = ("pending", "claimed", "done", "failed")


@click.group("triggers", cls=SparkwingGroup)
def triggers_group() -> None:
    """Run requests from trigger sources: list, inspect, evaluate schedules.

    Every run starts from a request of a trigger source (manual, git-hook,
    schedule, retry, or one a plugin adds), recorded as a trigger row under
    an idempotency key: a request whose key was seen before starts nothing.
    """


@triggers_group.command("list")
@click.option("--pipeline", default="", metavar="NAME", help="Only requests for this pipeline.")
@click.option("--status", default="", type=click.Choice(("", *TRIGGER_STATUSES)),
              help="Only requests in this status.")
@click.option("--source", default="", metavar="NAME", help="Only requests from this source.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=0),
              help="Show at most this many requests (0: all).")
@profile_option
@output_option
def list_cmd(pipeline: str, status: str, source: str, limit: int, profile: str | None,
             output: str) -> None:
    """List trigger sources and recent requests.

    Shows every registered trigger source (built-in or from a plugin) and
    the most recent trigger rows, newest first.
    """
    from sparkwing.plugins.manager import get_host
    from sparkwing.triggers.views import source_views, trigger_view

    sources = source_views(get_host().registry)
    with open_read_stores(profile, reconcile=False) as stores:
        rows = stores.state.list_triggers(pipeline=pipeline, status=status, source=source,
                                          limit=limit)
    if output == "json":
        emit_json({"sources": sources, "triggers": [trigger_view(r) for r in rows]})
        return
    colour = use_colour()
    click.echo("Sources:")
    for line in table([[s["name"], s["provider"], s["description"]] for s in sources],
                      ["NAME", "PLUGIN", "WHAT"]):
        click.echo("  " + line)
    click.echo("")
    if not rows:
        click.echo("No trigger requests recorded" + (" matching the filters." if
                   (pipeline or status or source) else " yet."))
        return
    click.echo("Recent requests:")
    header = ["TRIGGER", "SOURCE", "PIPELINE", "STATUS", "RUN", "CREATED"]
    plain = [[r.id, r.source, r.pipeline, r.status, r.run_id or "-", ago(r.created_at)]
             for r in rows]
    painted = [[c if i != 3 else status_text(c, colour) for i, c in enumerate(p)] for p in plain]
    for line in table(painted, header, visible=plain):
        click.echo("  " + line)


@triggers_group.command("show")
@click.argument("trigger_id", metavar="ID")
@profile_option
@output_option
def show_cmd(trigger_id: str, profile: str | None, output: str) -> None:
    """Show one trigger request and its run.

    Its idempotency key, status, who and what asked (source, actor, event,
    delivery id), the recorded request and the run it started.
    """
    from sparkwing.errors import NotFoundError
    from sparkwing.triggers.views import trigger_view

    with open_read_stores(profile, reconcile=False) as stores:
        row = stores.state.get_trigger(trigger_id.strip())
        if row is None:
            raise NotFoundError(f"trigger {trigger_id} not found (see: sparkwing triggers list)")
        run = stores.state.get_run(row.run_id) if row.run_id else None
    view = trigger_view(row)
    if output == "json":
        from sparkwing.views import run_view

        emit_json({"trigger": view, "run": None if run is None else run_view(run, full=False)})
        return
    colour = use_colour()
    out = click.echo
    out(f"{paint(row.id, '1', colour)}  {row.pipeline}  {status_text(row.status, colour)}")
    who = f" by {view['actor']}" if view["actor"] else ""
    event = f" ({view['event']})" if view["event"] else ""
    out(f"  source:    {row.source}{who}{event}")
    if view["delivery_id"]:
        out(f"  delivery:  {view['delivery_id']}")
    out(f"  key:       {row.idempotency_key}")
    out(f"  created:   {local_time(row.created_at)} ({ago(row.created_at)})")
    if row.claims:
        out(f"  claims:    {row.claims}" + (f" (held by {row.claimed_by})" if row.claimed_by
                                            else ""))
    if row.finished_at:
        out(f"  finished:  {local_time(row.finished_at)}")
    if row.error:
        out(f"  error:     {paint(row.error, '31', colour)}")
    if run is not None:
        out(f"  run:       {run.id}  {status_text(run.status, colour)}")
    elif row.run_id:
        out(f"  run:       {row.run_id} (no longer recorded)")
    request = row.request or {}
    extra = (request.get("trigger") or {}).get("extra") or {}
    if extra:
        out("  extra:     " + ", ".join(f"{k}={v}" for k, v in extra.items()))
    if request.get("inputs"):
        out("  inputs:    " + " ".join(f"--{k}={v}" for k, v in request["inputs"].items()))
    if request.get("git_ref") or request.get("git_sha"):
        out(f"  git:       {request.get('git_ref') or '-'} {request.get('git_sha') or ''}".rstrip())
    if request.get("workdir"):
        out(f"  workdir:   {request['workdir']}")


@triggers_group.command("tick")
@click.option("--now", "now_text", default=None, metavar="ISO-8601",
              help="Evaluate this minute instead of the current one (UTC unless an offset is "
                   "given), e.g. 2026-01-05T03:00Z.")
@click.option("--pipeline", "pipelines", multiple=True, metavar="NAME",
              help="Only this pipeline's schedules (repeatable).")
@click.option("-C", "--sw-cd", "directory", type=click.Path(path_type=Path), default=None,
              help="Run as if started in DIR (the project whose schedules are evaluated).")
@click.option("--profile", "profile", metavar="NAME", default="",
              help="Profile for the started runs (default: as `sparkwing run` chooses).")
@output_option
def tick_cmd(now_text: str | None, pipelines: tuple[str, ...], directory: Path | None,
             profile: str, output: str) -> None:
    """Start the scheduled runs due this minute.

    Evaluates the on.schedule cron entries (UTC) of the project. Each due schedule is dispatched under a key made of the project, the
    pipeline, the expression and the minute, so ticking twice in one minute
    (or from the dashboard too) starts one run. Runs start here, one after
    the other. Call it once a minute from cron or a systemd timer; the
    dashboard does the same while it runs. Exit 1 when a started run failed
    or could not start.
    """
    from datetime import UTC, datetime

    from sparkwing.config import load_project
    from sparkwing.triggers.schedule import minute_of, parse_now, schedules, tick

    start = directory or Path.cwd()
    if not start.is_dir():
        from sparkwing.errors import UsageError

        raise UsageError(f"-C {directory}: no such directory")
    now = parse_now(now_text) if now_text else datetime.now(UTC)
    minute = minute_of(now)
    project = load_project(start)
    outcomes = tick(project, minute, pipelines=pipelines, profile=profile)
    stamp = minute.strftime("%Y-%m-%dT%H:%MZ")
    failed = any(o.outcome == "failed" or (o.outcome == "started" and o.run_status != "success")
                 for o in outcomes)
    if output == "json":
        emit_json({"minute": minute.strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "due": [o.to_dict() for o in outcomes]})
    elif not outcomes:
        count = len([s for s in schedules(project) if not pipelines or s[0] in pipelines])
        click.echo(f"{stamp}: no schedule due ({count} schedule(s) declared)")
    else:
        colour = use_colour()
        click.echo(f"{stamp}: {len(outcomes)} schedule(s) due")
        for o in outcomes:
            if o.outcome == "started":
                what = f"started run {o.run_id} ({status_text(o.run_status, colour)})"
            elif o.outcome == "duplicate":
                what = (f"already requested as trigger {o.trigger_id}"
                        + (f" (run {o.run_id})" if o.run_id else "") + "; nothing started")
            else:
                what = paint(f"could not start: {o.error}", "31", colour)
            click.echo(f"  {o.pipeline}  [{o.cron}]  {what}")
    sys.stdout.flush()
    sys.stderr.flush()
    # as `sparkwing run` does: job threads left behind by a timeout must not hold the process
    os._exit(1 if failed else 0)


@triggers_group.command("run")
@click.option("--id", "trigger_id", default="", metavar="ID",
              help="Claim this queued request (default: the oldest queued one).")
@click.option("--claimed-by", "claimed_by", default="", metavar="HOLDER",
              help="For runners: the request --id is already claimed by HOLDER; claim nothing, "
                   "run it in the current directory, and leave finishing the request to HOLDER.")
@click.option("--claim-seq", "claim_seq", default=0, type=click.IntRange(min=0), metavar="N",
              help="For runners, with --claimed-by: the claim number HOLDER holds.")
@click.option("--run-id", "run_id", default="", metavar="RUN",
              help="For runners, with --claimed-by: the id of the run to start.")
@profile_option
@output_option
def run_cmd(trigger_id: str, claimed_by: str, claim_seq: int, run_id: str,
            profile: str | None, output: str) -> None:
    """Start a queued request's run here.

    Claims the oldest queued trigger request (or --id). Requests are queued (status pending) by servers, e.g. a webhook a
    plugin receives in the dashboard. Exit 0 when the run succeeded, 1 when
    it failed, could not start, or nothing was queued.

    Runners (`sparkwing runner`) start the requests they claimed with
    --id ID --claimed-by HOLDER --claim-seq N [--run-id RUN]: the request
    must be claimed by HOLDER in claim N (else exit 2), it runs in the
    current directory under --profile, and the request row is not finished
    here (the runner finishes it when this command exits). When the runner
    process dies, this command kills its processes and exits 3.
    """
    from sparkwing.errors import NotFoundError, UsageError
    from sparkwing.triggers.dispatch import run_claimed, run_queued
    from sparkwing.triggers.views import trigger_view

    if (claimed_by or claim_seq or run_id) and not (claimed_by and claim_seq
                                                     and trigger_id.strip()):
        raise UsageError("--claimed-by, --claim-seq and --run-id need --id, --claimed-by "
                         "and --claim-seq together")
    with open_read_stores(profile, reconcile=False) as stores:
        if claimed_by:
            from sparkwing.orchestrator.reporting import PrettyReporter
            from sparkwing.runs.start import StartOptions
            from sparkwing.triggers.parentwatch import watch_parent

            watch_parent()  # the run ends with its runner (see parentwatch)
            options = StartOptions(run_id=run_id.strip(),
                                   reporter=PrettyReporter(sys.stderr, color=False, live=False))
            result = run_claimed(stores.state, trigger_id.strip(), holder=claimed_by,
                                 seq=claim_seq, options=options, profile=profile or "")
        else:
            queued = run_queued(stores.state, trigger_id=trigger_id.strip())
            if queued is None:
                what = (f"trigger {trigger_id} is not queued" if trigger_id
                        else "no queued trigger")
                raise NotFoundError(f"{what} (see: sparkwing triggers list --status pending)")
            result = queued
        run = result.run
    if output == "json":
        emit_json({"trigger": trigger_view(result.row),
                   "run": None if run is None else {"id": run.id, "status": run.status}})
    else:
        click.echo(result.describe())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if run is not None and run.status == "success" else 1)

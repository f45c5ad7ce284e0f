"""``runs cancel``, ``runs wait``, ``runs prune`` and ``runs retry``."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

import click
from sparkwing.errors import UsageError

from ..output import output_option
from ..render import status_text, use_colour
from ..runstore import (
    all_projects_option,
    find_run,
    open_read_stores,
    profile_option,
    project_scope,
    reconcile_now,
    run_ref_option,
)

if TYPE_CHECKING:
    from sparkwing.config import Stores
    from sparkwing.storage.contracts import StateStore
    from sparkwing.storage.records import Run

#: Exit code of ``runs wait`` when the timeout passes first.
WAIT_TIMEOUT_EXIT = 2


def _duration(value: str, flag: str) -> float:
    from sparkwing.durations import parse_duration

    try:
        return parse_duration(value, flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _wait_terminal(stores: Stores, run_id: str, timeout: float, poll: float) -> Run | None:
    """Poll until the run is terminal or *timeout* passes; return the last run read."""
    deadline = time.monotonic() + timeout
    while True:
        run = stores.state.get_run(run_id)
        if run is None or run.terminal:
            return run
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return run
        time.sleep(min(poll, remaining))
        reconcile_now(stores.state)


def _run_or_queued(state: StateStore, ref: str, scope: str | None) -> tuple[Run, bool]:
    """The run *ref* names, and whether it was cancelled here: on a controller, the run of a
    trigger no runner started yet is cancelled outright (and so recorded)."""
    from sparkwing.errors import NotFoundError
    from sparkwing.ids import is_run_id

    try:
        return find_run(state, ref, scope), False
    except NotFoundError:
        remote = getattr(state, "cancel_run", None)
        if remote is None or not is_run_id(ref.strip()):
            raise
    remote(ref.strip(), by=os.environ.get("USER", ""))  # its own 404 if not queued either
    run = state.get_run(ref.strip())
    if run is None:
        raise NotFoundError(f"run {ref} not found")
    return run, True


def _cancel_report(run: Run, text: str, output: str) -> None:
    if output == "json":
        from ..output import emit_json

        emit_json({"run_id": run.id, "status": run.status, "terminal": run.terminal,
                   "cancelled": run.status == "cancelled",
                   "cancel_requested_at": run.cancel_requested_at})
    else:
        click.echo(text)


@click.command("cancel")
@run_ref_option
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the run has stopped.")
@click.option("--timeout", default="30s", show_default=True, metavar="DURATION",
              help="How long --wait waits.")
@click.option("--reason", default="", metavar="TEXT", help="Recorded with the cancel request.")
@output_option
@profile_option
@click.pass_context
def cancel_cmd(ctx: click.Context, run_ref: str, scope: str | None, wait: bool, timeout: str,
               reason: str, output: str, profile: str | None) -> None:
    """Ask a live run to stop; its running jobs are killed and the run ends cancelled.

    The process running it sees the request within about half a second. On
    a controller: profile the controller records the request (with the
    token's principal) and the runner running the run stops it; a run
    still queued for a runner is cancelled at once. Exit 0 once the run has
    stopped (or had already finished: nothing to do), 1 if it is still
    running when --timeout passes.
    """
    from sparkwing.runs.cancel import CANCELLED, request_cancel

    limit = _duration(timeout, "--timeout")
    colour = use_colour()
    with open_read_stores(profile) as stores:
        run, cancelled = _run_or_queued(stores.state, run_ref, scope)
        if run.terminal:
            what = ("cancelled" if cancelled else
                    f"already finished ({status_text(run.status, colour)}); nothing to cancel")
            _cancel_report(run, f"run {run.id} {what}", output)
            return
        done = request_cancel(stores.state, run, by=os.environ.get("USER", ""), reason=reason)
        if done == CANCELLED or not wait:
            now = stores.state.get_run(run.id) or run
            _cancel_report(now, f"run {run.id} cancelled" if done == CANCELLED
                           else f"cancel requested for run {run.id}", output)
            return
        final = _wait_terminal(stores, run.id, limit, 0.25)
    if final is None or not final.terminal:
        if output == "json" and final is not None:
            _cancel_report(final, "", output)
        click.echo(f"error: cancel requested for run {run.id}, but it is still running after "
                   f"{timeout}", err=True)
        ctx.exit(1)
    if final.status == "cancelled":
        _cancel_report(final, f"run {final.id} cancelled", output)
    else:
        _cancel_report(final, f"run {final.id} finished ({status_text(final.status, colour)}) "
                       "before the cancel took effect", output)


@click.command("wait")
@run_ref_option
@click.option("--timeout", default="10m", show_default=True, metavar="DURATION",
              help="Give up after this long (exit 2).")
@click.option("--poll", default="1s", show_default=True, metavar="DURATION",
              help="How often to look.")
@profile_option
@click.pass_context
def wait_cmd(ctx: click.Context, run_ref: str, scope: str | None, timeout: str, poll: str,
             profile: str | None) -> None:
    """Wait for a run to finish. Exit 0 success, 1 failed or cancelled, 2 timeout."""
    limit = _duration(timeout, "--timeout")
    every = _duration(poll, "--poll")
    if every <= 0:
        raise UsageError("--poll must be more than zero")
    colour = use_colour()
    with open_read_stores(profile) as stores:
        run = find_run(stores.state, run_ref, scope)
        final = _wait_terminal(stores, run.id, limit, every)
    if final is None or not final.terminal:
        click.echo(f"run {run.id} still {run.status if final is None else final.status} "
                   f"after {timeout}", err=True)
        ctx.exit(WAIT_TIMEOUT_EXIT)
    note = f": {final.error}" if final.error else ""
    click.echo(f"run {final.id} {status_text(final.status, colour)}{note}")
    ctx.exit(0 if final.status == "success" else 1)


@click.command("prune")
@click.option("--older-than", "older_than", default=None, metavar="DURATION",
              help="Delete finished runs that ended longer ago than this (e.g. 30d).")
@click.option("--run", "run_refs", multiple=True, metavar="ID",
              help="Delete this finished run (repeatable).")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@profile_option
def prune_cmd(older_than: str | None, run_refs: tuple[str, ...], dry_run: bool,
              profile: str | None) -> None:
    """Delete finished runs and their logs (live runs are never deleted)."""
    if not older_than and not run_refs:
        raise UsageError("prune needs --older-than DURATION or --run ID")
    cutoff = time.time() - _duration(older_than, "--older-than") if older_than else None
    with open_read_stores(profile) as stores:
        state = stores.state
        doomed: list[Run] = []
        for ref in run_refs:
            run = find_run(state, ref, project_scope(False))
            if not run.terminal:
                raise UsageError(f"run {run.id} is {run.status}; only finished runs are pruned")
            doomed.append(run)
        if cutoff is not None:
            doomed.extend(_finished_before(state, cutoff))
        unique = list({r.id: r for r in doomed}.values())
        for run in unique:
            if dry_run:
                click.echo(f"would delete {run.id}  {run.pipeline}  {run.status}")
                continue
            state.delete_run(run.id)
            stores.logs.delete_run(run.id)
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {len(unique)} run{'' if len(unique) == 1 else 's'}"
               + ("" if dry_run or not unique else " and their logs"))


def _finished_before(state: StateStore, cutoff: float) -> list[Run]:
    from sparkwing.storage.records import TERMINAL_RUN_STATUSES, RunFilter

    out: list[Run] = []
    before = ""
    while True:
        page = state.list_runs(RunFilter(statuses=sorted(TERMINAL_RUN_STATUSES),
                                         before_id=before, limit=500))
        for run in page:
            ended = run.finished_at or run.started_at or run.created_at
            if ended < cutoff:
                out.append(run)
        if len(page) < 500:
            return out
        before = page[-1].id


def retry_argv(run: Any, overrides: list[str]) -> tuple[list[str], list[str]]:
    """Pipeline flags that repeat *run*'s inputs, then *overrides*; and the secrets left out.

    Secret inputs are stored redacted, so they cannot be repeated: they are
    left out (their default applies) unless given again in *overrides*.
    """
    from sparkwing.runs.retry import retry_inputs
    from sparkwing.runs.start import inputs_argv

    given = {a.split("=", 1)[0].lstrip("-") for a in overrides if a.startswith("--")}
    given |= {g[3:] for g in given if g.startswith("no-")}
    inputs, missing = retry_inputs(run, given)
    return inputs_argv(inputs) + overrides, missing


def _retry_args(run: Any, reuse_passed: bool, overrides: list[str]) -> Any:
    from ..commands.run import RunArgs

    argv, missing = retry_argv(run, overrides)
    for flag in missing:
        click.echo(f"note: secret input --{flag} of run {run.id} is not stored; pass it again "
                   f"(sparkwing runs retry --run {run.id} ... --{flag} VALUE)", err=True)
    flags = dict((run.invocation or {}).get("flags") or {})
    cwd = str((run.invocation or {}).get("cwd") or "")
    if not cwd or not os.path.isdir(cwd):
        cwd = os.getcwd()
    ra = RunArgs(
        pipeline=run.pipeline, cwd=cwd, retry_of=run.id, reuse_passed=reuse_passed,
        pipeline_args=argv, profile=str(flags.get("--profile") or ""),
        local_only=bool(flags.get("--sw-local-only")), no_cache=bool(flags.get("--sw-no-cache")),
        dry_run=bool(flags.get("--sw-dry-run")),
    )
    ra.flags = {k: v for k, v in flags.items() if k not in ("-C", "--sw-cd")}
    return ra


def _queue_retries(state: Any, runs: list[Run], full: bool, overrides: tuple[str, ...],
                   output: str | None) -> None:
    """On a controller: queue each retry for a runner (POST /runs/{id}/retry) and say so."""
    if overrides:
        raise UsageError("pipeline flags cannot be changed when retrying through a controller "
                         f"(got {' '.join(overrides)}); the retry repeats the run's inputs")
    summaries = [state.retry_run(run.id, full=full) for run in runs]
    if output == "json":
        from ..output import emit_ndjson

        emit_ndjson(summaries)
        return
    for summary in summaries:
        click.echo(f"retry of {summary['retry_of']} queued as run {summary['id']} (trigger "
                   f"{summary['trigger_id']}, {'every job' if full else 'failed jobs'}); a "
                   "runner will run it: sparkwing runs wait --run " + str(summary["id"]))


@click.command(
    "retry", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option("--run", "run_refs", multiple=True, metavar="RUN",
              help="Run to retry (repeatable): an id, or latest (the default).")
@click.option("--failed", "mode", flag_value="failed",
              help="Reuse jobs that passed; run the failed and unreached ones again.")
@click.option("--all", "mode", flag_value="all", help="Run every job again.")
@click.option("-o", "--output", "output", type=click.Choice(["pretty", "json"]), default=None,
              help="Progress as a live view or NDJSON records (default: pretty on a terminal).")
@all_projects_option
@profile_option
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def retry_cmd(run_refs: tuple[str, ...], mode: str | None, output: str | None,
              all_projects: bool, profile: str | None, overrides: tuple[str, ...]) -> None:
    """Run a recorded run again as a new run tagged retry_of (one of --failed / --all).

    The new run repeats the pipeline and its inputs; pipeline flags given
    after the options override them (secret inputs must be given again).
    Exit 0 when every retried run succeeded. On a controller: profile the
    retry is queued for the controller's runners instead (same commit and
    inputs, no overrides) and the command returns once it is queued.
    """
    if mode is None:
        raise UsageError("retry needs --failed (reuse passed jobs) or --all (run everything)")
    scope = project_scope(all_projects)
    with open_read_stores(profile) as stores:
        runs = [find_run(stores.state, ref, scope) for ref in run_refs or ("latest",)]
        for run in runs:
            if not run.terminal:
                raise UsageError(f"run {run.id} is still {run.status}; wait for it or cancel it "
                                 "first")
        if getattr(stores.state, "retry_run", None) is not None:
            _queue_retries(stores.state, runs, mode == "all", overrides, output)
            return
    from ..commands.run import execute

    worst = 0
    results: list[tuple[str, int]] = []
    for run in runs:
        ra = _retry_args(run, mode == "failed", list(overrides))
        if profile and not ra.profile:
            ra.profile = profile
        ra.output = output or ""
        code = execute(ra)
        results.append((run.id, code))
        worst = max(worst, code)
    sys.stdout.flush()
    if len(results) > 1:
        for run_id, code in results:
            click.echo(f"retry of {run_id}: {'success' if code == 0 else 'failed'}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # as `sparkwing run` does: job threads left behind by a timeout must not hold the process
    os._exit(worst)

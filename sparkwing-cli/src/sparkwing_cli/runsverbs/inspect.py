"""``runs status``, ``runs errors`` and ``runs get``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sparkwing.durations import format_duration
from sparkwing.termtext import terminal_safe
from sparkwing.triggers.civendor import CI_EMBEDDED, CI_KEYS, describe

from ..output import emit_json, output_option
from ..render import (
    ago,
    flag_value,
    git_ref,
    local_time,
    paint,
    span,
    status_text,
    table,
    use_colour,
)
from ..runstore import (
    find_run,
    from_option,
    open_read_stores,
    profile_option,
    reconcile_now,
    run_ref_option,
)

if TYPE_CHECKING:
    from sparkwing.config import Stores
    from sparkwing.storage.contracts import LogStore
    from sparkwing.storage.records import Run

#: ``[RUN]`` / ``--run RUN`` (default latest) and ``--all-projects``; see :func:`run_ref_option`.
run_option = run_ref_option

#: Seconds between polls while following a run.
FOLLOW_POLL_S = 0.5
#: Reconcile orphaned runs at most this often while following.
RECONCILE_EVERY_S = 5.0


def status_payload(stores: Stores, run: Run) -> dict[str, Any]:
    """The ``runs status -o json`` object.

    :func:`sparkwing.views.run_detail` (``run``, ``nodes`` with their steps
    and excerpts, ``approvals``, ``pauses``: what the dashboard's API answers
    for the run) plus ``log_path``.
    """
    from sparkwing.views import run_detail

    payload = run_detail(stores.state, run)
    payload["log_path"] = log_path(stores.logs, run.id)
    return payload


def log_path(logs: LogStore, run_id: str) -> str | None:
    """The directory holding the run's log files, when the log store keeps them on this disk."""
    run_dir = getattr(logs, "run_dir", None)
    if run_dir is None:
        return None
    try:
        path = run_dir(run_id)
    except Exception:
        return None
    return str(path) if isinstance(path, os.PathLike) and os.path.isdir(path) else None


def node_state(node: dict[str, Any]) -> str:
    """A node's outcome when done, else its lifecycle status (of a node view)."""
    status = str(node["status"])
    return str(node["outcome"] or status) if status == "done" else status


def print_status(payload: dict[str, Any], colour: bool) -> None:
    """Render the status payload for people."""
    run = payload["run"]
    out = click.echo
    out(f"{paint(run['id'], '1', colour)}  {run['pipeline']}  "
        f"{status_text(run['status'], colour)}")
    ref = git_ref(run["git_branch"], run["git_sha"])
    trigger = run["trigger_source"] + (f" by {run['trigger_user']}" if run["trigger_user"] else "")
    out(f"  ref:      {ref}    trigger: {trigger}    profile: {run['profile'] or '-'}")
    meta = (run.get("invocation") or {}).get("trigger") or {}
    extra = dict(meta.get("extra") or {})
    ci_line = ""
    if run["trigger_source"] == CI_EMBEDDED and extra.get("vendor"):
        ci_line = describe(extra)
        for key in CI_KEYS:
            extra.pop(key, None)
    details = [f"event {meta['event']}" if meta.get("event") else "",
               f"delivery {meta['delivery_id']}" if meta.get("delivery_id") else "",
               *(f"{k}={v}" for k, v in extra.items()),
               f"request {meta['id']}" if meta.get("id") else ""]
    if any(details):
        out(f"  trigger:  {', '.join(d for d in details if d)}")
    if ci_line:
        out(f"  ci:       {terminal_safe(ci_line)}")
    started = run["started_at"] or run["created_at"]
    out(f"  started:  {local_time(started)} ({ago(started)})    "
        f"duration: {format_duration(run['duration_s'])}")
    if run["args"]:
        shown = " ".join(f"--{k}={flag_value(v)}" for k, v in run["args"].items())
        out(f"  args:     {shown}")
    if run["error"]:
        out(f"  error:    {paint(terminal_safe(run['error']), '31', colour)}")
    if payload["log_path"]:
        out(f"  logs:     {payload['log_path']}")
    nodes = payload["nodes"]
    if not nodes:
        return
    out("")
    rows, visible = [], []
    for n in nodes:
        state = node_state(n)
        detail = terminal_safe(n["error"].splitlines()[0]) if n["error"] else ""
        if n["exit_code"] is not None:
            detail = f"exit {n['exit_code']}" + (f": {detail}" if detail else "")
        if n["failure_reason"]:
            detail = f"[{n['failure_reason']}] {detail}"
        if n["attempts"] > 1:
            detail = f"(attempt {n['attempts']}) {detail}".rstrip()
        cells = [n["node_id"], state, span(n["started_at"], n["finished_at"]), detail]
        visible.append(cells)
        rows.append([cells[0], status_text(state, colour), *cells[2:]])
        for s in n["steps"]:
            sc = [f"  · {s['step_id']}", s["status"], span(s["started_at"], s["finished_at"]),
                  terminal_safe((s["error"] or "").split("\n", 1)[0])]
            visible.append(sc)
            rows.append([paint(sc[0], "90", colour), status_text(s["status"], colour), *sc[2:]])
    for line in table(rows, ["JOB", "STATUS", "DURATION", "DETAIL"], visible):
        out("  " + line)
    notes = [(n["node_id"], a) for n in nodes for a in n["annotations"]]
    if notes:
        out("")
        for nid, text in notes:
            out(f"  {paint('✎', '36', colour)} {nid}: {text}")
    for n in nodes:
        lines = n["excerpt"]["lines"] if n["excerpt"] else []
        if n["outcome"] != "failed" or not lines:
            continue
        out("")
        out(paint(f"  ── {n['node_id']}: last lines ──", "31", colour))
        for line in lines[-20:]:
            out(f"  │ {terminal_safe(line, colour)}")
        if n["excerpt"].get("logs"):
            out(paint(f"  more: {n['excerpt']['logs']}", "90", colour))


def follow_until_done(stores: Stores, run_id: str, colour: bool, *, quiet: bool = False) -> Run:
    """Poll a run until it is terminal, printing each job's transitions; return the final run."""
    seen: dict[str, str] = {}
    last_reconcile = time.monotonic()
    while True:
        run = stores.state.get_run(run_id)
        if run is None:
            from sparkwing.errors import NotFoundError

            raise NotFoundError(f"run {run_id} disappeared while following it")
        if not quiet:
            for node in stores.state.list_nodes(run_id):
                state = node.outcome or node.status if node.status == "done" else node.status
                if seen.get(node.node_id) != state and state != "pending":
                    seen[node.node_id] = state
                    note = f"  {terminal_safe(node.error.splitlines()[0])}" if node.error else ""
                    click.echo(f"{time.strftime('%H:%M:%S')}  {node.node_id}  "
                               f"{status_text(state, colour)}{note}")
        if run.terminal:
            return run
        time.sleep(FOLLOW_POLL_S)
        if time.monotonic() - last_reconcile >= RECONCILE_EVERY_S:
            last_reconcile = time.monotonic()
            reconcile_now(stores.state)


@click.command("status")
@run_option
@click.option("-f", "--follow", is_flag=True, help="Wait for the run to finish, showing progress.")
@profile_option
@from_option
@output_option
@click.pass_context
def status_cmd(ctx: click.Context, run_ref: str, scope: str | None, follow: bool,
               profile: str | None, from_dir: Path | None, output: str) -> None:
    """Show a run and its jobs (default: the newest run of this project).

    With --from DIR, a run recorded in DIR (default: the newest there).
    Exit 0 only when the run succeeded (1 otherwise).
    """
    from sparkwing.errors import UsageError

    if follow and from_dir is not None:
        raise UsageError("--follow cannot be combined with --from: a record directory is read "
                         "as it is")
    colour = use_colour()
    with open_read_stores(profile, from_dir=from_dir) as stores:
        run = find_run(stores.state, run_ref, None if from_dir is not None else scope)
        if follow and not run.terminal:
            run = follow_until_done(stores, run.id, colour, quiet=output == "json")
            if output != "json":
                click.echo("")
        payload = status_payload(stores, run)
    if output == "json":
        emit_json(payload)
    else:
        print_status(payload, colour)
    ctx.exit(0 if run.status == "success" else 1)


@click.command("errors")
@run_option
@profile_option
@from_option
@output_option
def errors_cmd(run_ref: str, scope: str | None, profile: str | None, from_dir: Path | None,
               output: str) -> None:
    """Show the failed jobs of a run: error, failure reason, exit code and last lines."""
    from sparkwing.views import node_views

    with open_read_stores(profile, from_dir=from_dir) as stores:
        run = find_run(stores.state, run_ref, None if from_dir is not None else scope)
        nodes = [n for n in node_views(stores.state, run.id) if n["outcome"] == "failed"]
    failed = [
        {
            "node_id": n["node_id"],
            "error": n["error"],
            "failure_reason": n["failure_reason"],
            "exit_code": n["exit_code"],
            "attempts": n["attempts"],
            "excerpt": n["excerpt"]["lines"] if n["excerpt"] else [],
            "excerpt_truncated": bool(n["excerpt"] and n["excerpt"]["truncated"]),
            "logs": f"sparkwing runs logs --run {run.id} --node {n['node_id']}",
        }
        for n in nodes
    ]
    if output == "json":
        emit_json({"run_id": run.id, "pipeline": run.pipeline, "status": run.status,
                   "error": run.error, "failed": failed})
        return
    colour = use_colour()
    click.echo(f"{run.id}  {run.pipeline}  {status_text(run.status, colour)}"
               + (f": {terminal_safe(run.error)}" if run.error else ""))
    if not failed:
        click.echo("no failed jobs")
        return
    for f in failed:
        facts = []
        if f["exit_code"] is not None:
            facts.append(f"exit code {f['exit_code']}")
        if f["failure_reason"]:
            facts.append(f"reason {f['failure_reason']}")
        if f["attempts"] > 1:
            facts.append(f"{f['attempts']} attempts")
        click.echo("")
        click.echo(paint(f"✗ {f['node_id']}", "31;1", colour)
                   + (f"  ({', '.join(facts)})" if facts else ""))
        for line in (f["error"] or "").splitlines():
            click.echo(f"  {terminal_safe(line)}")
        if f["excerpt"]:
            click.echo(paint("  last lines:", "90", colour))
            for line in f["excerpt"][-20:]:
                click.echo(f"  │ {terminal_safe(line, colour)}")
        click.echo(paint(f"  logs: {f['logs']}", "90", colour))


@click.command("get")
@run_option
@profile_option
@from_option
def get_cmd(run_ref: str, scope: str | None, profile: str | None,
            from_dir: Path | None) -> None:
    """Print the raw run record (with its plan) and its nodes as JSON."""
    with open_read_stores(profile, from_dir=from_dir) as stores:
        run = find_run(stores.state, run_ref, None if from_dir is not None else scope)
        nodes = [n.to_dict() for n in stores.state.list_nodes(run.id)]
    emit_json({"run": run.to_dict(), "nodes": nodes})


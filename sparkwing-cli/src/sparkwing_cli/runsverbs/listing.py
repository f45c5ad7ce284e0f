"""``runs list`` and ``runs stats``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sparkwing.durations import format_duration
from sparkwing.errors import UsageError

from ..output import emit_json, emit_ndjson, output_option
from ..render import ago, git_ref, run_duration, status_text, table, use_colour
from ..runstore import (
    all_projects_option,
    from_option,
    newest_first,
    open_read_stores,
    profile_option,
    project_scope,
)

if TYPE_CHECKING:
    from sparkwing.storage.records import Run, RunFilter

#: Runs ``runs stats`` looks at, newest first.
STATS_WINDOW = 500


def parse_since(value: str | None, flag: str = "--since") -> float | None:
    """Turn ``--since 24h`` into an epoch time (``None`` when not given)."""
    if not value:
        return None
    from sparkwing.durations import parse_duration

    try:
        return time.time() - parse_duration(value, flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_statuses(values: tuple[str, ...]) -> list[str]:
    """Validate ``--status`` values (``!`` prefix allowed) and return them."""
    from sparkwing.storage.records import RUN_STATUSES

    for v in values:
        if v.lstrip("!") not in RUN_STATUSES:
            raise UsageError(
                f"--status {v!r} is not a run status; use one of {', '.join(RUN_STATUSES)} "
                "(prefix ! to exclude)"
            )
    return list(values)


@click.command("list")
@click.option("--pipeline", "pipelines", multiple=True, metavar="NAME",
              help="Only this pipeline (repeatable; prefix ! to exclude).")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="pending|running|success|failed|cancelled (repeatable; prefix ! to exclude).")
@click.option("--branch", default="", metavar="NAME", help="Only runs of this git branch.")
@click.option("--sha", default="", metavar="PREFIX", help="Only runs whose commit starts so.")
@click.option("--search", default="", metavar="TEXT",
              help="Substring of the id, pipeline, branch, commit or error.")
@click.option("--since", default=None, metavar="DURATION", help="Only runs started within, e.g. 24h, 7d.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="At most this many runs, newest first.")
@click.option("-q", "--quiet", is_flag=True, help="Print run ids only.")
@all_projects_option
@profile_option
@from_option
@output_option
def list_cmd(pipelines: tuple[str, ...], statuses: tuple[str, ...], branch: str, sha: str,
             search: str, since: str | None, limit: int, quiet: bool, all_projects: bool,
             profile: str | None, from_dir: Path | None, output: str) -> None:
    """List recorded runs, newest first (-o json: one JSON object per line).

    Inside a project, only its runs; --all-projects lists every project's
    runs with a PROJECT column. --from DIR lists the runs recorded in DIR
    (by `sparkwing run --sw-record-dir DIR`), of every project.
    """
    from sparkwing.projectruns import list_project_runs, project_name, run_project
    from sparkwing.storage.records import RunFilter
    from sparkwing.views import run_rows

    flt = RunFilter(
        pipelines=list(pipelines), statuses=check_statuses(statuses), branch=branch,
        sha_prefix=sha, search=search, since=parse_since(since), limit=limit,
    )
    scope = project_scope(all_projects or from_dir is not None)
    with open_read_stores(profile, from_dir=from_dir) as stores:
        runs = newest_first(list_project_runs(stores.state, flt, scope))
        rows = run_rows(stores.state, runs) if output == "json" and not quiet else []
        elsewhere = bool(scope and not runs and stores.state.list_runs(RunFilter(limit=1)))
    if quiet:
        for run in runs:
            click.echo(run.id)
        return
    if output == "json":
        emit_ndjson(rows)
        return
    if not runs:
        where = (f" for the project at {scope} (--all-projects lists every project)"
                 if elsewhere else "")
        click.echo("no runs found" + (" (filters applied)" if _filtered(flt) else "") + where)
        return
    colour = use_colour()
    now = time.time()
    header = ["RUN", "PIPELINE", "STATUS", "REF", "TRIGGER", "STARTED", "DURATION"]
    if scope is None:
        header.append("PROJECT")
    visible, shown = [], []
    for r in runs:
        cells = [r.id, r.pipeline, r.status, git_ref(r.git_branch, r.git_sha), r.trigger_source or "-",
                 ago(r.started_at or r.created_at, now), format_duration(run_duration(r, now))]
        if scope is None:
            cells.append(project_name(run_project(r)) or "-")
        visible.append(cells)
        shown.append([*cells[:2], status_text(r.status, colour), *cells[3:]])
    for line in table(shown, header, visible):
        click.echo(line)


def _filtered(flt: RunFilter) -> bool:
    return bool(flt.pipelines or flt.statuses or flt.branch or flt.sha_prefix or flt.search
                or flt.since is not None)


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    # nearest-rank: the smallest value with at least pct% of the values at or below it
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def summarise(runs: list[Run]) -> dict[str, Any]:
    """Counts by status, success rate over finished runs, and avg/p95 of finished durations."""
    from sparkwing.storage.records import RUN_STATUSES

    by_status = {s: 0 for s in RUN_STATUSES}
    durations: list[float] = []
    for r in runs:
        by_status[r.status] = by_status.get(r.status, 0) + 1
        if r.terminal:
            d = run_duration(r)
            if d is not None:
                durations.append(d)
    finished = sum(by_status.get(s, 0) for s in ("success", "failed", "cancelled"))
    return {
        "runs": len(runs),
        "by_status": by_status,
        "success_rate": round(100.0 * by_status["success"] / finished, 1) if finished else None,
        "avg_duration_s": round(sum(durations) / len(durations), 3) if durations else None,
        "p95_duration_s": round(_percentile(durations, 95), 3) if durations else None,
    }


@click.command("stats")
@click.option("--pipeline", "pipelines", multiple=True, metavar="NAME",
              help="Only this pipeline (repeatable; prefix ! to exclude).")
@click.option("--since", default=None, metavar="DURATION", help="Only runs started within, e.g. 7d.")
@all_projects_option
@profile_option
@output_option
def stats_cmd(pipelines: tuple[str, ...], since: str | None, all_projects: bool,
              profile: str | None, output: str) -> None:
    """Counts by status, success % and avg/p95 duration over the last 500 runs."""
    from sparkwing.projectruns import list_project_runs
    from sparkwing.storage.records import RunFilter

    flt = RunFilter(pipelines=list(pipelines), since=parse_since(since), limit=STATS_WINDOW)
    with open_read_stores(profile) as stores:
        runs = list_project_runs(stores.state, flt, project_scope(all_projects))
    per: dict[str, list[Run]] = {}
    for r in runs:
        per.setdefault(r.pipeline, []).append(r)
    result = summarise(runs)
    result["window"] = STATS_WINDOW
    result["pipelines"] = {name: summarise(rs) for name, rs in sorted(per.items())}
    if output == "json":
        emit_json(result)
        return
    if not runs:
        click.echo("no runs found")
        return
    header = ["PIPELINE", "RUNS", "SUCCESS", "FAILED", "CANCELLED", "LIVE", "SUCCESS %", "AVG",
              "P95"]
    rows = [_stats_row(name, s) for name, s in result["pipelines"].items()]
    if len(rows) > 1:
        rows.append(_stats_row("(all)", result))
    for line in table(rows, header):
        click.echo(line)
    if len(runs) >= STATS_WINDOW:
        sys.stdout.write(f"(over the newest {STATS_WINDOW} runs)\n")


def _stats_row(name: str, s: dict[str, Any]) -> list[str]:
    st = s["by_status"]
    rate = s["success_rate"]
    return [
        name, str(s["runs"]), str(st["success"]), str(st["failed"]), str(st["cancelled"]),
        str(st["running"] + st["pending"]), "-" if rate is None else f"{rate:.1f}",
        format_duration(s["avg_duration_s"]), format_duration(s["p95_duration_s"]),
    ]

"""``sparkwing doctor``: check the home and the stores of the profile, and say how to fix them.

Reads only, so it also works on a read-only home. Exit status 0 when no
check failed (warnings allowed), 1 when one did.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..output import emit_json, output_option
from ..runstore import current_project, profile_option

if TYPE_CHECKING:
    from sparkwing.config import ResolvedProfile
    from sparkwing.health import Finding

#: Free space below which the home's file system gets a warning.
LOW_SPACE_BYTES = 64 * 1024 * 1024


@click.command("doctor")
@profile_option
@output_option
@click.pass_context
def doctor_cmd(ctx: click.Context, profile: str | None, output: str) -> None:
    """Check the home and the profile's stores: files, full database integrity, free space.

    Each problem comes with what to do about it. Exit 0 when nothing failed
    (warnings allowed), 1 otherwise.
    """
    from sparkwing.health import worst
    from sparkwing.paths import sparkwing_home

    home = sparkwing_home()
    findings = home_findings(home)
    resolved, problem = _resolve(profile)
    if problem is not None:
        findings.append(problem)
    else:
        assert resolved is not None
        findings.extend(store_findings(resolved, home))
    status = worst(findings)
    if output == "json":
        emit_json({"home": str(home), "profile": resolved.name if resolved else None,
                   "status": status, "findings": [f.to_dict() for f in findings]})
    else:
        _print(home, resolved, findings)
    ctx.exit(1 if status == "fail" else 0)


def _resolve(profile: str | None) -> tuple[ResolvedProfile | None, Finding | None]:
    from sparkwing.config import resolve_profile
    from sparkwing.errors import SparkwingError
    from sparkwing.health import Finding

    try:
        return resolve_profile(flag=profile, pipeline=None, project=current_project()), None
    except SparkwingError as exc:
        return None, Finding("profile", "fail", str(exc), "fix the profile named above")


def home_findings(home: Path) -> list[Finding]:
    """The home directory: there, writable, private; and the free space of its file system."""
    from sparkwing.health import Finding
    from sparkwing.paths import can_create_in

    if not home.exists():
        return [Finding("home", "ok", f"{home} does not exist yet (the first run creates it)")]
    if not home.is_dir():
        return [Finding("home", "fail", f"{home} is not a directory",
                        "point SPARKWING_HOME at a directory")]
    out: list[Finding] = []
    notes = []
    mode = home.stat().st_mode & 0o777
    if mode & 0o077:
        out.append(Finding("home.private", "warn", f"{home} is readable by others (mode {mode:o})",
                           f"chmod 700 {home}"))
    else:
        notes.append("owner-only")
    if can_create_in(home):
        notes.append("writable")
    else:
        out.append(Finding("home.writable", "warn", f"{home} cannot be written",
                           "read commands and `dashboard start --read-only` work; runs need "
                           "write access"))
    out.insert(0, Finding("home", "ok", f"{home}" + (f" ({', '.join(notes)})" if notes else "")))
    usage = shutil.disk_usage(home)
    free = f"{usage.free / 2**20:.0f} MiB free of {usage.total / 2**20:.0f} MiB"
    if usage.free < LOW_SPACE_BYTES:
        out.append(Finding("home.space", "warn", free,
                           "free some space: a full disk fails runs (sparkwing runs prune "
                           "--older-than 30d removes old runs)"))
    else:
        out.append(Finding("home.space", "ok", free))
    return out


def store_findings(resolved: ResolvedProfile, home: Path) -> list[Finding]:
    """The state store (in full for SQLite), then the log store against the recorded runs."""
    from sparkwing.health import Finding

    state_block = resolved.blocks.get("state", {})
    found: list[Finding] = []
    if state_block.get("type") == "sqlite":
        from sparkwing_sqlite.health import check_database

        raw = state_block.get("path")
        path = Path(str(raw)).expanduser() if raw else home / "state.db"
        found.extend(check_database(path))
        if any(f.status == "fail" for f in found):
            return found
    run_ids, problem = _recorded_runs(resolved)
    if problem is not None:
        return [*found, problem]
    found.append(Finding("state.runs", "ok", f"{len(run_ids)} runs recorded"))
    found.extend(_log_findings(resolved.blocks.get("logs", {}), home, run_ids))
    return found


def _recorded_runs(resolved: ResolvedProfile) -> tuple[set[str], Finding | None]:
    from sparkwing.config import open_stores
    from sparkwing.errors import SparkwingError
    from sparkwing.health import Finding
    from sparkwing.storage.records import RunFilter

    try:
        with open_stores(resolved) as stores:
            return {r.id for r in stores.state.list_runs(RunFilter(limit=0))}, None
    except SparkwingError as exc:
        return set(), Finding("state.open", "fail", str(exc), "see the error above")


def _log_findings(block: dict[str, Any], home: Path, run_ids: set[str]) -> list[Finding]:
    from sparkwing.health import Finding

    if block.get("type") != "filesystem":
        return []
    raw = block.get("path")
    root = Path(str(raw)).expanduser() if raw else home / "runs"
    try:
        with os.scandir(root) as entries:
            dirs = {e.name for e in entries if e.is_dir() and not e.name.startswith(".")}
    except FileNotFoundError:
        return [Finding("logs", "ok", f"{root} does not exist yet")]
    except OSError as exc:
        return [Finding("logs", "fail", f"cannot list {root}: {exc.strerror or exc}",
                        "check the permissions of the log directory")]
    orphans = sorted(dirs - run_ids)
    out = [Finding("logs", "ok", f"{root} ({len(dirs)} run directories)")]
    if orphans:
        shown = ", ".join(orphans[:3]) + (", ..." if len(orphans) > 3 else "")
        out.append(Finding(
            "logs.orphans", "warn",
            f"{len(orphans)} log directories belong to no recorded run ({shown})",
            f"they are left from lost or pruned runs; delete them from {root} if unneeded",
        ))
    return out


_MARKS = {"ok": "ok", "warn": "warn", "fail": "FAIL"}


def _print(home: Path, resolved: ResolvedProfile | None, findings: list[Finding]) -> None:
    from ..render import paint, use_colour

    colour = use_colour()
    codes = {"ok": "32", "warn": "33", "fail": "31"}
    profile = resolved.name if resolved else "?"
    click.echo(f"sparkwing doctor: home {home}, profile {profile}")
    width = max(len(f.check) for f in findings)
    for f in findings:
        mark = paint(_MARKS[f.status].ljust(4), codes[f.status], colour)
        click.echo(f"  {mark}  {f.check.ljust(width)}  {f.detail}")
        if f.hint and f.status != "ok":
            click.echo(f"        {' ' * width}  → {f.hint}")
    failed = sum(f.status == "fail" for f in findings)
    warned = sum(f.status == "warn" for f in findings)
    if not failed and not warned:
        click.echo("no problems found")
    else:
        click.echo(f"{failed} failed, {warned} warning{'' if warned == 1 else 's'}")

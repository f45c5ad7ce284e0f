"""``sparkwing cache ls|rm|prune``: the memo cache index of the state store.

Entries are the memoized node results (``memoize(...)`` on a job): key ->
the run and node that produced the output. The store is the one of the
profile that resolves here (``--profile``, else the project's
``defaults.profile``, else the laptop's ``state.db``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..clickstyle import SparkwingGroup
from ..output import emit_json, emit_ndjson, output_option

_profile_option = click.option(
    "--profile", "profile_name", metavar="NAME", default=None,
    help="Use this profile's state store (default: the one that resolves here).",
)
_dir_option = click.option(
    "-C", "--cd", "directory", metavar="DIR", default=None,
    type=click.Path(file_okay=False, path_type=Path), help="Behave as if started in DIR.",
)


@click.group("cache", cls=SparkwingGroup)
def cache_group() -> None:
    """List, remove and prune memoized job results (the memo cache index)."""


@cache_group.command("ls")
@click.option("--prefix", default="", metavar="P", help="Only keys starting with P.")
@click.option("--all", "include_expired", is_flag=True, help="Include expired entries.")
@_profile_option
@_dir_option
@output_option
def ls_cmd(prefix: str, include_expired: bool, profile_name: str | None,
           directory: Path | None, output: str) -> None:
    """List cache entries, newest first (-o json: one object per line)."""
    with _state(profile_name, directory) as state:
        entries = state.cache_list(prefix=prefix, include_expired=include_expired)
    now = time.time()
    if output == "json":
        emit_ndjson([entry_dict(e, now) for e in entries])
        return
    if not entries:
        hint = "" if include_expired else " (--all includes expired ones)"
        click.echo(f"no cache entries{hint}")
        return
    rows = [("KEY", "PIPELINE", "ORIGIN", "CREATED", "EXPIRES", "HITS", "LAST HIT")]
    for e in entries:
        rows.append((
            e.key, e.pipeline or "-", f"{e.run_id}/{e.node_id}",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.created_at)),
            _expires(e.expires_at, now), str(e.hits),
            f"{_span(now - e.last_hit_at)} ago" if e.last_hit_at else "-",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@cache_group.command("rm")
@click.option("--key", default=None, metavar="K", help="Remove the entry with this key.")
@click.option("--all", "remove_all", is_flag=True, help="Remove every entry (needs --yes).")
@click.option("--yes", is_flag=True, help="Confirm --all.")
@_profile_option
@_dir_option
@output_option
def rm_cmd(key: str | None, remove_all: bool, yes: bool, profile_name: str | None,
           directory: Path | None, output: str) -> None:
    """Remove one entry (--key K) or every entry (--all --yes)."""
    from sparkwing.errors import NotFoundError, UsageError

    if (key is None) == (not remove_all):
        raise UsageError("give exactly one of --key K or --all")
    if remove_all and not yes:
        raise UsageError("cache rm --all removes every cache entry; add --yes to confirm")
    with _state(profile_name, directory) as state:
        if key is not None:
            if not state.cache_delete(key):
                raise NotFoundError(f'no cache entry with key "{key}"')
            removed = [key]
        else:
            removed = [e.key for e in state.cache_list(include_expired=True)
                       if state.cache_delete(e.key)]
    if output == "json":
        emit_json({"removed": removed})
    elif key is not None:
        click.echo(f"removed {key}")
    else:
        click.echo(f"removed {len(removed)} cache {_entries(len(removed))}")


@cache_group.command("prune")
@_profile_option
@_dir_option
@output_option
def prune_cmd(profile_name: str | None, directory: Path | None, output: str) -> None:
    """Remove the expired entries and say how many went."""
    with _state(profile_name, directory) as state:
        count = state.cache_prune(time.time())
    if output == "json":
        emit_json({"pruned": count})
    else:
        click.echo(f"pruned {count} expired cache {_entries(count)}")


def entry_dict(entry: Any, now: float) -> dict[str, Any]:
    """One entry as ``cache ls -o json`` prints it (times are Unix seconds)."""
    return {
        "key": entry.key,
        "pipeline": entry.pipeline,
        "run_id": entry.run_id,
        "node_id": entry.node_id,
        "created_at": entry.created_at,
        "expires_at": entry.expires_at if entry.expires_at > 0 else None,
        "expired": 0 < entry.expires_at <= now,
        "hits": entry.hits,
        "last_hit_at": entry.last_hit_at,
    }


@contextmanager
def _state(profile_name: str | None, directory: Path | None) -> Iterator[Any]:
    """Open the state store of the profile that resolves here; close everything after."""
    from sparkwing.config import find_project, load_project, open_stores, resolve_profile
    from sparkwing.config.project import PROJECT_DIR, PROJECT_FILE
    from sparkwing.errors import UsageError

    if directory is not None and not directory.is_dir():
        raise UsageError(f'-C: "{directory}" is not a directory')
    start = directory if directory is not None else Path.cwd()
    root = find_project(start)
    project = None
    if root is not None and (root / PROJECT_DIR / PROJECT_FILE).is_file():
        project = load_project(start)
    resolved = resolve_profile(flag=profile_name, pipeline=None, project=project)
    with open_stores(resolved) as stores:
        yield stores.state


def _entries(n: int) -> str:
    return "entry" if n == 1 else "entries"


def _expires(expires_at: float, now: float) -> str:
    if expires_at <= 0:
        return "never"
    if expires_at <= now:
        return f"expired {_span(now - expires_at)} ago"
    return f"in {_span(expires_at - now)}"


def _span(seconds: float) -> str:
    """A short, rounded-down span: ``45s``, ``12m``, ``3h05m``, ``6d23h``."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"

"""``sparkwing profile``: which profile a command would use here, why, and what it points at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..output import emit_json, output_option

#: Files whose presence in .sparkwing/ means the project config must be read
#: (sparkwing.yaml, or a retired file the loader reports).
_PROJECT_FILES = ("sparkwing.yaml", "pipelines.yaml", "backends.yaml", "runners.yaml",
                  "sources.yaml")


@click.command("profile")
@click.option("--profile", "profile_name", metavar="NAME", default=None,
              help="Resolve this profile (as --profile on sparkwing run would).")
@click.option("--pipeline", "pipeline_name", metavar="NAME", default=None,
              help="Resolve for this pipeline (its profile: and requires: apply).")
@click.option("-C", "--cd", "directory", metavar="DIR", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="Behave as if started in DIR.")
@click.option("--sw-local-only", "local_only", is_flag=True,
              help="Show what --sw-local-only on sparkwing run would use.")
@click.option("--check", is_flag=True,
              help="Open each store and make a round trip to it (read; for object stores "
                   "also write, read back and delete one object); exit 1 if any fails.")
@output_option
def profile_cmd(
    profile_name: str | None,
    pipeline_name: str | None,
    directory: Path | None,
    local_only: bool,
    check: bool,
    output: str,
) -> None:
    """Show the profile that resolves here and why, with each surface's settings.

    Order: --sw-local-only > --profile > the pipeline's profile: >
    defaults.profile in .sparkwing/sparkwing.yaml > laptop. Tokens are
    never printed. With --check, also prove each store answers.
    """
    from sparkwing.config import find_project, load_project, resolve_profile
    from sparkwing.errors import UsageError

    start = directory if directory is not None else Path.cwd()
    if directory is not None and not directory.is_dir():
        raise UsageError(f'-C: "{directory}" is not a directory')
    # Outside a project only --profile and the built-in laptop apply; a
    # .sparkwing/ without sparkwing.yaml counts as no project unless a
    # pipeline was asked for.
    root = find_project(start)
    project = None
    if pipeline_name is not None or (
        root is not None and any((root / ".sparkwing" / f).exists() for f in _PROJECT_FILES)
    ):
        project = load_project(start)
    pipeline = project.pipeline(pipeline_name) if project and pipeline_name else None
    resolved = resolve_profile(
        flag=profile_name, pipeline=pipeline, project=project, local_only=local_only,
    )
    if check:
        _check(resolved, output)
        return
    profile = resolved.profile
    public = profile.to_public_dict()
    source = profile.source if not profile.line else f"{profile.source}:{profile.line}"
    if output == "json":
        emit_json({
            "name": profile.name,
            "reason": resolved.reason,
            "source": source,
            "description": profile.description,
            "state": public["state"],
            "cache": public["cache"],
            "logs": public["logs"],
            "controller": public["controller"],
            "defaulted": public["defaulted"],
            "local_only": resolved.local_only,
        })
        return
    click.echo(f"profile:     {profile.name}")
    click.echo(f"why:         {resolved.reason}")
    click.echo(f"source:      {source}")
    if profile.description:
        click.echo(f"description: {profile.description}")
    for kind in ("state", "cache", "logs"):
        note = "  (laptop default)" if kind in profile.defaulted else ""
        click.echo(f"{kind + ':':<12} {_surface_line(public[kind])}{note}")
    click.echo(f"controller:  {_controller_line(public['controller'])}")


def _check(resolved: Any, output: str) -> None:
    """Open the stores of *resolved*, check each surface, print one line each; exit 1 on failure."""
    from sparkwing.config.check import check_stores
    from sparkwing.config.resolve import open_stores

    with open_stores(resolved) as stores:  # a bad block is a one-line error here (exit 2)
        results = check_stores(stores)
    ok = all(r.ok for r in results)
    if output == "json":
        emit_json({"profile": resolved.profile.name, "ok": ok,
                   "surfaces": [r.to_dict() for r in results]})
    else:
        click.echo(f"profile: {resolved.profile.name}")
        for r in results:
            status = f"ok ({r.steps}, {r.ms:.0f} ms)" if r.ok else "FAILED"
            click.echo(f"{r.surface + ':':<7} {r.type:<10} {status}")
        for r in results:
            if not r.ok:
                click.echo(f"error: {r.error}", err=True)
    if not ok:
        raise SystemExit(1)


def _surface_line(block: dict[str, Any]) -> str:
    rest = "  ".join(f"{k}={_show(v)}" for k, v in block.items() if k != "type")
    return f"{block.get('type', '?')}  {rest}".rstrip()


def _controller_line(block: dict[str, Any] | None) -> str:
    if not block:
        return "none"
    parts = [str(block.get("url", ""))]
    if "token" in block:
        parts.append("token: ***")
    if "token_env" in block:
        import os

        state = "set" if os.environ.get(str(block["token_env"])) else "not set"
        parts.append(f"token_env: {block['token_env']} ({state})")
    return "  ".join(parts)


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

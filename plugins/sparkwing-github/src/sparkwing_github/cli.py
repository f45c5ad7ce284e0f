"""``sparkwing github check``: the plugin's settings, verified against the GitHub API."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from . import settings, statuses


def _secret_source() -> str:
    if os.environ.get(settings.SECRET_ENV):
        return settings.SECRET_ENV
    source = os.environ.get(settings.SECRET_SOURCE_ENV, "").strip()
    if source and settings.webhook_secret():
        return f"{settings.SECRET_SOURCE_ENV} ({source.split(':', 1)[0]})"
    if os.environ.get(settings.FALLBACK_SECRET_ENV):
        return settings.FALLBACK_SECRET_ENV
    return ""


def gather(repo: str) -> dict[str, Any]:
    """The checks as a dict: each ``{"ok": bool, "detail": str}`` (secrets never included)."""
    checks: dict[str, dict[str, Any]] = {}
    source = _secret_source()
    checks["webhook_secret"] = {
        "ok": bool(source),
        "detail": f"from {source}" if source else
        f"not set: set {settings.SECRET_ENV} (deliveries get 503)"}
    token = statuses.api_token()
    base = statuses.api_url()
    if not token:
        checks["token"] = {"ok": False, "detail": f"not set: set {statuses.TOKEN_ENV} "
                                                   "(no commit statuses are posted)"}
    else:
        resp = statuses.api_get("/rate_limit", token, base_url=base)
        if resp.status == 200:
            left = {k.lower(): v for k, v in resp.headers.items()}.get("x-ratelimit-remaining")
            checks["token"] = {"ok": True, "detail": f"accepted by {base}"
                               + (f" ({left} requests left)" if left else "")}
        else:
            checks["token"] = {"ok": False, "detail": f"{base}/rate_limit answered "
                               f"{resp.error or f'HTTP {resp.status}'}"}
        if repo:
            resp = statuses.api_get(f"/repos/{repo}", token, base_url=base)
            checks["repository"] = {
                "ok": resp.status == 200,
                "detail": f"{repo} is visible" if resp.status == 200 else
                f"{repo}: {resp.error or f'HTTP {resp.status}'} (does the token reach it?)"}
    return {"api_url": base, "checks": checks,
            "ok": all(c["ok"] for c in checks.values())}


@click.group("github")
def github() -> None:
    """GitHub webhooks and commit statuses (sparkwing-github)."""


@github.command("check")
@click.option("--repo", default="", metavar="OWNER/NAME",
              help="Also check that the token can see this repository.")
@click.option("-o", "--output", "output", type=click.Choice(["pretty", "json"]),
              default="pretty", show_default=True, help="Output format.")
def check(repo: str, output: str) -> None:
    """Check the webhook secret and the API token (against the API); exit 1 if one fails."""
    if repo and repo.count("/") != 1:
        raise click.UsageError(f"--repo {repo!r} must look like OWNER/NAME")
    result = gather(repo)
    if output == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(f"api: {result['api_url']}")
        for name, c in result["checks"].items():
            click.echo(f"{'ok  ' if c['ok'] else 'FAIL'} {name}: {c['detail']}")
    if not result["ok"]:
        raise SystemExit(1)

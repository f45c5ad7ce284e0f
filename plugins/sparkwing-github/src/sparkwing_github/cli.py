"""``sparkwing github check``: the plugin's settings, verified against the GitHub API."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import click

from . import settings
from .api import ApiClient, Response


def _secret_source() -> str:
    if os.environ.get(settings.SECRET_ENV):
        return settings.SECRET_ENV
    source = os.environ.get(settings.SECRET_SOURCE_ENV, "").strip()
    if source and settings.webhook_secret():
        return f"{settings.SECRET_SOURCE_ENV} ({source.split(':', 1)[0]})"
    if os.environ.get(settings.FALLBACK_SECRET_ENV):
        return settings.FALLBACK_SECRET_ENV
    return ""


def _check(ok: bool, detail: str) -> dict[str, Any]:
    return {"ok": ok, "detail": detail}


def _repository(client: ApiClient, repo: str, authorization: str, who: str) -> dict[str, Any]:
    resp = client.call("GET", f"/repos/{repo}", authorization)
    return _check(resp.ok, f"{repo} is visible to the {who}" if resp.ok else
                  f"{repo}: {resp.describe()} (does the {who} reach it?)")


def _token_checks(client: ApiClient, token: str, repo: str) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    resp = client.call("GET", "/rate_limit", f"Bearer {token}")
    if resp.ok:
        left = {k.lower(): v for k, v in resp.headers.items()}.get("x-ratelimit-remaining")
        checks["token"] = _check(True, f"accepted by {client.base_url}"
                                 + (f" ({left} requests left)" if left else ""))
    else:
        checks["token"] = _check(False, f"{client.base_url}/rate_limit answered "
                                 f"{resp.describe()}")
    if repo:
        checks["repository"] = _repository(client, repo, f"Bearer {token}", "token")
    return checks


def _app_checks(client: ApiClient, repo: str, with_repo: bool) -> dict[str, dict[str, Any]]:
    from .app_auth import AppAuth, AppKeyError

    app = settings.app_settings()
    problem = app.problem()
    if problem:
        return {"app": _check(False, problem)}
    auth = AppAuth(app, client)  # no cache: check what GitHub answers now
    try:
        resp: Response = client.call("GET", "/app", auth.jwt_header())
    except AppKeyError as exc:
        return {"app": _check(False, str(exc))}
    if not resp.ok:
        return {"app": _check(False, f"{client.base_url}/app answered {resp.describe()} to the "
                              f"JWT of App {app.app_id} (key from {app.key_origin})")}
    data = resp.data if isinstance(resp.data, dict) else {}
    name = data.get("slug") or data.get("name") or app.app_id
    checks = {"app": _check(True, f"App {name} (id {app.app_id}) accepted its JWT, key from "
                            f"{app.key_origin}")}
    if app.installation_id is None and not repo:
        checks["installation"] = _check(True, f"not checked: set {settings.APP_INSTALLATION_ENV}"
                                        " or pass --repo to look the installation up")
        return checks
    installation = auth.installation_id(repo)
    if installation is None:
        checks["installation"] = _check(False, client.problems[-1].removeprefix("github app: "))
        return checks
    token, expires_at, _status = auth.exchange(installation)
    if not token:
        checks["installation"] = _check(False, client.problems[-1].removeprefix("github app: "))
        return checks
    until = datetime.fromtimestamp(expires_at, UTC).strftime("%H:%M UTC") \
        if expires_at else "an unknown time"
    checks["installation"] = _check(True, f"installation {installation} issued a token "
                                    f"(valid until {until})")
    if with_repo and repo:
        checks["repository"] = _repository(client, repo, f"Bearer {token}", "App's installation")
    return checks


def gather(repo: str) -> dict[str, Any]:
    """The checks as a dict: each ``{"ok": bool, "detail": str}`` (secrets never included)."""
    checks: dict[str, dict[str, Any]] = {}
    source = _secret_source()
    checks["webhook_secret"] = _check(
        bool(source), f"from {source}" if source else
        f"not set: set {settings.SECRET_ENV} (deliveries get 503)")
    base = settings.api_url()
    client = ApiClient(base, attempts=1)
    token = settings.api_token()
    app = settings.app_configured()
    if token:
        checks.update(_token_checks(client, token, repo))
    if app:
        checks.update(_app_checks(client, repo, with_repo=not token))
    if not token and not app:
        checks["credentials"] = _check(
            False, f"not set: set {settings.TOKEN_ENV} (commit statuses) or "
            f"{settings.APP_ID_ENV} and {settings.APP_KEY_SOURCE_ENV} (check runs); "
            "nothing is posted")
    reporting = ("commit statuses with the token" + (" (the token wins over the App)"
                                                     if app else "")) if token else \
        "check runs as the GitHub App" if app else "nothing"
    return {"api_url": base, "reporting": reporting, "checks": checks,
            "ok": all(c["ok"] for c in checks.values())}


@click.group("github")
def github() -> None:
    """GitHub webhooks, commit statuses and check runs (sparkwing-github)."""


@github.command("check")
@click.option("--repo", default="", metavar="OWNER/NAME",
              help="Also check that the credentials reach this repository (and, for a "
                   "GitHub App, look its installation up).")
@click.option("-o", "--output", "output", type=click.Choice(["pretty", "json"]),
              default="pretty", show_default=True, help="Output format.")
def check(repo: str, output: str) -> None:
    """Check the webhook secret, the token and the GitHub App against the API; exit 1 if one fails."""
    if repo and repo.count("/") != 1:
        raise click.UsageError(f"--repo {repo!r} must look like OWNER/NAME")
    result = gather(repo)
    if output == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(f"api: {result['api_url']}")
        click.echo(f"reporting: {result['reporting']}")
        for name, c in result["checks"].items():
            click.echo(f"{'ok  ' if c['ok'] else 'FAIL'} {name}: {c['detail']}")
    if not result["ok"]:
        raise SystemExit(1)

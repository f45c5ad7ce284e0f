"""``sparkwing github check`` through the real CLI against a fake GitHub API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from .conftest import FakeGitHub, Project, rsa_pem

pytestmark = pytest.mark.asyncio


async def cli(project: Project, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sparkwing_cli.main", "github", "check", *args, cwd=project.root,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_check_reports_each_setting_and_never_prints_secrets(
    aiohttp_server: Any, project: Project,
) -> None:
    async def rate_limit(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer good-token":
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response({}, headers={"X-RateLimit-Remaining": "4999"})

    async def repo(request: web.Request) -> web.Response:
        found = request.match_info["name"] == "app"
        return web.json_response({}, status=200 if found else 404)

    app = web.Application()
    app.router.add_get("/rate_limit", rate_limit)
    app.router.add_get("/repos/{owner}/{name}", repo)
    server = await aiohttp_server(app)
    env = dict(os.environ)
    env.update(SPARKWING_GITHUB_API_URL=str(server.make_url("")).rstrip("/"),
               SPARKWING_GITHUB_TOKEN="good-token")
    code, out, err = await cli(project, env, "--repo", "octo/app", "-o", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] is True
    assert result["checks"]["webhook_secret"]["detail"] == "from SPARKWING_GITHUB_WEBHOOK_SECRET"
    assert "4999 requests left" in result["checks"]["token"]["detail"]
    assert "test-secret" not in out and "good-token" not in out

    env["SPARKWING_GITHUB_TOKEN"] = "bad-token"
    del env["SPARKWING_GITHUB_WEBHOOK_SECRET"]
    code, out, _ = await cli(project, env, "--repo", "octo/missing")
    assert code == 1
    assert "FAIL webhook_secret: not set: set SPARKWING_GITHUB_WEBHOOK_SECRET" in out
    assert "FAIL token:" in out and "HTTP 401" in out
    assert "FAIL repository: octo/missing: HTTP 404" in out
    code, _, err = await cli(project, env, "--repo", "nope")
    assert code == 2 and "OWNER/NAME" in err


async def test_check_verifies_the_app_its_installation_and_never_prints_the_key(
    aiohttp_server: Any, project: Project, app_keys: tuple[bytes, bytes], tmp_path: Path,
) -> None:
    private, public = app_keys
    fake = FakeGitHub(public)
    server = await aiohttp_server(fake.app())
    (tmp_path / "app.pem").write_bytes(private)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKWING_GITHUB_TOKEN")}
    env.update(SPARKWING_GITHUB_API_URL=str(server.make_url("")).rstrip("/"),
               SPARKWING_GITHUB_APP_ID=FakeGitHub.APP_ID,
               SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE=f"file:{tmp_path / 'app.pem'}")
    code, out, err = await cli(project, env, "--repo", "octo/app", "-o", "json")
    assert code == 0, out + err
    result = json.loads(out)
    assert result["reporting"] == "check runs as the GitHub App"
    checks = result["checks"]
    assert checks["app"]["detail"].startswith("App sparkwing-test (id 4242) accepted its JWT")
    assert checks["installation"]["detail"].startswith("installation 77 issued a token")
    assert checks["repository"]["detail"] == "octo/app is visible to the App's installation"
    assert fake.calls == [("GET", "/app"), ("GET", "/repos/octo/app/installation"),
                          ("POST", "/app/installations/77/access_tokens"),
                          ("GET", "/repos/octo/app")]
    assert "PRIVATE KEY" not in out and "ghs_installation" not in out

    code, out, _ = await cli(project, env)  # no --repo and no installation id: /app only
    assert code == 0
    assert "ok   installation: not checked: set SPARKWING_GITHUB_APP_INSTALLATION_ID" in out

    fake.not_installed.add("octo/other")
    code, out, _ = await cli(project, env, "--repo", "octo/other")
    assert code == 1
    assert ("FAIL installation: looking up the installation on octo/other failed: HTTP 404 "
            "(Not Found) (is the App installed there?)") in out

    code, out, _ = await cli(project, env | {"SPARKWING_GITHUB_APP_INSTALLATION_ID": "5"})
    assert code == 1
    assert "FAIL installation: no token for installation 5: HTTP 404" in out

    other_private, _ = rsa_pem()
    wrong = env | {"SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE": "env:WRONG_KEY",
                   "WRONG_KEY": other_private.decode()}
    code, out, _ = await cli(project, wrong, "--repo", "octo/app")
    assert code == 1
    assert "FAIL app: " in out and "/app answered HTTP 401 (Bad credentials) to the JWT of " \
        "App 4242 (key from SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE (env))" in out
    assert "PRIVATE KEY" not in out

    code, out, _ = await cli(project, env | {"SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE": "x"})
    assert code == 1
    assert "FAIL app: SPARKWING_GITHUB_APP_PRIVATE_KEY_SOURCE must be env:VAR or file:/path" in out

    both = env | {"SPARKWING_GITHUB_TOKEN": FakeGitHub.PLAIN_TOKEN}
    code, out, _ = await cli(project, both, "--repo", "octo/app")
    assert code == 0, out
    assert "reporting: commit statuses with the token (the token wins over the App)" in out
    assert "ok   repository: octo/app is visible to the token" in out

    bare = {k: v for k, v in env.items() if not k.startswith("SPARKWING_GITHUB_APP")}
    code, out, _ = await cli(project, bare)
    assert code == 1
    assert "FAIL credentials: not set: set SPARKWING_GITHUB_TOKEN (commit statuses) or " \
        "SPARKWING_GITHUB_APP_ID" in out

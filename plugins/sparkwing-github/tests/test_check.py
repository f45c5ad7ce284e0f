"""``sparkwing github check`` through the real CLI against a fake GitHub API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest
from aiohttp import web

from .conftest import Project

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

"""Fixtures for sparkwing-github: a throwaway project, its stores, the dashboard app, signed posts.

``FakeGitHub`` is the GitHub REST API the reporting tests post to (on
loopback); ``app_keys`` is an RSA key pair made in the session for the
test GitHub App.

Pipeline modules get a name of their own (``gh_<hex>_<name>``) because
in-process tests import them into one interpreter.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

#: Real payloads (``<event>[.<action>].json``; see ``fixtures/README.md`` for their origin).
FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: The secret the tests' deliveries are signed with.
SECRET = "test-secret-0f3c"

ONE_JOB = """
    import sparkwing as sw

    def plan(plan, inputs, run):
        plan.job("hello", sw.sh("echo hello"))
"""


def payload(name: str) -> bytes:
    """The raw bytes of fixture *name* (``push.with-new-branch``)."""
    return (FIXTURES / f"{name}.json").read_bytes()


def event_of(name: str) -> str:
    """The ``X-GitHub-Event`` of fixture *name*."""
    return name.split(".", 1)[0]


class Project:
    """A temporary project whose ``SPARKWING_HOME`` is set in this process."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.tag = os.urandom(3).hex()
        self.entries: list[str] = []
        #: The state store the dashboard serves (set by the ``stores`` fixture).
        self.state: Any = None

    def add(self, name: str, on: str = "", source: str = ONE_JOB) -> None:
        """Add pipeline *name* with an optional ``on:`` block (YAML text)."""
        module = f"gh_{self.tag}_{name.replace('-', '_')}"
        (self.root / ".sparkwing" / f"{module}.py").write_text(textwrap.dedent(source))
        entry = f"  - name: {name}\n    entrypoint: {module}:plan\n"
        if on:
            entry += "    on:\n" + textwrap.indent(textwrap.dedent(on).strip("\n"), "      ") + "\n"
        self.entries.append(entry)
        (self.root / ".sparkwing" / "sparkwing.yaml").write_text(
            "pipelines:\n" + "".join(self.entries))

    def runs(self) -> list[Any]:
        """Every recorded run, newest first (read through the dashboard's own store)."""
        return list(self.state.list_runs()) if self.state is not None else []

    def triggers(self) -> list[Any]:
        """Every trigger row, newest first."""
        return list(self.state.list_triggers(limit=0)) if self.state is not None else []


@pytest.fixture
def project(tmp_path: Path, sparkwing_home: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A fresh project, the webhook secret set, git variables of the caller removed."""
    root = tmp_path / "repo"
    (root / ".sparkwing").mkdir(parents=True)
    for name in list(os.environ):
        if name.startswith("GIT_") or name.startswith("GITHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("SPARKWING_GITHUB_WEBHOOK_SECRET", SECRET)
    return Project(root, sparkwing_home)


@pytest.fixture
def stores(project: Project) -> Iterator[Any]:
    """The laptop stores of the test's home (what the dashboard serves)."""
    from sparkwing.config import open_stores, resolve_profile

    opened = open_stores(resolve_profile(flag=None, pipeline=None, project=None))
    project.state = opened.state
    yield opened
    project.state = None
    opened.close()


def headers(event: str, delivery: str, body: bytes, secret: str = SECRET,
            signature: str | None = None) -> dict[str, str]:
    """The headers GitHub sends with *body* (signature computed unless given)."""
    from sparkwing_github.signature import sign

    out = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
           "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/test"}
    sig = sign(secret, body) if signature is None else signature
    if sig:
        out["X-Hub-Signature-256"] = sig
    return out


async def eventually(pred: Any, timeout: float = 90.0, what: str = "condition") -> Any:
    """Poll *pred* without blocking the event loop until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def edited(name: str, **changes: Any) -> bytes:
    """Fixture *name* with top-level keys replaced."""
    data = json.loads(payload(name))
    data.update(changes)
    return json.dumps(data).encode()


#: A pipeline whose ``unit-tests`` job fails.
FAILING = """
    import sparkwing as sw

    def plan(plan, inputs, run):
        plan.job("lint", sw.sh("echo lint"))
        plan.job("unit-tests", sw.sh("echo boom; exit 3"))
"""


def git_repo(root: Path, env: dict[str, str]) -> str:
    """Make *root* a git repository with one commit; return its sha."""
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


async def sparkwing_run(root: Path, env: dict[str, str], pipeline: str) -> Any:
    """``sparkwing run PIPELINE`` in *root*: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sparkwing_cli.main", "run", pipeline, cwd=root, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out.decode(), err.decode()


def actions_env(project: Project) -> dict[str, str]:
    """This process's environment as a GitHub Actions step for repository ``octo/app`` sees it."""
    env = dict(os.environ)
    env.update(GITHUB_ACTIONS="true", GITHUB_REPOSITORY="octo/app")
    return env


class FakeGitHub:
    """A GitHub REST API on loopback that checks credentials and records what is posted.

    It knows one GitHub App (``APP_ID``, whose JWTs it verifies with the
    public half of the test key: a JWT signed with another key is refused
    401), installed once (``INSTALLATION_ID``) on every repository but those
    in ``not_installed``. Installation tokens it issues live ``expires_in``
    seconds. Statuses accept the plain test token or an installation token;
    check runs accept installation tokens only (as GitHub). ``answers`` queues
    answers per route (``statuses``, ``check-runs``, ``access_tokens``,
    ``installation``, ``app``): each request of that route takes the next
    one before anything else happens.
    """

    APP_ID = "4242"
    INSTALLATION_ID = 77
    PLAIN_TOKEN = "ghs_test_token"

    def __init__(self, public_pem: bytes | None = None) -> None:
        self.public_pem = public_pem
        #: ``{"method", "path", "auth", **body}`` of every status and check run call.
        self.posts: list[dict[str, Any]] = []
        #: ``(method, path)`` of every request, in order.
        self.calls: list[tuple[str, str]] = []
        self.answers: dict[str, list[tuple[int, dict[str, str]]]] = {}
        #: Decoded claims of every accepted JWT, with ``seen_at`` (the fake's clock).
        self.jwts: list[dict[str, Any]] = []
        #: Installation tokens issued (oldest first); ``revoked`` ones are refused.
        self.tokens: list[str] = []
        self.revoked: set[str] = set()
        self.expires_in = 3600
        self.not_installed: set[str] = set()
        self.check_runs: dict[int, dict[str, Any]] = {}

    def _queued(self, route: str) -> Any:
        queue = self.answers.get(route) or []
        if queue:
            code, hdrs = queue.pop(0)
            return web.json_response({"message": "queued answer"}, status=code, headers=hdrs)
        return None

    def _jwt_ok(self, request: Any) -> bool:
        import jwt

        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or self.public_pem is None:
            return False
        try:
            claims = jwt.decode(auth[7:], self.public_pem, algorithms=["RS256"],
                                options={"require": ["iat", "exp", "iss"]})
        except jwt.PyJWTError:
            return False
        now = int(time.time())
        if str(claims["iss"]) != self.APP_ID or claims["exp"] > now + 600:
            return False
        self.jwts.append({**claims, "seen_at": now})
        return True

    def _token_ok(self, request: Any, plain_too: bool) -> bool:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if plain_too and token == self.PLAIN_TOKEN:
            return True
        return token in self.tokens and token not in self.revoked

    @staticmethod
    def _denied() -> Any:
        return web.json_response({"message": "Bad credentials"}, status=401)

    async def _record(self, request: Any) -> dict[str, Any]:
        body = await request.json() if request.can_read_body else {}
        entry = {"method": request.method, "path": request.path,
                 "auth": request.headers.get("Authorization"), **body}
        self.posts.append(entry)
        return entry

    @web.middleware
    async def _log(self, request: Any, handler: Any) -> Any:
        self.calls.append((request.method, request.path))
        return await handler(request)

    async def status(self, request: Any) -> Any:
        await self._record(request)
        if (queued := self._queued("statuses")) is not None:
            return queued
        if not self._token_ok(request, plain_too=True):
            return self._denied()
        return web.json_response({"id": len(self.posts)}, status=201)

    async def create_check_run(self, request: Any) -> Any:
        entry = await self._record(request)
        if (queued := self._queued("check-runs")) is not None:
            return queued
        if not self._token_ok(request, plain_too=False):
            return self._denied()
        number = len(self.check_runs) + 1
        self.check_runs[number] = {k: v for k, v in entry.items() if k not in ("method", "auth")}
        return web.json_response({"id": number}, status=201)

    async def update_check_run(self, request: Any) -> Any:
        entry = await self._record(request)
        if (queued := self._queued("check-runs")) is not None:
            return queued
        if not self._token_ok(request, plain_too=False):
            return self._denied()
        number = int(request.match_info["id"])
        if number not in self.check_runs:
            return web.json_response({"message": "Not Found"}, status=404)
        self.check_runs[number].update({k: v for k, v in entry.items()
                                        if k not in ("method", "auth", "path")})
        return web.json_response({"id": number})

    async def app_info(self, request: Any) -> Any:
        if (queued := self._queued("app")) is not None:
            return queued
        if not self._jwt_ok(request):
            return self._denied()
        return web.json_response({"id": int(self.APP_ID), "slug": "sparkwing-test"})

    async def installation(self, request: Any) -> Any:
        if (queued := self._queued("installation")) is not None:
            return queued
        if not self._jwt_ok(request):
            return self._denied()
        repo = f"{request.match_info['owner']}/{request.match_info['name']}"
        if repo in self.not_installed:
            return web.json_response({"message": "Not Found"}, status=404)
        return web.json_response({"id": self.INSTALLATION_ID, "app_id": int(self.APP_ID)})

    async def access_tokens(self, request: Any) -> Any:
        if (queued := self._queued("access_tokens")) is not None:
            return queued
        if not self._jwt_ok(request):
            return self._denied()
        if int(request.match_info["id"]) != self.INSTALLATION_ID:
            return web.json_response({"message": "Not Found"}, status=404)
        token = f"ghs_installation_{len(self.tokens) + 1}"
        self.tokens.append(token)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + self.expires_in))
        return web.json_response({"token": token, "expires_at": expires}, status=201)

    async def rate_limit(self, request: Any) -> Any:
        if not self._token_ok(request, plain_too=True):
            return self._denied()
        return web.json_response({}, headers={"X-RateLimit-Remaining": "4999"})

    async def repository(self, request: Any) -> Any:
        if not self._token_ok(request, plain_too=True):
            return self._denied()
        return web.json_response({"full_name": request.path.removeprefix("/repos/")})

    def access_token_calls(self) -> int:
        """How many installation tokens were asked for."""
        return sum(1 for c in self.calls if c[1].endswith("/access_tokens"))

    def app(self) -> Any:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._log])
        app.router.add_post("/repos/{owner}/{repo}/statuses/{sha}", self.status)
        app.router.add_post("/repos/{owner}/{repo}/check-runs", self.create_check_run)
        app.router.add_patch("/repos/{owner}/{repo}/check-runs/{id}", self.update_check_run)
        app.router.add_get("/app", self.app_info)
        app.router.add_get("/repos/{owner}/{name}/installation", self.installation)
        app.router.add_post("/app/installations/{id}/access_tokens", self.access_tokens)
        app.router.add_get("/rate_limit", self.rate_limit)
        app.router.add_get("/repos/{owner}/{name}", self.repository)
        return app


def rsa_pem() -> tuple[bytes, bytes]:
    """A new RSA key pair for the tests: (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture(scope="session")
def app_keys() -> tuple[bytes, bytes]:
    """The test App's key pair (made once per session)."""
    return rsa_pem()

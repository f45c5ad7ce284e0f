"""Fixtures for the controller tests: the real CLI in subprocesses, a real server on loopback."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: Keys an error body may have: the one shape of every controller error.
ERROR_KEYS = {"error", "message", "field", "missing_scope", "principal", "missing"}
#: Upper bound for the server to print its address (a hang guard, not a timing assertion).
START_TIMEOUT_S = 120.0


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def assert_error(self, status: int, code: str) -> dict[str, Any]:
        """Check the status and that the body has the one error shape with *code*."""
        assert self.status == status, (self.status, self.body)
        assert self.headers.get("Content-Type", "").startswith("application/json")
        data = self.json()
        assert isinstance(data, dict) and set(data) <= ERROR_KEYS, data
        assert data["error"] == code, data
        assert isinstance(data["message"], str) and data["message"], data
        return data


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Answers redirects as they are (a 303 to the login page is what a test checks)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def http(method: str, url: str, *, token: str = "", body: Any = None,
         headers: dict[str, str] | None = None, raw: bytes | None = None) -> Answer:
    """Send one request with urllib and return the answer (errors included).

    Redirects are not followed; an event stream's body is not read (it may never end).
    """
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with _OPENER.open(req, timeout=60) as resp:
            if resp.headers.get("Content-Type", "").startswith("text/event-stream"):
                return Answer(resp.status, dict(resp.headers), b"")
            return Answer(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, dict(err.headers), err.read())


@dataclass
class Controller:
    """A sparkwing home with the CLI at hand and, once started, a controller serving it."""

    home: Path
    cwd: Path
    env: dict[str, str]
    url: str = ""
    proc: subprocess.Popen[str] | None = None
    _lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` in a subprocess."""
        return subprocess.run([sys.executable, "-m", "sparkwing_cli.main", *args],
                              cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def cli_input(self, stdin: str, *args: str,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` in a subprocess with *stdin* as its standard input."""
        return subprocess.run([sys.executable, "-m", "sparkwing_cli.main", *args],
                              cwd=self.cwd, env=self.env, input=stdin, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def token(self, kind: str, name: str, scope: str, *extra: str) -> str:
        """Create a token through the CLI and return the raw token it printed."""
        out = self.cli("controller", "token", "create", "--kind", kind, "--name", name,
                       "--scope", scope, *extra)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def stored_token(self, kind: str, name: str, scope: str) -> str:
        """Create a token straight in the home's token table, as the CLI does, in this process.

        For tests that need many tokens: each CLI call is a process start
        (the CLI itself is tested in test_controller_tokens.py).
        """
        from sparkwing_server.controller.scopes import parse_scopes
        from sparkwing_server.controller.tokens import open_token_store

        stores = self.open_state()
        try:
            tokens = open_token_store(stores)
            try:
                raw, _ = tokens.create(kind, name, parse_scopes(scope))
            finally:
                tokens.close()
        finally:
            stores.close()
        return raw

    def start(self, *args: str) -> str:
        """Start ``sparkwing controller serve --addr 127.0.0.1:0 ARGS``; return its URL."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", "controller", "serve",
             "--addr", "127.0.0.1:0", *args],
            cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            line = self._lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError("controller printed no address") from None
        assert line.startswith("sparkwing controller listening on "), line
        self.url = line.split()[4]
        return self.url

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def stop(self) -> None:
        """Stop the server (SIGTERM) and wait for it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def request(self, method: str, path: str, token: str = "", **kw: Any) -> Answer:
        """Send *method* to *path* on the server."""
        return http(method, self.url + path, token=token, **kw)

    def get(self, path: str, token: str = "", **kw: Any) -> Answer:
        """GET *path* from the server."""
        return http("GET", self.url + path, token=token, **kw)

    def post(self, path: str, body: Any = None, token: str = "", **kw: Any) -> Answer:
        """POST a JSON *body* to *path*."""
        return http("POST", self.url + path, token=token, body=body, **kw)

    def open_state(self) -> Any:
        """The home's stores, opened in this process (the same SQLite file the server uses)."""
        from sparkwing_server.localws.serve import open_profile_stores

        return open_profile_stores(None, self.cwd)


@contextmanager
def serve_in_thread(stores: Any, *grants: tuple[str, str, list[str]]
                    ) -> Iterator[tuple[str, list[str]]]:
    """Serve *stores* with auth on from a thread of this process (``ThreadedController``).

    Yields its URL and one raw token per ``(kind, name, scopes)`` of *grants*;
    the stores are closed afterwards.
    """
    from sparkwing_server.controller.threaded import ThreadedController
    from sparkwing_server.controller.tokens import open_token_store

    try:
        tokens = open_token_store(stores)
        try:
            raws = [tokens.create(kind, name, scopes)[0] for kind, name, scopes in grants]
            server = ThreadedController(stores, tokens, require_auth=True)
            try:
                yield server.start(), raws
            finally:
                server.stop()
        finally:
            tokens.close()
    finally:
        stores.close()


@pytest.fixture
def controller(sparkwing_home: Path, tmp_path: Path) -> Iterator[Controller]:
    """A fresh home (no project) for the controller; the server is stopped afterwards."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = dict(os.environ)
    ctl = Controller(sparkwing_home, cwd, env)
    try:
        yield ctl
    finally:
        ctl.stop()

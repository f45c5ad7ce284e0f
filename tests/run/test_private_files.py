"""Files sparkwing writes under SPARKWING_HOME are owner-only; a readable secrets file is flagged."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

from .conftest import Project

PIPELINE = """
    import sparkwing as sw
    def body(ctx):
        ctx.sh("echo hello from a command")
        return {"ok": True}
    def plan(plan, inputs, run):
        plan.job("one", body)
        plan.job("two", sw.sh("echo two")).needs("one")
"""


def _loose(home: Path) -> list[str]:
    """Paths under *home* that a group or other user could read, write or enter."""
    found = []
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(home.parent)} {mode:04o}")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_home_files_are_owner_only_whatever_the_umask(project: Project) -> None:
    project.add("private", PIPELINE)
    old = os.umask(0o022)
    try:
        r = project.run("run", "private")
        assert r.code == 0, r.err
        started = project.run("dashboard", "start", "--addr", f"127.0.0.1:{_free_port()}")
        assert started.code == 0, started.err
        project.run("dashboard", "kill")
    finally:
        os.umask(old)
    home = project.home
    names = {p.name for p in home.rglob("*")}
    assert {"state.db", "one.log", "dashboard.log", "dashboard.token"} <= names, names
    assert _loose(home) == []


def test_a_secrets_file_others_can_read_gets_a_warning(project: Project) -> None:
    secrets = project.root.parent / "config" / "sparkwing" / "secrets.env"
    secrets.parent.mkdir(parents=True)
    secrets.write_text("API_TOKEN=tok-123\n")
    secrets.chmod(0o644)
    project.add("secret", """
        def use(ctx):
            ctx.info("got " + ctx.secret("API_TOKEN"))
        def plan(plan, inputs, run):
            plan.job("use", use)
    """)
    r = project.run("run", "secret")
    assert r.code == 0, r.err
    assert f"warning: {secrets} is readable by other users (mode 0644)" in r.err
    assert f"chmod 600 {secrets}" in r.err
    secrets.chmod(0o600)
    quiet = project.run("run", "secret")
    assert quiet.code == 0 and "readable by other users" not in quiet.err

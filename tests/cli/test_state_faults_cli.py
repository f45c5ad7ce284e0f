"""State faults through the real CLI: lost history, corruption, a read-only home, a full disk."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import CliEnv

#: As root, permission bits bind only without these capabilities (setpriv drops them).
_DROP_CAPS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner",
              "--inh-caps=-all"]


def one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert exit *code* with exactly one ``error: ...`` line on stderr; return the message."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0][len("error: "):]


def test_missing_state_db_next_to_run_logs_is_an_error_not_a_new_history(clienv: CliEnv) -> None:
    clienv.run("ok")
    db = clienv.sw_home / "state.db"
    for suffix in ("", "-wal", "-shm", ".clean"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    msg = one_line(clienv.cli("runs", "list"), 1)
    assert "is missing" in msg and "logs of 1 earlier run" in msg
    assert "Restore state.db from a backup" in msg
    one_line(clienv.cli("run", "ok"), 1)
    assert not db.exists()
    doctor = json.loads(clienv.cli("doctor", "-o", "json").stdout)
    assert doctor["status"] == "fail"
    assert [f["check"] for f in doctor["findings"] if f["status"] == "fail"] == ["state.file"]
    # moving the logs aside is the documented way to start afresh
    (clienv.sw_home / "runs").rename(clienv.sw_home / "runs.old")
    assert clienv.cli("runs", "list").returncode == 0


def test_zero_byte_state_db_is_an_error(clienv: CliEnv) -> None:
    clienv.run("ok")
    db = clienv.sw_home / "state.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"")
    assert "is empty (0 bytes)" in one_line(clienv.cli("runs", "list"), 1)


def _corrupt(env: CliEnv) -> None:
    """Grow the database so a middle page holds rows, then overwrite that page."""
    from sparkwing.storage.records import Run

    db = env.sw_home / "state.db"
    with env.state() as st:
        for i in range(300):
            st.create_run(Run(id=f"run-20200101-000000-{i:08x}", pipeline="ok", error="e" * 300))
    assert db.stat().st_size > 40 * 4096
    with open(db, "r+b") as f:
        f.seek(30 * 4096)
        f.write(b"\xa5" * 4096)


def test_corrupted_state_db_is_one_line_with_a_hint(clienv: CliEnv) -> None:
    clienv.run("ok")
    _corrupt(clienv)
    msg = one_line(clienv.cli("runs", "list"), 1)
    assert "is corrupted" in msg and "restore" in msg and ".recover" in msg
    assert "is corrupted" in one_line(clienv.cli("run", "ok"), 1)


def test_doctor_checks_the_home_in_full(clienv: CliEnv) -> None:
    for _ in range(3):
        clienv.run("ok")
    clienv.sw_home.chmod(0o700)
    healthy = clienv.cli("doctor", "-o", "json")
    assert healthy.returncode == 0, healthy.stdout
    assert json.loads(healthy.stdout)["status"] == "ok"
    _corrupt(clienv)
    doctor = clienv.cli("doctor", "-o", "json")
    assert doctor.returncode == 1
    found = {f["check"]: f for f in json.loads(doctor.stdout)["findings"]}
    assert found["state.integrity"]["status"] == "fail"
    assert "restore" in found["state.integrity"]["hint"]
    pretty = clienv.cli("doctor")
    assert pretty.returncode == 1 and "FAIL" in pretty.stdout and "state.integrity" in pretty.stdout


# -- a read-only home ------------------------------------------------------------------


def _ro(env: CliEnv, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a process the home's permission bits bind (even as root)."""
    prefix = _DROP_CAPS if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "sparkwing_cli.main", *args], cwd=env.repo,
        capture_output=True, text=True, env=env.env, timeout=120,
    )


@contextmanager
def _read_only(root: Path) -> Iterator[None]:
    paths = [root, *root.rglob("*")]
    for p in paths:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield
    finally:
        for p in paths:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("wal_left", [False, True], ids=["closed", "wal-left"])
def test_read_only_home_allows_every_read_command(clienv: CliEnv, wal_left: bool) -> None:
    from sparkwing.storage.records import Run

    ok = clienv.run("ok")
    bad = clienv.run("broken")
    with clienv.state() as st:  # an orphan the read commands would like to settle
        now = time.time()
        st.create_run(Run(id="run-20200101-000000-0000dead", pipeline="ok", status="running",
                          host=socket.gethostname(), pid=_dead_pid(), created_at=now - 3600,
                          started_at=now - 3600, last_heartbeat_at=now - 3600))
    if wal_left:
        clienv.run("ok")  # `sparkwing run` exits without closing: the -wal and -shm stay
        assert (clienv.sw_home / "state.db-wal").exists()
    port = _free_port()
    with _read_only(clienv.sw_home):
        for args in (("runs", "list"), ("runs", "status", "--run", ok), ("runs", "logs", ok),
                     ("runs", "errors", "--run", bad), ("runs", "get", "--run", "latest"),
                     ("pipeline", "list"), ("pipeline", "explain", "ok"), ("profile",),
                     ("doctor",)):
            proc = _ro(clienv, *args)
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
            assert "Traceback" not in proc.stderr, args
        listed = _ro(clienv, "runs", "list", "-q").stdout.split()
        assert ok in listed and bad in listed and "run-20200101-000000-0000dead" in listed
        assert "alpha-two" in _ro(clienv, "runs", "logs", ok).stdout
        msg = one_line(_ro(clienv, "run", "ok"), 1)
        assert "read-only" in msg or "readonly" in msg
        start = _ro(clienv, "dashboard", "start", "--read-only", "--addr", f"127.0.0.1:{port}")
        try:
            assert start.returncode == 0, start.stderr
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/runs") as r:
                ids = [run["id"] for run in json.loads(r.read())["runs"]]
            assert ok in ids and bad in ids
            assert _ro(clienv, "dashboard", "status").returncode == 0
        finally:
            stopped = _ro(clienv, "dashboard", "kill")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        refused = _ro(clienv, "dashboard", "start", "--addr", f"127.0.0.1:{port}")
        assert "--read-only" in one_line(refused, 1)


# -- a full disk ---------------------------------------------------------------------------

FULL_DISK = '''
    import json, os, subprocess, sys
    fs, repo = sys.argv[1], sys.argv[2]
    env = dict(os.environ, SPARKWING_HOME=os.path.join(fs, "home"))
    def cli(*args):
        p = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", *args], cwd=repo,
                           env=env, capture_output=True, text=True, timeout=120)
        return {"code": p.returncode, "out": p.stdout, "err": p.stderr}
    out = {"first": cli("run", "ok"), "big": cli("run", "flood")}
    out["status"] = cli("runs", "status", "--run", "latest", "-o", "json")
    print(json.dumps(out))
'''


def test_full_disk_fails_the_run_with_no_space_left_in_its_record(clienv: CliEnv) -> None:
    clienv.add_pipeline("flood", '''
        import sparkwing as sw

        def plan(plan, inputs, run):
            line = "0123456789" * 7
            plan.job("flood", sw.sh(f"yes {line} | head -c 4000000"))
    ''')
    fs = clienv.tmp / "fs"
    fs.mkdir()
    script = clienv.tmp / "full.py"
    script.write_text(textwrap.dedent(FULL_DISK))
    shell = (f"mount -t tmpfs -o size=2m tmpfs {fs} && "
             f"exec {sys.executable} {script} {fs} {clienv.repo}")
    cmd = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        cmd.append("--map-root-user")
    proc = subprocess.run([*cmd, "sh", "-c", shell], capture_output=True, text=True,
                          env=clienv.env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first"]["code"] == 0, out["first"]["err"]
    big = out["big"]
    assert big["code"] == 1, big
    assert "Traceback" not in big["err"]
    assert len(big["err"].strip().splitlines()) <= 1, big["err"]
    status = out["status"]
    assert status["code"] == 1 and "Traceback" not in status["err"], status
    detail = json.loads(status["out"])
    assert detail["run"]["status"] == "failed"
    recorded = " ".join([detail["run"]["error"], *(n["error"] for n in detail["nodes"])])
    assert "no space left on device" in recorded.lower(), recorded

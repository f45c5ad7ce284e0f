"""The detached dashboard process: start, find, stop (behind ``sparkwing dashboard``).

Files under ``$SPARKWING_HOME``:

* ``dashboard.pid``: the server's PID (one line), written by :func:`start`
  and removed by :func:`stop` or by the server itself when it exits;
* ``dashboard.json``: what :func:`status` reports besides liveness (URL,
  address, profile, read-only, start time);
* ``dashboard.log``: the server's output, appended to across starts.

When the home cannot be written (a read-only home), ``dashboard start
--read-only`` keeps these three files in a private per-user directory
instead (:func:`runtime_dir`: under ``$XDG_RUNTIME_DIR``, else the system
temporary directory); ``status`` and ``kill`` look in both places.

A PID counts as the dashboard only while that process is alive, not a
zombie, and (where ``/proc`` exists) runs ``sparkwing_server.localws``, so
a stale PID file never leads to signalling an unrelated process.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sparkwing.errors import SparkwingError
from sparkwing.paths import can_create_in, make_private_dir, open_private, write_private_text

from .. import __version__
from .address import Address

PID_FILE = "dashboard.pid"
INFO_FILE = "dashboard.json"
LOG_FILE = "dashboard.log"

#: Seconds between SIGTERM and SIGKILL when stopping.
KILL_GRACE_S = 5.0
#: Seconds :func:`start` waits for the new server to accept connections.
START_TIMEOUT_S = 15.0

_MODULE = "sparkwing_server.localws"


class DashboardError(SparkwingError):
    """The dashboard could not be started or stopped (exit 1)."""


@dataclass(slots=True)
class Resident:
    """A running dashboard as recorded in ``$SPARKWING_HOME``."""

    pid: int
    url: str = ""
    addr: str = ""
    profile: str = ""
    read_only: bool = False
    #: The record directory served (``--from``), else ``""``.
    from_dir: str = ""
    started_at: float = 0.0
    version: str = ""
    log: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


def pid_path(home: Path) -> Path:
    """``$SPARKWING_HOME/dashboard.pid``."""
    return home / PID_FILE


def log_path(home: Path) -> Path:
    """``$SPARKWING_HOME/dashboard.log``."""
    return home / LOG_FILE


def info_path(home: Path) -> Path:
    """``$SPARKWING_HOME/dashboard.json``."""
    return home / INFO_FILE


def runtime_dir(home: Path) -> Path:
    """Where a dashboard over *home* keeps its files when *home* cannot be written.

    ``$XDG_RUNTIME_DIR/sparkwing-<uid>/dashboard-<hash of home>`` (the
    system temporary directory when the variable is unset).
    """
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    digest = hashlib.sha256(str(home).encode("utf-8")).hexdigest()[:12]
    return Path(base) / f"sparkwing-{os.getuid()}" / f"dashboard-{digest}"


def files_dir(home: Path) -> Path:
    """The directory holding the recorded dashboard of *home*: *home*, else :func:`runtime_dir`."""
    other = runtime_dir(home)
    if not pid_path(home).exists() and pid_path(other).exists():
        return other
    return home


def _private_runtime_dir(home: Path) -> Path:
    """Create :func:`runtime_dir` owner-only and refuse one someone else could write."""
    where = runtime_dir(home)
    try:
        make_private_dir(where)
        for d in (where.parent, where):
            st = d.lstat()
            if st.st_uid != os.getuid() or st.st_mode & 0o077 or not d.is_dir():
                raise DashboardError(
                    f"{d} is not a private directory of this user; remove it and retry"
                )
    except OSError as exc:
        raise DashboardError(f"cannot create {where}: {exc.strerror or exc}") from None
    return where


# -- processes ---------------------------------------------------------------------
def process_alive(pid: int) -> bool:
    """Tell whether *pid* is a live (not zombie) process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # Field 3 (after the parenthesised command name) is the state letter.
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state != ["Z"] and state != ["X"]


def is_dashboard(pid: int) -> bool:
    """Tell whether *pid* is alive and (where ``/proc`` says) a dashboard server."""
    if not process_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    return _MODULE.encode() in cmdline


def _reap(pid: int) -> None:
    """Collect *pid* if it is our child (so it does not linger as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_process(pid: int, grace_s: float = KILL_GRACE_S) -> str:
    """SIGTERM *pid*, wait up to *grace_s*, then SIGKILL; return ``"term"`` or ``"kill"``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not process_alive(pid):
            return "term"
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        _reap(pid)
        if not process_alive(pid):
            break
        time.sleep(0.02)
    return "kill"


# -- recorded state -----------------------------------------------------------------
def _read_pid(home: Path) -> int | None:
    try:
        text = pid_path(home).read_text().strip()
    except OSError:
        return None
    first = text.split()[0] if text else ""
    return int(first) if first.isdigit() else None


def _write_atomic(path: Path, text: str) -> None:
    write_private_text(path, text)


def _forget(home: Path, pid: int | None = None) -> None:
    """Remove the PID and info files (only if they still name *pid*, when given)."""
    if pid is not None and _read_pid(home) not in (pid, None):
        return
    for path in (pid_path(home), info_path(home)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def status(home: Path) -> Resident | None:
    """Return the running dashboard recorded under *home*, or ``None``.

    A PID file naming a dead or foreign process is stale and is removed.
    """
    home = files_dir(home)
    pid = _read_pid(home)
    if pid is None:
        return None
    if not is_dashboard(pid):
        _forget(home, pid)
        return None
    resident = Resident(pid=pid, log=str(log_path(home)))
    try:
        info = json.loads(info_path(home).read_text())
    except (OSError, ValueError):
        info = {}
    if isinstance(info, dict) and info.get("pid") == pid:
        for key in ("url", "addr", "profile", "read_only", "from_dir", "started_at", "version"):
            if key in info:
                setattr(resident, key, info[key])
    return resident


def stop(home: Path) -> tuple[Resident | None, str]:
    """Stop the recorded dashboard; return it (or ``None``) and how it ended."""
    resident = status(home)
    if resident is None:
        return None, ""
    how = stop_process(resident.pid)
    _forget(files_dir(home), resident.pid)
    return resident, how


# -- starting --------------------------------------------------------------------------
def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def resident_version(url: str, timeout_s: float = 1.0) -> str:
    """Ask a running dashboard for its version (``""`` when it does not answer)."""
    from urllib.request import urlopen

    try:
        with urlopen(f"{url}/api/v1/version", timeout=timeout_s) as response:
            return str(json.loads(response.read()).get("version", ""))
    except Exception:
        return ""


def check_port_free(address: Address) -> None:
    """Raise :class:`DashboardError` (one line) when *address* cannot be bound."""
    try:
        infos = socket.getaddrinfo(address.host or None, address.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DashboardError(f"cannot listen on {address}: {exc.strerror}") from None
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Same option the server sets, so a socket lingering in TIME_WAIT is not "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise DashboardError(
                f"address {address} is already in use by another program; stop it or choose "
                "another address with --addr"
            ) from None
        raise DashboardError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    finally:
        sock.close()


def _answers(address: Address, timeout_s: float) -> bool:
    """Tell whether the server at *address* answers ``GET /api/health`` with 200.

    The server listens before its application is ready; a connection made
    then waits in the backlog and is answered once it is, so a refused
    connection means "not listening yet" and an answer means "ready".
    """
    from urllib.request import urlopen

    try:
        with urlopen(f"{address.url}/api/health", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except Exception:
        return False


def _failure_line(log: Path, offset: int) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:"):].strip()
    return lines[-1] if lines else ""


def start(home: Path, address: Address, *, profile: str | None = None, read_only: bool = False,
          cwd: Path | None = None, timeout_s: float = START_TIMEOUT_S,
          from_dir: Path | None = None) -> tuple[Resident, int | None]:
    """Start a detached dashboard, replacing a running one; return it and the replaced PID.

    With *from_dir* it serves the runs recorded in that directory
    (``sparkwing run --sw-record-dir``), always read-only.

    Returns once the new server accepts connections and answers. Raises
    :class:`DashboardError` when the running dashboard is newer than this
    program, the address is taken by something else, or the server exits or
    does not listen within *timeout_s*.
    """
    if address.port == 0:
        raise DashboardError("dashboard start needs a fixed port, not 0")
    if from_dir is not None:
        from sparkwing.config import resolve_record_dir

        # Checked here too, so a wrong directory is reported before anything is started.
        from_dir = Path(resolve_record_dir(from_dir, flag="--from", read_only=True)
                        .profile.state["path"])
        read_only = True
    try:
        make_private_dir(home)
    except OSError as exc:
        raise DashboardError(f"cannot create {home}: {exc.strerror or exc}") from None
    records = home
    if not can_create_in(home):
        if not read_only:
            raise DashboardError(
                f"{home} is not writable; start the dashboard with --read-only to serve its runs "
                "without changing them"
            )
        records = _private_runtime_dir(home)
    replaced: int | None = None
    resident = status(home)
    if resident is not None:
        theirs = resident_version(resident.url) if resident.url else ""
        if theirs and _version_tuple(theirs) > _version_tuple(__version__):
            raise DashboardError(
                f"a newer dashboard ({theirs}) runs at {resident.url} (this is {__version__}); "
                "update sparkwing or stop it with: sparkwing dashboard kill"
            )
        stop_process(resident.pid)
        _forget(files_dir(home), resident.pid)
        replaced = resident.pid
    check_port_free(address)

    log = log_path(records)
    command = [sys.executable, "-m", _MODULE, "--addr", str(address),
               "--pid-file", str(pid_path(records))]
    if profile:
        command += ["--profile", profile]
    if read_only:
        command.append("--read-only")
    if from_dir is not None:
        command += ["--from", str(from_dir)]
    env = dict(os.environ, SPARKWING_HOME=str(home), PYTHONUNBUFFERED="1")
    with os.fdopen(open_private(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as out:
        offset = out.tell()
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=str(cwd) if cwd else None, env=env, start_new_session=True, close_fds=True,
        )
    resident = Resident(
        pid=proc.pid, url=address.url, addr=str(address), profile=profile or "",
        read_only=read_only, from_dir=str(from_dir or ""), started_at=time.time(),
        version=__version__, log=str(log),
    )
    _write_atomic(pid_path(records), f"{proc.pid}\n")
    _write_atomic(info_path(records), json.dumps(resident.to_dict(), indent=2) + "\n")

    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        if code is not None:
            _forget(records, proc.pid)
            reason = _failure_line(log, offset) or f"it exited with status {code}"
            raise DashboardError(f"dashboard failed to start: {reason} (log: {log})")
        if _answers(address, max(0.05, min(2.0, deadline - time.monotonic()))):
            break
        if time.monotonic() >= deadline:
            stop_process(proc.pid, grace_s=1.0)
            _forget(records, proc.pid)
            raise DashboardError(
                f"dashboard did not accept connections on {address} within {timeout_s:g}s "
                f"(log: {log})"
            )
        time.sleep(0.01)
    # The child outlives this process on purpose; stop Popen from reporting it.
    proc.returncode = 0
    return resident, replaced

"""A throwaway PostgreSQL cluster on loopback, for tests and benchmarks.

:class:`TempCluster` runs Debian's PostgreSQL binaries (``initdb``,
``pg_ctl``) on a fresh data directory with durability switched off, on a
free port of 127.0.0.1 and a short private socket directory. PostgreSQL
refuses to run as root, so as root the binaries run as the ``postgres``
user through ``runuser``. Nothing here is used by the store itself.

Example::

    with TempCluster() as pg:
        url = pg.url()            # postgresql://postgres@127.0.0.1:PORT/postgres
        pg.create_database("t1")
        pg.stop(); pg.start()     # a restart, same port and data
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: Where Debian puts the server binaries; ``SPARKWING_TEST_PG_BIN`` overrides it.
DEFAULT_BIN = "/usr/lib/postgresql/15/bin"

#: Server settings for a cluster nobody needs to survive a crash.
FAST_SETTINGS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c shared_buffers=64MB"
)


class ClusterError(RuntimeError):
    """The cluster could not be created, started or stopped (message has the server log tail)."""


def pg_bin_dir() -> Path:
    """Return the directory holding ``initdb`` and ``pg_ctl``."""
    return Path(os.environ.get("SPARKWING_TEST_PG_BIN", DEFAULT_BIN))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TempCluster:
    """One PostgreSQL cluster in a temporary directory, removed by :meth:`close`."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or pg_bin_dir()
        initdb = self.bin_dir / "initdb"
        if not initdb.is_file():
            raise ClusterError(
                f"{initdb} not found: install the PostgreSQL 15 server "
                "(apt-get install postgresql-15, or run scripts/install.sh)"
            )
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="swpg"))
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.log = self.dir / "log"
        self.port = 0
        self.running = False
        self._run(["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                   "--no-sync", "--no-instructions"])

    def __enter__(self) -> TempCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise ClusterError(
                f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip()}{self._log_tail()}"
            )
        return proc

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            return ""
        return "\nserver log:\n" + "\n".join(lines)

    def start(self) -> None:
        """Start the server (on the port it had before, else a free one; one retry on a clash)."""
        keep = self.port
        for attempt in range(2):
            if not self.port or (attempt and not keep):
                self.port = _free_port()
            opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                    + FAST_SETTINGS)
            proc = self._run(["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                              "-t", "30", "start", "-o", opts], check=False)
            if proc.returncode == 0:
                self.running = True
                return
            if keep:
                time.sleep(0.5)
        raise ClusterError(f"pg_ctl start failed: {proc.stderr.strip()}{self._log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` ends sessions; ``immediate`` is a crash)."""
        if self.running:
            self._run(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])
            self.running = False

    def close(self) -> None:
        """Stop the server at once and delete the cluster's files."""
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        """Return a ``postgresql://`` URL of *database* as a user would write it."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def sql(self, sql: str, database: str = "postgres") -> str:
        """Run *sql* as the superuser (autocommit); return rows as ``a|b`` lines."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(sql)
            if cur.description is None:
                return ""
            return "\n".join("|".join(str(v) for v in row) for row in cur.fetchall())

    def create_database(self, name: str) -> str:
        """Create database *name* and return its URL."""
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

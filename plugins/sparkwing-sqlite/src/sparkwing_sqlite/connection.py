"""Opening a SQLite state database: settings, pragmas, schema check and fault handling.

Only the standard library is imported here: opening the store is on the
start-up path of ``sparkwing run``.

Faults this module turns into one-line errors with a recovery hint instead
of hiding them:

* **Lost history.** A missing or zero-byte database next to a ``runs/``
  directory holding run logs (the laptop layout: ``$SPARKWING_HOME/state.db``
  beside ``$SPARKWING_HOME/runs``) is refused rather than silently replaced
  by a new, empty database.
* **Corruption.** On open, the database file's identity (device, inode,
  size, modification time) is compared with the one recorded in
  ``<db>.clean`` by the last clean close. When they differ, ``PRAGMA
  quick_check`` runs before anything else; a failure is reported with a
  recovery hint. Commits that change the file (SQLite checkpoints the
  write-ahead log into it now and then) update the record while the file
  was in its known state, so a ``sparkwing run`` that exits without closing
  does not cost the next one a check. ``sparkwing doctor`` runs the full
  ``PRAGMA integrity_check``. Corruption met later, by any statement, gets
  the same hint.
* **Read-only home.** When the file or its directory cannot be written, the
  database is opened read-only (``mode=ro``, or ``immutable=1`` when SQLite
  cannot even create its shared-memory file and no write-ahead log is left
  over): every read works; a write fails saying why the store is read-only.
* **Full disk.** A small reserve file (:mod:`sparkwing.storage.spacereserve`)
  sits beside the database. When a write fails with "database or disk is
  full", the reserve is freed, the write-ahead log is checkpointed and
  truncated when possible, and the failed transaction is run once more, so
  the run's final status can still be recorded; if it fails again the error
  says "no space left on device".
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sparkwing.errors import ConfigError, StoreError
from sparkwing.paths import can_create_in, make_private_dir, open_private, write_private_text
from sparkwing.storage.spacereserve import NO_SPACE, ensure_reserve, release_reserve
from sparkwing.storage.sql.migrations import ensure_sqlite_schema

#: Environment variable holding the busy timeout in milliseconds.
BUSY_TIMEOUT_ENV = "SPARKWING_SQLITE_BUSY_TIMEOUT_MS"

#: Busy timeout when the variable is unset or empty.
DEFAULT_BUSY_TIMEOUT_MS = 30_000

#: Suffix of the file recording the database's identity at its last clean close.
CLEAN_SUFFIX = ".clean"

#: Name of the run-log directory that sits beside the database in the laptop layout.
RUN_LOGS_DIR = "runs"

#: Bytes kept free beside the database for the writes that follow a full disk.
RESERVE_BYTES = 256 * 1024

#: A database file's identity: device, inode, size and modification time (ns).
Fingerprint = tuple[int, int, int, int]

_READ_ONLY_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def busy_timeout_ms(environ: Mapping[str, str] | None = None) -> int:
    """Return the busy timeout from ``SPARKWING_SQLITE_BUSY_TIMEOUT_MS`` (default 30000).

    Raises :class:`ConfigError` naming the variable when it is set to
    anything but a positive integer.
    """
    env = os.environ if environ is None else environ
    raw = env.get(BUSY_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_BUSY_TIMEOUT_MS
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(
            f"{BUSY_TIMEOUT_ENV} must be a positive integer number of milliseconds, got {raw!r}"
        )
    return value


def describe(path: Path) -> str:
    """Return how errors name a store: ``state store <path>``."""
    return f"state store {path}"


# -- fault classification --------------------------------------------------------------


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "sqlite_errorname", "") or "")


def is_corruption(exc: BaseException) -> bool:
    """Whether a sqlite3 error says the file is damaged or not a database."""
    code = _code(exc)
    return code.startswith("SQLITE_CORRUPT") or code == "SQLITE_NOTADB"


def is_full(exc: BaseException) -> bool:
    """Whether a sqlite3 error says the disk (or the database's size limit) is full."""
    return _code(exc) == "SQLITE_FULL"


def _is_read_only(exc: BaseException) -> bool:
    code = _code(exc)
    return code.startswith("SQLITE_READONLY") or code.startswith("SQLITE_CANTOPEN") or (
        code == "SQLITE_PERM"
    )


def recovery_hint(path: Path, *, doctor: bool = True) -> str:
    """How to get out of a damaged database (one line, no trailing period)."""
    bad = path.name + ".bad"
    hint = (
        f"to recover, stop sparkwing, then restore {path} from a backup, or rename it to {bad} "
        f"and salvage what is readable with `sqlite3 {bad} .recover | sqlite3 {path.name}` in "
        f"{path.parent}"
    )
    return hint + ("; `sparkwing doctor` checks the whole home" if doctor else "")


def corrupt_message(path: Path, detail: str) -> str:
    """The one-line error for a corrupted database (``cannot open state store ...: ...``)."""
    detail = " ".join(detail.split())
    return f"cannot open {describe(path)}: it is corrupted ({detail}); {recovery_hint(path)}"


# -- the clean-close record --------------------------------------------------------------


def fingerprint(path: Path) -> Fingerprint | None:
    """The identity of the database file, or ``None`` when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _identity(st: os.stat_result) -> Fingerprint:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def clean_path(path: Path) -> Path:
    """The file recording *path*'s identity at its last clean close."""
    return path.with_name(path.name + CLEAN_SUFFIX)


def read_clean(path: Path) -> Fingerprint | None:
    """The recorded identity, or ``None`` when there is no (readable) record."""
    try:
        fd = os.open(clean_path(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        raw = os.read(fd, 128)
    except OSError:
        return None
    finally:
        os.close(fd)
    parts = raw.split()
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return None
    dev, ino, size, mtime = (int(p) for p in parts)
    return (dev, ino, size, mtime)


def write_clean(path: Path, fp: Fingerprint) -> None:
    """Record *fp* as the database's known-good identity (best effort)."""
    try:
        write_private_text(clean_path(path), " ".join(str(v) for v in fp) + "\n")
    except OSError:
        pass


def quick_check(conn: sqlite3.Connection) -> str:
    """Run ``PRAGMA quick_check``; return ``""`` when it passes, else its first complaint."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    return first_problem(rows)


def first_problem(rows: list[Any]) -> str:
    """The first complaint in the rows of a ``quick_check``/``integrity_check`` (``""``: ok)."""
    lines = [ln.strip() for row in rows for ln in str(row[0]).splitlines() if ln.strip()]
    if lines == ["ok"]:
        return ""
    found = [ln for ln in lines if not ln.startswith("***")]
    return (found or lines or ["no answer"])[0]


# -- the connection ------------------------------------------------------------------


class StateConnection(sqlite3.Connection):
    """A ``sqlite3`` connection that keeps the clean-close record and explains faults.

    :func:`open_connection` sets the ``sw_*`` attributes. Statements of an
    open ``BEGIN IMMEDIATE`` transaction are remembered until it ends, so
    one that a full disk rolled back can run once more after space was
    freed.
    """

    sw_path: Path
    #: Why the database is read-only (``""`` when it is writable).
    sw_read_only: str
    #: The file's identity while it is in a known-good state (``None``: unknown).
    sw_good: Fingerprint | None
    #: The identity last written to the clean-close record.
    sw_recorded: Fingerprint | None
    #: Statements of the open write transaction (``None`` outside one).
    sw_tx: list[tuple[str, Any]] | None

    def sw_setup(self, path: Path, read_only: str) -> None:
        """Initialise the ``sw_*`` attributes (called once, right after connecting)."""
        self.sw_path = path
        self.sw_read_only = read_only
        self.sw_good = None
        self.sw_recorded = None
        self.sw_tx = None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        """Execute one statement; faults come back as sqlite3 errors naming their cause."""
        if sql == "COMMIT":
            return self._commit()
        if sql == "BEGIN IMMEDIATE":
            cur = super().execute(sql)
            self.sw_tx = []
            return cur
        if sql == "ROLLBACK":
            self.sw_tx = None
            return super().execute(sql)
        tx = self.sw_tx
        if tx is not None:
            tx.append((sql, parameters))
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            if tx is not None and is_full(exc) and self._free_space():
                return self._again(sql, parameters)
            better = self._explained(exc)
            if better is exc:
                raise
            raise better from exc

    def _again(self, sql: str, parameters: Any) -> sqlite3.Cursor:
        """Run a statement that failed for lack of space once more (its whole transaction when
        SQLite rolled that back)."""
        try:
            if not self.in_transaction:
                self._replay(self.sw_tx[:-1] if self.sw_tx else [])
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            self.sw_tx = None
            if self.in_transaction:
                super().execute("ROLLBACK")
            raise self._explained(exc) from None

    def _replay(self, statements: list[tuple[str, Any]]) -> None:
        super().execute("BEGIN IMMEDIATE")
        for sql, params in statements:
            super().execute(sql, params)

    def _commit(self) -> sqlite3.Cursor:
        """COMMIT, keeping the clean-close record when this commit changed the file."""
        path = self.sw_path
        before = fingerprint(path)
        try:
            cur = super().execute("COMMIT")
        except sqlite3.Error as exc:
            statements = self.sw_tx
            if not (statements is not None and is_full(exc) and self._free_space()):
                self.sw_tx = None
                better = self._explained(exc)
                if better is exc:
                    raise
                raise better from exc
            try:
                if not self.in_transaction:
                    self._replay(statements)
                cur = super().execute("COMMIT")
            except sqlite3.Error as again:
                self.sw_tx = None
                if self.in_transaction:
                    super().execute("ROLLBACK")
                raise self._explained(again) from None
        self.sw_tx = None
        after = fingerprint(path)
        if after != before:
            self._moved(before, after)
        return cur

    def _moved(self, before: Fingerprint | None, after: Fingerprint | None) -> None:
        """The file changed: record it when it changed from the known-good state (our write)."""
        if before is not None and before == self.sw_good and after is not None:
            self.sw_good = after
            if not self.sw_read_only:
                write_clean(self.sw_path, after)
                self.sw_recorded = after
        else:
            self.sw_good = None  # someone else changed it: the next open checks

    def close(self) -> None:
        """Close; a close that leaves the file as known (or as this connection made it) records it."""
        path = getattr(self, "sw_path", None)
        if path is None:
            super().close()
            return
        before = fingerprint(path)
        super().close()
        if self.sw_read_only or self.sw_good is None or before != self.sw_good:
            return
        after = fingerprint(path)
        if after is not None and after != self.sw_recorded:
            write_clean(path, after)
            self.sw_recorded = after

    def _free_space(self) -> bool:
        """Free room after a full-disk error: the reserve, then the write-ahead log."""
        freed = release_reserve(self.sw_path.parent)
        if not self.in_transaction:
            try:
                super().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                freed = True
            except sqlite3.Error:
                pass
        return freed

    def _explained(self, exc: sqlite3.Error) -> sqlite3.Error:
        """*exc*, or an error of the same class whose text says what to do."""
        text = str(exc)
        if is_corruption(exc):
            text = f"{text}: the database is corrupted; {recovery_hint(self.sw_path)}"
        elif is_full(exc):
            text = f"{text} ({NO_SPACE} for {self.sw_path.parent})"
        elif self.sw_read_only and _is_read_only(exc):
            text = f"{text} (opened read-only: {self.sw_read_only})"
        else:
            return exc
        better = type(exc)(text)
        better.sqlite_errorcode = getattr(exc, "sqlite_errorcode", 0)
        better.sqlite_errorname = _code(exc)
        return better


# -- opening ------------------------------------------------------------------------


def open_connection(path: Path, timeout_ms: int) -> StateConnection:
    """Open *path* (creating it and its parent directories) and bring its schema up to date.

    The connection is in autocommit mode (callers issue ``BEGIN IMMEDIATE``
    for writes), may be used from any thread (callers serialise access), and
    has WAL, ``synchronous=NORMAL``, foreign keys and the busy timeout set.
    See the module docstring for the faults it reports. Raises
    :class:`StoreError` when the file cannot be opened, is not a SQLite
    database or is corrupted, or would replace a lost history;
    :class:`~sparkwing.errors.SchemaSkewError` when it is newer than this
    program.
    """
    where = describe(path)
    st = _stat(path)
    fresh = st is None or st.st_size == 0
    if fresh:
        refuse_lost_history(path, st is not None)
    try:
        if st is None:
            make_private_dir(path.parent)
        # Created owner-only before SQLite opens it; SQLite gives the -wal and
        # -shm files the database file's permissions. Only when it does not exist
        # yet: closing a descriptor of the file drops every POSIX lock this process
        # holds on it, so doing that while another connection of this process is
        # open lets other processes checkpoint and reset the WAL under it, and that
        # connection's later commits are lost.
        if not path.exists():
            os.close(open_private(path, os.O_RDWR | os.O_CREAT))
    except OSError as exc:
        if fresh or exc.errno not in _READ_ONLY_ERRNOS:
            raise StoreError(f"cannot create {where}: {exc.strerror or exc}") from exc
        return _open_read_only(path, timeout_ms, f"{path} is not writable")
    try:
        conn = _connect(str(path), timeout_ms, uri=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {where}: {exc}") from exc
    conn.sw_setup(path, "")
    try:
        conn.execute(f"PRAGMA busy_timeout = {timeout_ms:d}")
        if st is not None and not fresh:
            _check_if_changed(conn, path, _identity(st))
        _enable_wal(conn, timeout_ms, where)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        ensure_sqlite_schema(conn, where)
    except sqlite3.Error as exc:
        conn.close()
        if _is_read_only(exc) and not fresh and not can_create_in(path.parent):
            return _open_read_only(path, timeout_ms, f"its directory {path.parent} is not writable")
        raise _open_error(path, exc) from exc
    except BaseException:
        conn.close()
        raise
    if fresh:
        conn.sw_good = fingerprint(path)
        if conn.sw_good is not None:
            write_clean(path, conn.sw_good)
            conn.sw_recorded = conn.sw_good
    ensure_reserve(path.parent, RESERVE_BYTES)
    return conn


def _connect(database: str, timeout_ms: int, *, uri: bool) -> StateConnection:
    conn = sqlite3.connect(
        database,
        timeout=timeout_ms / 1000.0,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=256,
        uri=uri,
        factory=StateConnection,
    )
    return conn


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return None


def _open_error(path: Path, exc: sqlite3.Error) -> StoreError:
    if is_corruption(exc):
        cause = exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else exc
        return StoreError(corrupt_message(path, str(cause)))
    return StoreError(f"cannot open {describe(path)}: {exc}")


def _check_if_changed(conn: StateConnection, path: Path, now: Fingerprint | None) -> None:
    """Quick-check the database when *now* (its identity) differs from the last clean close."""
    if now is not None and now == read_clean(path):
        conn.sw_good = conn.sw_recorded = now
        return
    problem = quick_check(conn)
    if problem:
        raise StoreError(corrupt_message(path, "quick check: " + problem))
    conn.sw_good = now
    if now is not None and not conn.sw_read_only:
        write_clean(path, now)
        conn.sw_recorded = now


def _open_read_only(path: Path, timeout_ms: int, reason: str) -> StateConnection:
    """Open an existing database read-only (see the module docstring)."""
    where = describe(path)
    base = "file:" + quote(str(path)) + "?mode=ro"
    conn: StateConnection | None = None
    try:
        try:
            conn = _connect(base, timeout_ms, uri=True)
            conn.sw_setup(path, reason)
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
                conn = None
            if not _is_read_only(exc):
                raise
            wal = _stat(path.with_name(path.name + "-wal"))
            if wal is not None and wal.st_size > 0:
                raise StoreError(
                    f"cannot open {where}: {reason} and its write-ahead log "
                    f"{path.name}-wal holds changes that can only be read with write access; "
                    "open it once where it is writable"
                ) from exc
            conn = _connect(base + "&immutable=1", timeout_ms, uri=True)
            conn.sw_setup(path, reason)
        conn.execute(f"PRAGMA busy_timeout = {timeout_ms:d}")
        _check_if_changed(conn, path, fingerprint(path))
        ensure_sqlite_schema(conn, where)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        if _is_read_only(exc):
            raise StoreError(
                f"cannot open {where}: {reason} and its schema needs upgrading; open it once "
                "where it is writable"
            ) from exc
        raise _open_error(path, exc) from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


def refuse_lost_history(path: Path, exists: bool) -> None:
    """Raise :class:`StoreError` when a missing or empty *path* sits beside earlier runs' logs.

    Starting a new database there would hide every run those logs belong to.
    """
    runs_dir = path.parent / RUN_LOGS_DIR
    count = run_log_dirs(runs_dir)
    if not count:
        return
    state = "is empty (0 bytes)" if exists else "is missing"
    noun = "run" if count == 1 else "runs"
    raise StoreError(
        f"{describe(path)} {state}, but {runs_dir} holds the logs of {count} earlier {noun}; "
        f"a new database would lose their history. Restore {path.name} from a backup, or move "
        f"{runs_dir} aside to start a new history (`sparkwing doctor` explains)"
    )


def run_log_dirs(runs_dir: Path) -> int:
    """How many run directories *runs_dir* holds (0 when it does not exist)."""
    try:
        with os.scandir(runs_dir) as entries:
            return sum(1 for e in entries if not e.name.startswith(".") and e.is_dir())
    except OSError:
        return 0


def _enable_wal(conn: sqlite3.Connection, timeout_ms: int, where: str) -> None:
    """Switch to WAL (a no-op when already set), retrying while another opener holds the lock.

    When several processes open a fresh file at once, changing its journal
    mode can fail at once with "database is locked" instead of waiting on
    the busy handler, so this retries until the busy timeout.
    """
    deadline = time.monotonic() + timeout_ms / 1000.0
    delay = 0.001
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    if str(mode).lower() != "wal":
        raise StoreError(f"{where}: cannot enable WAL journal mode (got {mode})")

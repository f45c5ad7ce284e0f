"""The full check of a SQLite state database, for ``sparkwing doctor``.

Reads only (the database is opened ``mode=ro``, or ``immutable=1`` when its
directory cannot be written), so it works on a read-only home and never
repairs anything by itself: each finding says what to do.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sparkwing.health import Finding
from sparkwing.storage.sql.migrations import SCHEMA_VERSION

from .connection import (
    RUN_LOGS_DIR,
    fingerprint,
    first_problem,
    is_corruption,
    read_clean,
    recovery_hint,
    run_log_dirs,
)

_MAGIC = b"SQLite format 3\x00"
#: Problems of ``PRAGMA integrity_check`` reported at most.
MAX_PROBLEMS = 20


def check_database(path: Path) -> list[Finding]:
    """Check the database at *path*: file, header, full integrity, foreign keys, schema version."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        return [Finding("state.file", "fail", f"cannot read {path}: {exc.strerror or exc}",
                        "check the permissions of the home directory")]
    if st is None or st.st_size == 0:
        return [_missing(path, st is not None)]
    try:
        with open(path, "rb") as f:
            head = f.read(len(_MAGIC))
    except OSError as exc:
        return [Finding("state.file", "fail", f"cannot read {path}: {exc.strerror or exc}",
                        "check the permissions of the file")]
    if head != _MAGIC:
        return [Finding("state.file", "fail", f"{path} is not a SQLite database (bad header)",
                        recovery_hint(path, doctor=False))]
    found = [Finding("state.file", "ok", f"{path} ({_size(st.st_size)})")]
    try:
        conn = _open_read_only(path)
    except sqlite3.Error as exc:
        status_hint = recovery_hint(path, doctor=False) if is_corruption(exc) else ""
        return [*found, Finding("state.open", "fail", f"cannot open {path}: {exc}", status_hint)]
    try:
        found.extend(_checks(conn, path))
    finally:
        conn.close()
    return found


def _checks(conn: sqlite3.Connection, path: Path) -> list[Finding]:
    out: list[Finding] = []
    try:
        rows = conn.execute(f"PRAGMA integrity_check({MAX_PROBLEMS})").fetchall()
    except sqlite3.Error as exc:
        return [Finding("state.integrity", "fail", f"integrity check failed: {exc}",
                        recovery_hint(path, doctor=False))]
    problem = first_problem(rows)
    if problem:
        count = sum(1 for r in rows for ln in str(r[0]).splitlines() if ln.strip()
                    and not ln.startswith("***"))
        more = f" and {count - 1} more" if count > 1 else ""
        return [Finding("state.integrity", "fail", f"corrupted: {problem}{more}",
                        recovery_hint(path, doctor=False))]
    out.append(Finding("state.integrity", "ok", "integrity check passed"))
    try:
        bad_refs = conn.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.Error as exc:
        bad_refs = [("?", str(exc))]
    if bad_refs:
        tables = sorted({str(r[0]) for r in bad_refs})
        out.append(Finding("state.references", "warn",
                           f"{len(bad_refs)} rows point at missing rows (in {', '.join(tables)})",
                           "harmless for reading; prune the affected runs if they get in the way"))
    else:
        out.append(Finding("state.references", "ok", "every reference resolves"))
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        out.append(Finding("state.schema", "fail",
                           f"schema version {version} is newer than this sparkwing ({SCHEMA_VERSION})",
                           "upgrade sparkwing (all its packages together)"))
    elif version < SCHEMA_VERSION:
        out.append(Finding("state.schema", "warn",
                           f"schema version {version}; this sparkwing uses {SCHEMA_VERSION}",
                           "the next command that opens it with write access migrates it"))
    else:
        out.append(Finding("state.schema", "ok", f"schema version {version}"))
    now = fingerprint(path)
    if now is not None and now == read_clean(path):
        out.append(Finding("state.closed", "ok", "unchanged since its last clean close"))
    else:
        out.append(Finding("state.closed", "ok",
                           "changed since its last clean close (the next open quick-checks it)"))
    return out


def _open_read_only(path: Path) -> sqlite3.Connection:
    base = "file:" + quote(str(path)) + "?mode=ro"
    try:
        conn = sqlite3.connect(base, uri=True, isolation_level=None)
        conn.execute("PRAGMA user_version").fetchone()
        return conn
    except sqlite3.Error as exc:
        if not str(getattr(exc, "sqlite_errorname", "")).startswith(
            ("SQLITE_READONLY", "SQLITE_CANTOPEN")
        ):
            raise
    return sqlite3.connect(base + "&immutable=1", uri=True, isolation_level=None)


def _missing(path: Path, exists: bool) -> Finding:
    runs_dir = path.parent / RUN_LOGS_DIR
    count = run_log_dirs(runs_dir)
    state = "is empty (0 bytes)" if exists else "does not exist"
    if count:
        return Finding(
            "state.file", "fail",
            f"{path} {state} but {runs_dir} holds the logs of {count} runs",
            f"restore {path.name} from a backup; or, to give up that history, move {runs_dir} "
            "aside and the next run starts a new database",
        )
    return Finding("state.file", "ok", f"{path} {state} yet (the first run creates it)")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"

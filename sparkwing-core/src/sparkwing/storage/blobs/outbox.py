"""The outbox: writes for an unreachable object store, kept in SQLite until it returns.

``$SPARKWING_HOME/outbox.db`` (owner-only) holds, in order, every write a
blob-backed store could not make because the store raised
:class:`~sparkwing.storage.blobs.contracts.BlobUnavailable`: state writes
(``state``), log parts (``log``) and artifacts (``artifact``). Each entry
names its *target* (one surface of one profile: type, a hash of the
settings, the profile and the project directory it was used from) and the
*writer* (one store object in one process) that queued it.

Entries are replayed oldest first, by whoever holds the drain lock
(``outbox.lock``): the writing process when the store answers again, the
next command that opens the same store, or ``sparkwing outbox flush``.
Replays are idempotent (operation ids in run records, incarnations of runs,
content checks of log parts, content addressing of blobs), so an entry
whose first attempt did land is not applied twice. An entry that fails
for another reason than the store being unreachable is kept, marked
``failed`` with its error, and skipped (``sparkwing outbox status`` shows it).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ...errors import StoreError
from ...paths import make_private_dir, open_private

FILE_NAME: Final = "outbox.db"
LOCK_NAME: Final = "outbox.lock"

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS targets (
        id TEXT PRIMARY KEY, surface TEXT NOT NULL, type TEXT NOT NULL,
        profile TEXT NOT NULL, project TEXT NOT NULL, created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, writer TEXT NOT NULL,
        tag TEXT NOT NULL, op TEXT NOT NULL, key TEXT NOT NULL DEFAULT '',
        args TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
        failed INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS entries_target ON entries (target, failed, id)",
    "CREATE INDEX IF NOT EXISTS entries_key ON entries (target, key)",
)


@dataclass(frozen=True, slots=True)
class Target:
    """Where queued writes go: one surface of one profile, as the outbox records it."""

    id: str
    surface: str
    type: str
    profile: str
    project: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One queued write."""

    id: int
    target: str
    writer: str
    tag: str
    op: str
    key: str
    args: dict[str, Any]
    body: bytes
    created_at: float
    attempts: int
    last_error: str
    failed: bool


def outbox_path(home: Path) -> Path:
    """The outbox database of a sparkwing home."""
    return home / FILE_NAME


class Outbox:
    """The outbox database of one sparkwing home; safe across threads and processes."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = outbox_path(home)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    # -- connection ---------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the database file exists (nothing was ever queued otherwise)."""
        return self.path.is_file()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            make_private_dir(self.home)
            if not self.path.exists():
                os.close(open_private(self.path, os.O_RDWR | os.O_CREAT))
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            for sql in _SCHEMA:
                conn.execute(sql)
            self._conn = conn
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- writing ------------------------------------------------------------------
    def enqueue(self, target: Target, writer: str, tag: str, op: str, args: dict[str, Any],
                body: bytes = b"", key: str = "", merge: str = "") -> int:
        """Queue one write and return its id.

        With *merge* (a field of *args* holding a dict), a write that follows
        an entry of the same writer, op and key replaces that entry's
        ``args[merge]`` by the union of both instead of adding a row (a run's
        heartbeats while the store is down make one entry, not hundreds).
        """
        try:
            with self._tx() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO targets (id, surface, type, profile, project, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (target.id, target.surface, target.type, target.profile, target.project,
                     time.time()),
                )
                if merge:
                    row = conn.execute(
                        "SELECT id, writer, op, key, args FROM entries WHERE target = ? "
                        "ORDER BY id DESC LIMIT 1", (target.id,),
                    ).fetchone()
                    if row is not None and (row[1], row[2], row[3]) == (writer, op, key):
                        old = json.loads(row[4])
                        old[merge] = {**old.get(merge, {}), **args.get(merge, {})}
                        conn.execute("UPDATE entries SET args = ? WHERE id = ?",
                                     (json.dumps(old), row[0]))
                        return int(row[0])
                cur = conn.execute(
                    "INSERT INTO entries (target, writer, tag, op, key, args, body, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (target.id, writer, tag, op, key, json.dumps(args), body, time.time()),
                )
                return int(cur.lastrowid or 0)
        except sqlite3.Error as exc:
            raise StoreError(f"outbox {self.path}: cannot queue a write ({exc})") from exc

    def done(self, entry_id: int) -> None:
        """Remove a replayed entry."""
        with self._tx() as conn:
            conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))

    def attempted(self, entry_id: int, error: str, *, failed: bool) -> None:
        """Count a failed replay of an entry; with *failed*, stop replaying it."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE entries SET attempts = attempts + 1, last_error = ?, failed = ? "
                "WHERE id = ?", (error[:2000], 1 if failed else 0, entry_id),
            )

    def retry_failed(self, target: str | None = None) -> int:
        """Put entries marked failed back in line; return how many."""
        with self._tx() as conn:
            if target is None:
                cur = conn.execute("UPDATE entries SET failed = 0 WHERE failed = 1")
            else:
                cur = conn.execute("UPDATE entries SET failed = 0 WHERE failed = 1 AND target = ?",
                                   (target,))
            return cur.rowcount

    # -- reading ------------------------------------------------------------------
    def pending(self, target: str, writer: str | None = None) -> int:
        """How many entries of *target* (of one *writer*) wait to be replayed."""
        if not self.exists():
            return 0
        with self._lock:
            conn = self._db()
            if writer is None:
                row = conn.execute("SELECT COUNT(*) FROM entries WHERE target = ? AND failed = 0",
                                   (target,)).fetchone()
            else:
                row = conn.execute(
                    "SELECT COUNT(*) FROM entries WHERE target = ? AND writer = ? AND failed = 0",
                    (target, writer),
                ).fetchone()
        return int(row[0])

    def next_entries(self, target: str, after_id: int = 0, limit: int = 100) -> list[Entry]:
        """The oldest entries of *target* still to replay, after *after_id*."""
        with self._lock:
            rows = self._db().execute(
                "SELECT id, target, writer, tag, op, key, args, body, created_at, attempts, "
                "last_error, failed FROM entries WHERE target = ? AND failed = 0 AND id > ? "
                "ORDER BY id LIMIT ?", (target, after_id, limit),
            ).fetchall()
        return [_entry(r) for r in rows]

    def latest_for_key(self, target: str, key: str) -> Entry | None:
        """The newest entry of *target* under *key* (read-your-writes for queued artifacts)."""
        if not self.exists():
            return None
        with self._lock:
            row = self._db().execute(
                "SELECT id, target, writer, tag, op, key, args, body, created_at, attempts, "
                "last_error, failed FROM entries WHERE target = ? AND key = ? AND failed = 0 "
                "ORDER BY id DESC LIMIT 1", (target, key),
            ).fetchone()
        return None if row is None else _entry(row)

    def keys_with_prefix(self, target: str, prefix: str) -> list[Entry]:
        """Entries of *target* whose key starts with *prefix*, oldest first."""
        if not self.exists():
            return []
        with self._lock:
            rows = self._db().execute(
                "SELECT id, target, writer, tag, op, key, args, body, created_at, attempts, "
                "last_error, failed FROM entries WHERE target = ? AND failed = 0 "
                "AND substr(key, 1, ?) = ? ORDER BY id", (target, len(prefix), prefix),
            ).fetchall()
        return [_entry(r) for r in rows]

    def targets(self) -> list[Target]:
        """Every target that has entries."""
        if not self.exists():
            return []
        with self._lock:
            rows = self._db().execute(
                "SELECT id, surface, type, profile, project FROM targets WHERE id IN "
                "(SELECT DISTINCT target FROM entries) ORDER BY created_at",
            ).fetchall()
        return [Target(*r) for r in rows]

    def summary(self) -> list[dict[str, Any]]:
        """Per target: entries waiting, failed, bytes, oldest age, last error."""
        out: list[dict[str, Any]] = []
        now = time.time()
        for target in self.targets():
            with self._lock:
                row = self._db().execute(
                    "SELECT SUM(failed = 0), SUM(failed = 1), "
                    "COALESCE(SUM(length(body) + length(args)), 0), MIN(created_at), "
                    "SUM(tag = 'state'), SUM(tag = 'log'), SUM(tag = 'artifact') "
                    "FROM entries WHERE target = ?", (target.id,),
                ).fetchone()
                err = self._db().execute(
                    "SELECT last_error FROM entries WHERE target = ? AND last_error != '' "
                    "ORDER BY id DESC LIMIT 1", (target.id,),
                ).fetchone()
            out.append({
                "target": target.id, "profile": target.profile, "surface": target.surface,
                "type": target.type, "project": target.project,
                "pending": int(row[0] or 0), "failed": int(row[1] or 0), "bytes": int(row[2]),
                "oldest_age_s": round(now - row[3], 1) if row[3] else 0.0,
                "state": int(row[4] or 0), "log": int(row[5] or 0), "artifact": int(row[6] or 0),
                "last_error": err[0] if err else "",
            })
        return out

    # -- draining -----------------------------------------------------------------
    @contextmanager
    def drain_lock(self) -> Iterator[bool]:
        """Hold the drain lock of this home if free; yields whether it was taken."""
        make_private_dir(self.home)
        fd = open_private(self.home / LOCK_NAME, os.O_RDWR | os.O_CREAT)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _entry(row: tuple[Any, ...]) -> Entry:
    return Entry(int(row[0]), row[1], row[2], row[3], row[4], row[5], json.loads(row[6]),
                 bytes(row[7]), float(row[8]), int(row[9]), row[10], bool(row[11]))


_outboxes: dict[Path, Outbox] = {}
_outboxes_lock = threading.Lock()


def outbox_for(home: Path) -> Outbox:
    """The process's :class:`Outbox` object of *home* (one per home)."""
    with _outboxes_lock:
        box = _outboxes.get(home)
        if box is None:
            box = _outboxes[home] = Outbox(home)
        return box

"""Login users and their browser sessions, in the controller's state database.

A **user** has a name, an argon2id-hashed password (the parameters of
:mod:`.tokens`) and scopes from the token vocabulary (:mod:`.scopes`).
``sparkwing controller user create|list|delete|passwd`` manage them; the
web UI's login page (``POST /login``) turns a name and password into a
**session**.

A session id is 32 random bytes (base64url), sent only in an ``HttpOnly``
cookie. The ``user_sessions`` table keeps its SHA-256, never the id: the
id is a high-entropy secret, so a fast hash is enough to make a copy of
the table useless for logging in (a password needs argon2 because people
choose guessable ones). The session's **CSRF token** is an HMAC of the
session id, so it is stored nowhere and cannot be computed without the id.

Every request reads the session's row joined with its user's row, so a
logout, a ``user delete`` or a ``user passwd`` (both end every session of
the user) or an expiry takes effect on the next request, also when done by
another process. The user's scopes are read at the same time.

Both tables are declared in :mod:`sparkwing.storage.sql.schema` (schema
version 6) and reached through a :class:`~.statedb.StateDB` handle, the
token table's (SQLite: its own connection; PostgreSQL: the state store's engine).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sparkwing.errors import NotFoundError, UsageError

from .statedb import DuplicateKey, StateDB
from .tokens import password_hasher

#: How long a session lasts unless the controller is told otherwise (seconds).
DEFAULT_SESSION_TTL_S = 12 * 3600.0
#: Shortest password ``user create`` and ``user passwd`` accept.
MIN_PASSWORD_LEN = 8
#: Longest accepted password (argon2 hashes anything, but a login body need not be huge).
MAX_PASSWORD_LEN = 1024
#: ``last_seen_at`` of a session is rewritten at most this often (seconds).
LAST_SEEN_EVERY_S = 60.0
#: Characters allowed in a user name.
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")
#: Longest user name.
MAX_NAME_LEN = 64

_USER_COLUMNS = ("name", "password_hash", "scopes_json", "created_at", "updated_at",
                 "last_login_at")


@dataclass(slots=True)
class UserRecord:
    """One row of ``users`` (never the password hash)."""

    name: str
    scopes: list[str] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0
    last_login_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (times in Unix seconds, ``null`` when unset)."""
        return {"name": self.name, "scopes": list(self.scopes), "created_at": self.created_at,
                "updated_at": self.updated_at, "last_login_at": self.last_login_at}


@dataclass(frozen=True, slots=True)
class Session:
    """A live session, as a request presenting its id sees it."""

    user: str
    scopes: tuple[str, ...]
    csrf_token: str
    expires_at: float
    id_hash: str


class UserExists(UsageError):
    """A user with that name exists already (or, for the first user, any user does)."""


class LoginFailed(Exception):
    """Wrong name or password (one reason for both, so names cannot be probed)."""


def check_name(name: str, *, flag: str = "--name") -> str:
    """*name* stripped, or :class:`UsageError` saying what a user name may hold."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LEN or not set(name) <= _NAME_CHARS:
        raise UsageError(f"{flag} {name!r}: a user name is 1-{MAX_NAME_LEN} characters of "
                         "letters, digits and . _ @ -")
    return name


def check_password(password: str) -> str:
    """*password*, or :class:`UsageError` when it is too short or too long."""
    if len(password) < MIN_PASSWORD_LEN:
        raise UsageError(f"the password must have at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise UsageError(f"the password must have at most {MAX_PASSWORD_LEN} characters")
    return password


def session_hash(session_id: str) -> str:
    """The stored form of a session id: its SHA-256 in hex."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token_of(session_id: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of a fixed label keyed by the session id."""
    digest = hmac.new(session_id.encode(), b"sparkwing-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _user(row: tuple[Any, ...]) -> UserRecord:
    name, _hash, scopes, created, updated, last_login = row
    return UserRecord(name, list(json.loads(scopes or "[]")), float(created), float(updated),
                      last_login)


class UserStore:
    """The ``users`` and ``user_sessions`` tables, through a :class:`~.statedb.StateDB`.

    Shares the token table's database handle (the caller closes it). Safe to
    use from several threads and processes at once.
    """

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self._hasher = password_hasher()
        # Verified against when the user does not exist, so a wrong name costs what a
        # wrong password does (no probing of names by timing); made on first use.
        self._decoy = ""

    @property
    def where(self) -> str:
        """Where the tables live (the state file, or the PostgreSQL database)."""
        return self.db.where

    def _query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.db.query(sql, params)

    def _write(self, sql: str, **params: Any) -> int:
        return self.db.write(sql, params)

    # -- users -------------------------------------------------------------------------
    def create(self, name: str, password: str, scopes: list[str], *,
               now: float | None = None, first: bool = False) -> UserRecord:
        """Create a user; :class:`UsageError` when the name is invalid, :class:`UserExists`
        when it is taken.

        With *first* the user is created only while the table is empty (the
        first-admin bootstrap): the emptiness check and the insert are one
        statement, so of two concurrent first users one gets :class:`UserExists`.
        """
        name = check_name(name)
        check_password(password)
        stamp = time.time() if now is None else now
        rec = UserRecord(name, sorted(set(scopes)), stamp, stamp)
        values = ":name, :hash, :scopes, :now, :now, NULL"
        insert = (f"INSERT INTO users ({', '.join(_USER_COLUMNS)}) "
                  + (f"SELECT {values} WHERE NOT EXISTS (SELECT 1 FROM users)" if first
                     else f"VALUES ({values})"))
        try:
            added = self._write(insert, name=name, hash=self._hasher.hash(password),
                                scopes=json.dumps(rec.scopes), now=stamp)
        except DuplicateKey:
            added = 0
        if not added:
            if first:
                raise UserExists("a user exists already: the first-user sign-up is closed "
                                 "(an admin creates users)")
            raise UserExists(f"user {name!r}: a user with that name exists (see `sparkwing "
                             "controller user list`)")
        return rec

    def get(self, name: str) -> UserRecord | None:
        """The user called *name*, or ``None``."""
        rows = self._query(f"SELECT {', '.join(_USER_COLUMNS)} FROM users WHERE name = :n",
                           n=name)
        return _user(rows[0]) if rows else None

    def list(self) -> list[UserRecord]:
        """Every user, by name."""
        rows = self._query(f"SELECT {', '.join(_USER_COLUMNS)} FROM users ORDER BY name")
        return [_user(r) for r in rows]

    def has_any(self) -> bool:
        """Whether any user exists (auth is then enforced, as for a live token)."""
        return bool(self._query("SELECT 1 FROM users LIMIT 1"))

    def delete(self, name: str) -> None:
        """Delete the user and end its sessions; :class:`NotFoundError` if there is none."""
        if not self._write("DELETE FROM users WHERE name = :n", n=name):
            raise NotFoundError(f"no user {name!r} (see `sparkwing controller user list`)")
        self.end_sessions(name)

    def set_password(self, name: str, password: str, *, now: float | None = None) -> int:
        """Change the password and end the user's sessions; return how many were ended."""
        check_password(password)
        stamp = time.time() if now is None else now
        if not self._write("UPDATE users SET password_hash = :h, updated_at = :now "
                           "WHERE name = :n", h=self._hasher.hash(password), now=stamp, n=name):
            raise NotFoundError(f"no user {name!r} (see `sparkwing controller user list`)")
        return self.end_sessions(name, now=stamp)

    def check_password(self, name: str, password: str) -> UserRecord:
        """The user when *password* is theirs; :class:`LoginFailed` otherwise (one argon2 hash)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        rows = self._query(
            f"SELECT {', '.join(_USER_COLUMNS)} FROM users WHERE name = :n", n=name)
        if not rows and not self._decoy:
            self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        stored = str(rows[0][1]) if rows else self._decoy
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            raise LoginFailed() from None
        if not rows:
            raise LoginFailed()
        return _user(rows[0])

    # -- sessions ----------------------------------------------------------------------
    def start_session(self, user: UserRecord, *, ttl_s: float = DEFAULT_SESSION_TTL_S,
                      client: str = "", now: float | None = None) -> tuple[str, Session]:
        """A new session for *user*: ``(session id, session)``; only the id's hash is kept."""
        stamp = time.time() if now is None else now
        session_id = secrets.token_urlsafe(32)
        digest = session_hash(session_id)
        self._write(
            "INSERT INTO user_sessions (id_hash, user_name, created_at, expires_at, revoked_at, "
            "last_seen_at, client) VALUES (:h, :u, :now, :exp, NULL, :now, :client)",
            h=digest, u=user.name, now=stamp, exp=stamp + ttl_s, client=client[:200])
        self._write("UPDATE users SET last_login_at = :now WHERE name = :u", now=stamp,
                    u=user.name)
        return session_id, Session(user.name, tuple(user.scopes), csrf_token_of(session_id),
                                   stamp + ttl_s, digest)

    def session(self, session_id: str, *, now: float | None = None) -> Session | None:
        """The live session with *session_id* (with its user's current scopes), or ``None``."""
        if not session_id or len(session_id) > 128:
            return None
        stamp = time.time() if now is None else now
        digest = session_hash(session_id)
        rows = self._query(
            "SELECT s.user_name, u.scopes_json, s.expires_at, s.revoked_at, s.last_seen_at "
            "FROM user_sessions s JOIN users u ON u.name = s.user_name WHERE s.id_hash = :h",
            h=digest)
        if not rows:
            return None
        user, scopes, expires, revoked, seen = rows[0]
        if revoked is not None or float(expires) <= stamp:
            return None
        if seen is None or stamp - float(seen) >= LAST_SEEN_EVERY_S:
            self._write("UPDATE user_sessions SET last_seen_at = :now WHERE id_hash = :h",
                        now=stamp, h=digest)
        return Session(str(user), tuple(json.loads(scopes or "[]")), csrf_token_of(session_id),
                       float(expires), digest)

    def end_session(self, session_id: str, *, now: float | None = None) -> bool:
        """Revoke one session (logout); whether a live one was ended."""
        stamp = time.time() if now is None else now
        return bool(self._write(
            "UPDATE user_sessions SET revoked_at = :now WHERE id_hash = :h AND revoked_at IS NULL",
            now=stamp, h=session_hash(session_id)))

    def end_sessions(self, name: str, *, now: float | None = None) -> int:
        """Revoke every live session of user *name*; return how many."""
        stamp = time.time() if now is None else now
        return self._write(
            "UPDATE user_sessions SET revoked_at = :now WHERE user_name = :u "
            "AND revoked_at IS NULL AND expires_at > :now", now=stamp, u=name)

    def live_sessions(self, name: str, *, now: float | None = None) -> int:
        """How many sessions of *name* are neither revoked nor expired."""
        stamp = time.time() if now is None else now
        rows = self._query(
            "SELECT COUNT(*) FROM user_sessions WHERE user_name = :u AND revoked_at IS NULL "
            "AND expires_at > :now", u=name, now=stamp)
        return int(rows[0][0]) if rows else 0

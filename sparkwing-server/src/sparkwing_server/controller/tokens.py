"""API tokens: the raw format, argon2id hashing, and the token table of the state store.

A raw token is ``<marker>_<43 characters of base64url>`` (32 random
bytes); the marker says its kind: ``swu`` user, ``swr`` runner, ``sws``
service. Its first :data:`PREFIX_LEN` characters are the **prefix**: not
secret, the primary key of the ``api_tokens`` table, shown by ``token
list`` and used to revoke or rotate. Only an argon2id hash of the whole
token is stored, so checking a presented token costs one row read by its
prefix and one hash.

Every request reads the token's row, so a revocation (also one made by
``sparkwing controller token revoke`` in another process while the
controller runs) or an expiry takes effect on the next request. What is
remembered is only the *hash check*: once a raw token has matched its
row's argon2id hash, the store keeps a keyed digest (HMAC-SHA256 with a
per-process random key) of it next to that hash string, and a later
request presenting the same token against the same unchanged row skips
argon2 (about 300 ms of CPU on a loaded 2-core machine). The memo never
decides validity: the row's ``revoked_at`` and ``expires_at`` are checked
on every request, after the hash check (so only the token's holder
learns that it was revoked or expired).

The table lives in the state store's database (schema version 5, see
:mod:`sparkwing.storage.sql.schema`). :class:`TokenStore` reaches it
through a :class:`~.statedb.StateDB` handle: its own connection to a SQLite
state file, or the SQLAlchemy engine of the PostgreSQL state store;
:func:`open_token_store` picks one and refuses other state backends with
one line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparkwing.errors import NotFoundError, UsageError

from .statedb import DuplicateKey, StateDB, open_state_db

if TYPE_CHECKING:
    from sparkwing.config import Stores

#: Kind name -> marker at the start of the raw token.
MARKERS: dict[str, str] = {"user": "swu", "runner": "swr", "service": "sws"}
#: Characters of a raw token that identify it (marker, ``_`` and 8 of the random part).
PREFIX_LEN = 12
#: Length of a raw token (marker, ``_``, 43 base64url characters).
TOKEN_LEN = 4 + 43

# argon2id parameters (cluster.md §3): time 1, 64 MiB, 4 lanes, 32-byte hash, 16-byte salt.
_TIME_COST = 1
_MEMORY_KIB = 64 * 1024
_PARALLELISM = 4


def password_hasher() -> Any:
    """The argon2id hasher of tokens and passwords (the parameters above)."""
    from argon2 import PasswordHasher, Type

    return PasswordHasher(time_cost=_TIME_COST, memory_cost=_MEMORY_KIB,
                          parallelism=_PARALLELISM, hash_len=32, salt_len=16, type=Type.ID)


def new_raw_token(kind: str) -> str:
    """A fresh raw token of *kind* (``user``, ``runner`` or ``service``)."""
    body = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"{MARKERS[kind]}_{body}"


def split_raw(raw: str) -> tuple[str, str] | None:
    """``(kind, prefix)`` of a well-formed raw token, or ``None`` (nothing is looked up then)."""
    if len(raw) != TOKEN_LEN or raw[3:4] != "_":
        return None
    kind = next((k for k, m in MARKERS.items() if raw.startswith(m)), None)
    if kind is None:
        return None
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    if not set(raw[4:]) <= alphabet:
        return None
    return kind, raw[:PREFIX_LEN]


#: Longest lifetime a token may be given (seconds): a hundred years.
MAX_TTL_S = 100 * 365 * 86400.0


def check_kind(kind: str, *, flag: str = "--kind") -> str:
    """*kind* when it is a token kind; :class:`UsageError` naming the valid ones otherwise."""
    if kind not in MARKERS:
        raise UsageError(f"{flag} {kind!r}: expected one of {', '.join(MARKERS)}")
    return kind


def check_owner(name: str, *, flag: str = "--name") -> str:
    """The token owner's name, stripped; :class:`UsageError` when it is blank."""
    if not name.strip():
        raise UsageError(f"{flag}: give the token's owner a name")
    return name.strip()


def check_ttl(seconds: float, *, flag: str = "--ttl") -> float:
    """*seconds* when it is a usable lifetime (more than zero, at most :data:`MAX_TTL_S`)."""
    if not seconds > 0:
        raise UsageError(f"{flag}: must be longer than zero, got {seconds:g} seconds")
    if seconds > MAX_TTL_S:
        raise UsageError(f"{flag}: must be at most {int(MAX_TTL_S)} seconds, got {seconds:g}")
    return seconds


@dataclass(slots=True)
class TokenRecord:
    """One row of ``api_tokens`` (never the raw token)."""

    prefix: str
    kind: str
    name: str
    scopes: list[str] = field(default_factory=list)
    created_at: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None
    replaced_by: str = ""

    def status(self, now: float) -> str:
        """``active``, ``rotating`` (revocation scheduled), ``revoked`` or ``expired``."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "rotating" if self.revoked_at is not None else "active"

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """JSON form (times in Unix seconds, ``null`` when unset), with ``status``."""
        return {
            "prefix": self.prefix, "kind": self.kind, "name": self.name,
            "scopes": list(self.scopes), "created_at": self.created_at,
            "expires_at": self.expires_at, "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at, "replaced_by": self.replaced_by,
            "status": self.status(time.time() if now is None else now),
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token belongs to."""

    kind: str
    name: str
    scopes: tuple[str, ...]
    prefix: str

    @property
    def label(self) -> str:
        """``kind:name``, as error bodies and logs show it."""
        return f"{self.kind}:{self.name}"


class TokenRejected(Exception):
    """A presented token is not valid; ``reason`` is ``malformed``, ``unknown``, ``revoked`` or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_COLUMNS = ("prefix", "hash", "kind", "name", "scopes_json", "created_at", "expires_at",
            "revoked_at", "last_used_at", "replaced_by")
#: ``last_used_at`` is rewritten at most this often per token (seconds).
LAST_USED_EVERY_S = 60.0
#: Verified tokens remembered (see the module docstring); the oldest is dropped beyond this.
MEMO_SIZE = 4096


def _record(row: tuple[Any, ...]) -> TokenRecord:
    prefix, _hash, kind, name, scopes, created, expires, revoked, used, replaced = row
    return TokenRecord(prefix, kind, name, list(json.loads(scopes or "[]")), float(created),
                       expires, revoked, used, replaced or "")


class TokenStore:
    """The ``api_tokens`` table of the state database, through a :class:`~.statedb.StateDB`.

    Safe to share between threads and to use from several processes at
    once (the CLI while the controller runs).
    """

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._hasher = password_hasher()
        self._memo_key = secrets.token_bytes(32)
        #: prefix -> (keyed digest of the raw token, the row's hash string) of a verified token.
        self._memo: dict[str, tuple[bytes, str]] = {}

    def _digest(self, raw: str) -> bytes:
        return hmac.new(self._memo_key, raw.encode(), hashlib.sha256).digest()

    def _hash_matches(self, prefix: str, stored: str, raw: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        digest = self._digest(raw)
        with self._lock:
            seen = self._memo.get(prefix)
        if seen is not None and seen[1] == stored and hmac.compare_digest(seen[0], digest):
            return True
        try:
            self._hasher.verify(stored, raw)
        except (VerificationError, InvalidHashError):
            return False
        with self._lock:
            self._memo.pop(prefix, None)
            self._memo[prefix] = (digest, stored)
            while len(self._memo) > MEMO_SIZE:
                self._memo.pop(next(iter(self._memo)))
        return True

    @property
    def where(self) -> str:
        """Where the table lives (the state file, or the PostgreSQL database)."""
        return self.db.where

    def close(self) -> None:
        """Release the database connection."""
        self.db.close()

    def _query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.db.query(sql, params)

    def _write(self, sql: str, **params: Any) -> int:
        return self.db.write(sql, params)

    # -- management -----------------------------------------------------------------
    def create(self, kind: str, name: str, scopes: list[str], *, ttl_s: float | None = None,
               now: float | None = None) -> tuple[str, TokenRecord]:
        """Create a token; return ``(raw token, record)``. The raw token is not kept anywhere."""
        check_kind(kind)
        name = check_owner(name)
        if ttl_s is not None:
            check_ttl(ttl_s)
        stamp = time.time() if now is None else now
        expires = stamp + ttl_s if ttl_s else None
        for _ in range(8):
            raw = new_raw_token(kind)
            rec = TokenRecord(raw[:PREFIX_LEN], kind, name, sorted(set(scopes)), stamp,
                              expires)
            try:
                self._write(
                    f"INSERT INTO api_tokens ({', '.join(_COLUMNS)}) VALUES (:prefix, :hash, "
                    ":kind, :name, :scopes, :created, :expires, NULL, NULL, '')",
                    prefix=rec.prefix, hash=self._hasher.hash(raw), kind=kind, name=rec.name,
                    scopes=json.dumps(rec.scopes), created=stamp, expires=expires,
                )
            except DuplicateKey:
                continue  # the 48-bit prefix collided: draw again
            return raw, rec
        raise RuntimeError("could not draw an unused token prefix")

    def get(self, prefix: str) -> TokenRecord | None:
        """The record with *prefix*, or ``None``."""
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM api_tokens WHERE prefix = :p",
                           p=prefix)
        return _record(rows[0]) if rows else None

    def list(self, *, include_revoked: bool = True, kind: str = "") -> list[TokenRecord]:
        """Every record (of *kind*, when given), newest first; revoked and expired ones too
        unless told otherwise."""
        where, params = ("WHERE kind = :kind ", {"kind": kind}) if kind else ("", {})
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM api_tokens {where}"
                           "ORDER BY created_at DESC, prefix DESC", **params)
        now = time.time()
        records = [_record(r) for r in rows]
        if not include_revoked:
            records = [r for r in records if r.status(now) in ("active", "rotating")]
        return records

    def has_live(self, now: float | None = None) -> bool:
        """Whether any token is neither revoked nor expired."""
        stamp = time.time() if now is None else now
        rows = self._query(
            "SELECT 1 FROM api_tokens WHERE (revoked_at IS NULL OR revoked_at > :now) "
            "AND (expires_at IS NULL OR expires_at > :now) LIMIT 1", now=stamp)
        return bool(rows)

    def revoke(self, prefix: str, *, now: float | None = None) -> TokenRecord:
        """Revoke *prefix* at once; :class:`NotFoundError` if unknown or already revoked."""
        stamp = time.time() if now is None else now
        changed = self._write(
            "UPDATE api_tokens SET revoked_at = :now WHERE prefix = :p "
            "AND (revoked_at IS NULL OR revoked_at > :now)", now=stamp, p=prefix)
        if not changed:
            rec = self.get(prefix)
            if rec is None:
                raise NotFoundError(f"no token with prefix {prefix!r} (see `sparkwing controller "
                                    "token list`)")
            raise NotFoundError(f"token {prefix} is already revoked")
        rec = self.get(prefix)
        assert rec is not None
        return rec

    def rotate(self, prefix: str, *, grace_s: float = 0.0, ttl_s: float | None = None,
               now: float | None = None) -> tuple[str, TokenRecord, TokenRecord]:
        """Replace *prefix* with a new token of the same kind, name and scopes.

        The old token stops working after *grace_s* (0: at once). The new
        one expires after *ttl_s*, or when the old one would have (``None``).
        Returns ``(raw new token, new record, old record)``.
        """
        stamp = time.time() if now is None else now
        old = self.get(prefix)
        if old is None:
            raise NotFoundError(f"no token with prefix {prefix!r} (see `sparkwing controller "
                                "token list`)")
        if old.status(stamp) in ("revoked", "expired"):
            raise NotFoundError(f"token {prefix} is {old.status(stamp)}; create a new one instead")
        if ttl_s is None and old.expires_at is not None:
            ttl_s = old.expires_at - stamp
        raw, new = self.create(old.kind, old.name, old.scopes, ttl_s=ttl_s, now=stamp)
        self._write("UPDATE api_tokens SET revoked_at = :at, replaced_by = :new WHERE prefix = :p",
                    at=stamp + max(grace_s, 0.0), new=new.prefix, p=prefix)
        after = self.get(prefix)
        assert after is not None
        return raw, new, after

    # -- the hot path -------------------------------------------------------------------
    def verify(self, raw: str, *, now: float | None = None) -> Principal:
        """The principal of *raw*, or :class:`TokenRejected` (one row read, at most one argon2 hash)."""
        parts = split_raw(raw)
        if parts is None:
            raise TokenRejected("malformed")
        _kind, prefix = parts
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM api_tokens WHERE prefix = :p",
                           p=prefix)
        if not rows or not self._hash_matches(prefix, str(rows[0][1]), raw):
            raise TokenRejected("unknown")
        rec = _record(rows[0])
        stamp = time.time() if now is None else now
        status = rec.status(stamp)
        if status in ("revoked", "expired"):
            raise TokenRejected(status)
        if rec.last_used_at is None or stamp - rec.last_used_at >= LAST_USED_EVERY_S:
            self._write("UPDATE api_tokens SET last_used_at = :now WHERE prefix = :p",
                        now=stamp, p=prefix)
        return Principal(rec.kind, rec.name, tuple(rec.scopes), prefix)

def open_token_store(stores: Stores) -> TokenStore:
    """The token table of *stores*' state database."""
    return TokenStore(open_state_db(stores, "its tokens"))

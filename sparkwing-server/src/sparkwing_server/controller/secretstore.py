"""The controller's secrets: the ``secrets`` table of the state database, values sealed.

One row per name: the value sealed by :class:`~.secretkeys.Keyring`
(AES-256-GCM, never the plaintext), the id of the key that sealed it,
whether runs mask it in their logs, who set it and when. The table is
declared in :mod:`sparkwing.storage.sql.schema` (schema version 8) and
reached like the token table, through a :class:`~.statedb.StateDB`: its own
connection to a SQLite state file, or the PostgreSQL state store's engine.

Listing and deleting need no key; setting, reading and rekeying do. A
value is never logged, never part of an exception message, and leaves the
store only through :meth:`SecretStore.get`.
"""

from __future__ import annotations

import builtins
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparkwing.errors import ConfigError, UsageError

from .secretkeys import NO_KEY_MESSAGE, Keyring, SecretUnreadable
from .statedb import StateDB, open_state_db

if TYPE_CHECKING:
    from sparkwing.config import Stores

#: Secret names: 1-256 of ``A-Z a-z 0-9 . _ / -``, not starting or ending with ``.``, ``/``, ``-``.
NAME_RE = re.compile(r"(?![./-])[A-Za-z0-9._/-]{1,256}(?<![./-])")
#: Largest value accepted, in UTF-8 bytes.
MAX_VALUE_BYTES = 64 * 1024

_COLUMNS = ("name", "sealed", "key_id", "masked", "principal", "created_at", "updated_at")


def check_name(name: str) -> str:
    """*name* if it is a valid secret name, else :class:`UsageError` saying what is valid."""
    if not NAME_RE.fullmatch(name):
        raise UsageError(f"secret name {name[:80]!r} is not valid: use 1-256 characters from "
                         "A-Z a-z 0-9 . _ / - , not starting or ending with . / -")
    return name


def check_value(value: str) -> str:
    """*value* if it can be stored (not empty, at most :data:`MAX_VALUE_BYTES`); else :class:`UsageError`."""
    if value == "":
        raise UsageError("the secret's value is empty")
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise UsageError(f"the secret's value is larger than {MAX_VALUE_BYTES} bytes")
    return value


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """What the table says about a secret, without its value."""

    name: str
    masked: bool
    key_id: str
    principal: str
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form (times in Unix seconds)."""
        return {"name": self.name, "masked": self.masked, "key_id": self.key_id,
                "principal": self.principal, "created_at": self.created_at,
                "updated_at": self.updated_at}


def _record(row: tuple[Any, ...]) -> SecretRecord:
    name, _sealed, key_id, masked, principal, created, updated = row
    return SecretRecord(str(name), bool(masked), str(key_id), str(principal or ""),
                        float(created), float(updated))


@dataclass(frozen=True, slots=True)
class RekeyResult:
    """What :meth:`SecretStore.rekey` did: names resealed, and how many were current already."""

    resealed: tuple[str, ...]
    current: int
    key_id: str


class SecretStore:
    """The ``secrets`` table through a :class:`~.statedb.StateDB`, sealing with *keyring*.

    *keyring* may be ``None``: then only :meth:`list` and :meth:`delete`
    work, and the rest raise one :class:`~sparkwing.errors.ConfigError`
    line saying how to provide a key. Thread-safe like the token store.
    """

    def __init__(self, db: StateDB, keyring: Keyring | None) -> None:
        self.db = db
        self.keyring = keyring

    @property
    def where(self) -> str:
        """Where the table lives (the state file, or the PostgreSQL database)."""
        return self.db.where

    def close(self) -> None:
        """Release the database connection."""
        self.db.close()

    def _ring(self) -> Keyring:
        if self.keyring is None:
            raise ConfigError(NO_KEY_MESSAGE)
        return self.keyring

    def _row(self, name: str) -> tuple[Any, ...] | None:
        rows = self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM secrets WHERE name = :n",
                             {"n": name})
        return rows[0] if rows else None

    def put(self, name: str, value: str, *, masked: bool = True, principal: str = "",
            now: float | None = None) -> tuple[SecretRecord, bool]:
        """Seal and store *value* under *name*; ``(record, created)`` (``False``: replaced)."""
        check_name(name)
        check_value(value)
        sealed, key_id = self._ring().seal(name, value)
        stamp = time.time() if now is None else now
        existed = self._row(name) is not None
        self.db.write(
            f"INSERT INTO secrets ({', '.join(_COLUMNS)}) VALUES (:name, :sealed, :key_id, "
            ":masked, :principal, :now, :now) ON CONFLICT (name) DO UPDATE SET "
            "sealed = excluded.sealed, key_id = excluded.key_id, masked = excluded.masked, "
            "principal = excluded.principal, updated_at = excluded.updated_at",
            {"name": name, "sealed": sealed, "key_id": key_id, "masked": int(masked),
             "principal": principal, "now": stamp})
        row = self._row(name)
        assert row is not None
        return _record(row), not existed

    def get(self, name: str) -> tuple[str, SecretRecord] | None:
        """``(value, record)`` of *name*, ``None`` if unknown; :class:`SecretUnreadable` if it will not open."""
        ring = self._ring()
        row = self._row(name)
        if row is None:
            return None
        rec = _record(row)
        return ring.open(name, str(row[1]), rec.key_id), rec

    def record(self, name: str) -> SecretRecord | None:
        """The record of *name* (no value, no key needed), or ``None``."""
        row = self._row(name)
        return _record(row) if row is not None else None

    def list(self) -> list[SecretRecord]:
        """Every secret's record, by name (no values; no key needed)."""
        rows = self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM secrets ORDER BY name", {})
        return [_record(r) for r in rows]

    def delete(self, name: str) -> bool:
        """Delete *name*; whether it existed (no key needed)."""
        return self.db.write("DELETE FROM secrets WHERE name = :n", {"n": name}) > 0

    def foreign(self) -> builtins.list[SecretRecord]:
        """Secrets sealed with a key the keyring does not hold (all of them without a keyring)."""
        held = set(self.keyring.key_ids) if self.keyring is not None else set()
        return [r for r in self.list() if r.key_id not in held]

    def rekey(self, *, now: float | None = None) -> RekeyResult:
        """Reseal every value not under the current key with it (opened with the old one).

        Each row is replaced only if it is unchanged since it was read, so a
        ``put`` racing the rekey wins. :class:`SecretUnreadable` names the
        first value no held key opens; rows resealed before it stay resealed.
        """
        ring = self._ring()
        stamp = time.time() if now is None else now
        resealed: list[str] = []
        current = 0
        rows = self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM secrets ORDER BY name", {})
        for row in rows:
            name, sealed, key_id = str(row[0]), str(row[1]), str(row[2])
            if key_id == ring.current.key_id:
                current += 1
                continue
            value = ring.open(name, sealed, key_id)
            new_sealed, new_id = ring.seal(name, value)
            changed = self.db.write(
                "UPDATE secrets SET sealed = :new, key_id = :new_id, updated_at = :now "
                "WHERE name = :n AND sealed = :old",
                {"new": new_sealed, "new_id": new_id, "now": stamp, "n": name, "old": sealed})
            if changed:
                resealed.append(name)
        return RekeyResult(tuple(resealed), current, ring.current.key_id)


def open_secret_store(stores: Stores, keyring: Keyring | None) -> SecretStore:
    """The secrets table of *stores*' state database, sealing with *keyring*."""
    return SecretStore(open_state_db(stores, "its tokens"), keyring)


__all__ = ["MAX_VALUE_BYTES", "NAME_RE", "RekeyResult", "SecretRecord", "SecretStore",
           "SecretUnreadable", "check_name", "check_value", "open_secret_store"]

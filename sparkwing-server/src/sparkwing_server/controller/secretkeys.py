"""The key that seals the controller's secrets at rest, and the sealing itself.

Values are sealed with **AES-256-GCM** (``cryptography``'s ``AESGCM``): a
fresh 12-byte random nonce per value, the secret's name as associated
data (a sealed value copied onto another name does not open), stored as
``aesgcm1:`` + base64(nonce + ciphertext + tag). Next to it the table
keeps the sealing key's **id**: ``k`` + 12 hex characters of
HMAC-SHA256(key, "sparkwing secrets key id"), which names a key without
revealing it. So a value sealed under another key is refused with a
message naming both ids, never decrypted into garbage, and a value whose
bytes were altered fails GCM's authentication.

The operator provides the key (32 random bytes) through the environment:

* ``SPARKWING_SECRETS_KEY``: the key in base64 (standard or URL-safe,
  padding optional), or
* ``SPARKWING_SECRETS_KEY_FILE``: a file holding that base64 text or the
  32 raw bytes (the usual form of a mounted Kubernetes Secret).

During a rotation ``SPARKWING_SECRETS_OLD_KEY`` / ``_FILE`` name the key
being retired: values sealed under it still open, new values are sealed
under the new key, and ``sparkwing controller secret rekey`` reseals the
rest (see docs/operators.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sparkwing.errors import ConfigError, SparkwingError

#: Environment variables naming the current key (one of the two).
KEY_ENV = "SPARKWING_SECRETS_KEY"
KEY_FILE_ENV = "SPARKWING_SECRETS_KEY_FILE"
#: Environment variables naming the key being retired during a rotation (optional).
OLD_KEY_ENV = "SPARKWING_SECRETS_OLD_KEY"
OLD_KEY_FILE_ENV = "SPARKWING_SECRETS_OLD_KEY_FILE"
#: Bytes of a key.
KEY_BYTES = 32
#: Prefix of a sealed value (the format version).
SEALED_PREFIX = "aesgcm1:"
_NONCE_BYTES = 12
_KEY_ID_LABEL = b"sparkwing secrets key id"
_AAD_LABEL = b"sparkwing secret\x00"


class SecretUnreadable(SparkwingError):
    """A stored value cannot be opened with the keys this process holds (one line)."""


@dataclass(frozen=True, slots=True)
class SecretsKey:
    """One 32-byte key and its id (``repr`` never shows the key)."""

    key_id: str
    material: bytes

    def __repr__(self) -> str:
        return f"SecretsKey({self.key_id})"

    @classmethod
    def from_bytes(cls, material: bytes) -> SecretsKey:
        """The key made of *material* (exactly :data:`KEY_BYTES` bytes)."""
        if len(material) != KEY_BYTES:
            raise ValueError(f"a secrets key is {KEY_BYTES} bytes, not {len(material)}")
        digest = hmac.new(material, _KEY_ID_LABEL, hashlib.sha256).hexdigest()
        return cls("k" + digest[:12], material)


def new_key_text() -> str:
    """A fresh random key in the base64 form ``SPARKWING_SECRETS_KEY`` takes."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _decode(text: str, where: str) -> SecretsKey:
    cleaned = "".join(text.split())
    try:
        raw = base64.b64decode(cleaned.replace("-", "+").replace("_", "/") +
                               "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{where}: expected {KEY_BYTES} random bytes in base64 "
                          f"(e.g. `head -c {KEY_BYTES} /dev/urandom | base64`)")
    return SecretsKey.from_bytes(raw)


def _read_file(path: Path, env: str) -> SecretsKey:
    where = f"{env}={path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the key file ({exc.strerror or exc})") from None
    if len(data) == KEY_BYTES:  # the raw bytes (base64 of 32 bytes is 44 characters)
        return SecretsKey.from_bytes(data)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    return _decode(text, where)


def _one_key(environ: Mapping[str, str], env: str, file_env: str) -> SecretsKey | None:
    text = environ.get(env, "").strip()
    file = environ.get(file_env, "").strip()
    if text and file:
        raise ConfigError(f"{env} and {file_env} are both set; keep one")
    if text:
        return _decode(text, env)
    if file:
        return _read_file(Path(file).expanduser(), file_env)
    return None


@dataclass(frozen=True, slots=True)
class Keyring:
    """The current key (seals and opens) and the optional one being retired (only opens)."""

    current: SecretsKey
    old: SecretsKey | None = None

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Ids of the keys held, the current one first."""
        return (self.current.key_id,) + ((self.old.key_id,) if self.old else ())

    def describe(self) -> str:
        """``key kXXXX`` (plus the retiring key), for one-line messages."""
        text = f"key {self.current.key_id}"
        return text + (f" (and old key {self.old.key_id})" if self.old else "")

    def seal(self, name: str, value: str) -> tuple[str, str]:
        """``(sealed text, key id)`` of *value* stored under *name*, with the current key."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = secrets.token_bytes(_NONCE_BYTES)
        box = AESGCM(self.current.material).encrypt(nonce, value.encode("utf-8"), _aad(name))
        return SEALED_PREFIX + base64.b64encode(nonce + box).decode("ascii"), self.current.key_id

    def open(self, name: str, sealed: str, key_id: str) -> str:
        """The value of *name*; :class:`SecretUnreadable` when no key held opens it."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = next((k for k in (self.current, self.old) if k and k.key_id == key_id), None)
        if key is None:
            raise SecretUnreadable(
                f"secret {name!r} is sealed with key {key_id}, which this controller does not "
                f"hold ({self.describe()}); give it that key as {KEY_ENV} (or as "
                f"{OLD_KEY_ENV} during a rotation)")
        if not sealed.startswith(SEALED_PREFIX):
            raise SecretUnreadable(f"secret {name!r}: stored value is not in a known sealed "
                                   f"format (expected {SEALED_PREFIX}...)")
        try:
            raw = base64.b64decode(sealed[len(SEALED_PREFIX):], validate=True)
            plain = AESGCM(key.material).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                                 _aad(name))
            return plain.decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretUnreadable(
                f"secret {name!r} does not open with key {key_id}: the stored value was "
                "altered or copied from another secret (authentication failed)") from None


def _aad(name: str) -> bytes:
    return _AAD_LABEL + name.encode("utf-8")


def keyring_from_env(environ: Mapping[str, str] | None = None) -> Keyring | None:
    """The keyring the environment configures, ``None`` without a key; :class:`ConfigError` if bad."""
    env = os.environ if environ is None else environ
    current = _one_key(env, KEY_ENV, KEY_FILE_ENV)
    old = _one_key(env, OLD_KEY_ENV, OLD_KEY_FILE_ENV)
    if current is None:
        if old is not None:
            raise ConfigError(f"{OLD_KEY_ENV}: set, but {KEY_ENV} (the new key) is not")
        return None
    if old is not None and old.key_id == current.key_id:
        old = None  # the same key given twice: nothing is being retired
    return Keyring(current, old)


#: Why secrets are off when no key is configured (one line).
NO_KEY_MESSAGE = (f"secrets need a key: set {KEY_ENV} to {KEY_BYTES} random bytes in base64 "
                  f"(e.g. `head -c {KEY_BYTES} /dev/urandom | base64`) or {KEY_FILE_ENV} to a "
                  "file holding it")


def require_keyring(environ: Mapping[str, str] | None = None) -> Keyring:
    """:func:`keyring_from_env`, or :class:`ConfigError` with :data:`NO_KEY_MESSAGE`."""
    ring = keyring_from_env(environ)
    if ring is None:
        raise ConfigError(NO_KEY_MESSAGE)
    return ring

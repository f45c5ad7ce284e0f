"""Where a job's secrets come from, and the masker that hides their values.

A run reads secrets through one :class:`SecretProvider`, chosen from its
profile by :func:`secret_source_for`: the local dotenv file
(``~/.config/sparkwing/secrets.env``, :class:`SecretSource`), or, for a
profile with a ``controller:`` block, that controller's runtime read route
(:class:`~.controllersecrets.ControllerSecretSource`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..config.profiles import Profile

from ..errors import ConfigError, SparkwingError
from ..paths import secrets_path


class SecretMissing(SparkwingError):
    """A secret was asked for that no source provides."""


def parse_dotenv(path: Path) -> dict[str, str]:
    """Parse a dotenv file: ``NAME=value`` lines, ``#`` comments, optional quotes, ``export``."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        name, eq, value = line.partition("=")
        name = name.strip()
        if not eq or not name.replace("_", "").isalnum():
            raise ConfigError(f"{path}:{lineno}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name] = value
    return out


class Masker:
    """Replaces registered secret values with ``***`` in any text (thread-safe).

    The one masking function of a run: log records, errors, annotations,
    job outputs and step outputs all pass through it. Besides each value
    itself it hides the value's common encodings (see :func:`encoded_forms`):
    standard and URL-safe base64 (also when the value sits inside a longer
    base64 text, as in a basic-auth header) and lower- and upper-case hex.
    """

    def __init__(self) -> None:
        self._values: list[str] = []
        self._multiline = False  # whether some value holds a newline
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        """Register a value to hide (values shorter than 3 characters are ignored)."""
        if value and len(value) >= 3 and value not in self._secrets:
            with self._lock:
                self._secrets.add(value)
                forms = {*self._values, value, *encoded_forms(value)}
                values = sorted(forms, key=len, reverse=True)
                # set before the values, so mask_lines never sees a newline value unflagged
                self._multiline = any("\n" in v for v in values)
                self._values = values

    @property
    def active(self) -> bool:
        """True when at least one value is registered."""
        return bool(self._values)

    def mask(self, text: str) -> str:
        """Return *text* with every registered value replaced by ``***``."""
        for v in self._values:
            if v in text:
                text = text.replace(v, "***")
        return text

    def mask_lines(self, text: str) -> str:
        """Return newline-separated *text* masked as if each line was masked on its own.

        A value that holds no newline cannot match across one, so the whole
        text is masked in one pass unless some value holds a newline.
        """
        if not self._multiline:
            return self.mask(text)
        return "\n".join([self.mask(line) for line in text.split("\n")])

    def mask_value(self, value: Any) -> Any:
        """Return a JSON-like *value* with every string in it masked (keys included)."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list | tuple):
            return [self.mask_value(v) for v in value]
        if isinstance(value, dict):
            return {self.mask_value(k): self.mask_value(v) for k, v in value.items()}
        return value


#: Shortest piece of a base64 text that counts as the encoding of a secret inside it.
MIN_EMBEDDED_B64 = 8


def encoded_forms(value: str) -> set[str]:
    """The encodings of *value* a masker hides with it.

    Standard and URL-safe base64 of the value's UTF-8 bytes (with and
    without padding), the stable middle of its base64 at the two other
    alignments (how it reads inside a longer base64 text, e.g.
    ``base64("user:" + value)``; only when at least
    :data:`MIN_EMBEDDED_B64` characters long) and its hex in both cases.
    """
    import base64

    raw = value.encode("utf-8")
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms.update({whole, whole.rstrip("=")})
        for shift in (1, 2):
            # after *shift* unknown bytes, the first ceil(shift*4/3) characters depend on them,
            # and the last characters depend on what follows unless the length fits
            text = encode(b"\0" * shift + raw).decode("ascii").rstrip("=")
            start = (shift * 8 + 5) // 6
            end = ((shift + len(raw)) * 8) // 6
            middle = text[start:end]
            if len(middle) >= MIN_EMBEDDED_B64:
                forms.add(middle)
        tail_end = (len(raw) * 8) // 6
        middle = whole[:tail_end]
        if len(middle) >= MIN_EMBEDDED_B64:
            forms.add(middle)
    forms.update({raw.hex(), raw.hex().upper()})
    forms.discard(value)
    return {f for f in forms if len(f) >= 3}


class SecretProvider(Protocol):
    """What ``ctx.secret(name)`` reads from."""

    def lookup(self, name: str) -> tuple[str, bool]:
        """``(value, masked)`` of secret *name*; :class:`SecretMissing` when it is not set.

        A masked value is hidden in every log record once read; an unmasked
        one is plain configuration (a region, a URL) and shows as it is.
        """
        ...

    def close(self) -> None:
        """Release what reading needed (connections); called when the run ends."""
        ...


def secret_source_for(profile: Profile | None) -> SecretProvider:
    """The secrets of a run on *profile*: its controller's when it has one, else the local file."""
    if profile is not None and profile.controller:
        from .controllersecrets import ControllerSecretSource

        block = profile.controller
        return ControllerSecretSource(str(block["url"]), token=str(block.get("token") or ""),
                                      token_env=str(block.get("token_env") or ""),
                                      profile=profile.name)
    return SecretSource()


class SecretSource:
    """Secrets from the local dotenv file, loaded on first use (every value is masked)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or secrets_path()
        self._values: dict[str, str] | None = None

    def get(self, name: str) -> str:
        """Return the secret *name* or raise :class:`SecretMissing`."""
        if self._values is None:
            warn_if_readable(self.path)
            self._values = parse_dotenv(self.path)
        try:
            return self._values[name]
        except KeyError:
            raise SecretMissing(
                f'secret "{name}" is not set; add {name}=... to {self.path}'
            ) from None

    def lookup(self, name: str) -> tuple[str, bool]:
        """``(value, True)``: every value of the dotenv file is masked."""
        return self.get(name), True

    def close(self) -> None:
        """Nothing to release (the file is read once and closed)."""


def warn_if_readable(path: Path) -> bool:
    """Print one warning line when other users can read the secrets file *path*; say if it did."""
    from ..paths import loosely_readable

    if not loosely_readable(path):
        return False
    import sys

    mode = path.stat().st_mode & 0o777
    print(f"warning: {path} is readable by other users (mode {mode:04o}); "
          f"make it private with: chmod 600 {path}", file=sys.stderr)
    return True

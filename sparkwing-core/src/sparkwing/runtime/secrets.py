"""Local secrets (``~/.config/sparkwing/secrets.env``) and the masker that hides their values."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

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
    """Replaces registered secret values with ``***`` in any text (thread-safe)."""

    def __init__(self) -> None:
        self._values: list[str] = []
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        """Register a value to hide (values shorter than 3 characters are ignored)."""
        if value and len(value) >= 3 and value not in self._values:
            with self._lock:
                self._values = sorted({*self._values, value}, key=len, reverse=True)

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


class SecretSource:
    """Secrets from the local dotenv file, loaded on first use."""

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

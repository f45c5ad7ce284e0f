"""Where sparkwing keeps things on this machine."""

from __future__ import annotations

import os
from pathlib import Path


def sparkwing_home() -> Path:
    """Return ``$SPARKWING_HOME`` or ``~/.sparkwing`` (not created)."""
    value = os.environ.get("SPARKWING_HOME")
    return Path(value).expanduser() if value else Path.home() / ".sparkwing"


def config_dir() -> Path:
    """Return the user config directory: ``$XDG_CONFIG_HOME/sparkwing`` or ``~/.config/sparkwing``."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "sparkwing"


def profiles_path() -> Path:
    """Return the profiles file: ``$SPARKWING_PROFILES``, else ``config_dir()/profiles.yaml``."""
    value = os.environ.get("SPARKWING_PROFILES")
    return Path(value).expanduser() if value else config_dir() / "profiles.yaml"


def secrets_path() -> Path:
    """Return the local secrets dotenv file (values are masked in logs)."""
    return config_dir() / "secrets.env"


#: Mode of every directory sparkwing creates under its home (owner only).
PRIVATE_DIR_MODE = 0o700
#: Mode of every file sparkwing creates under its home (owner only).
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create *path* and any missing parents as owner-only directories (existing ones untouched)."""
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise


def open_private(path: Path, flags: int) -> int:
    """``os.open`` for a file sparkwing owns: created owner-only (0600) whatever the umask."""
    return os.open(path, flags, PRIVATE_FILE_MODE)


def write_private_text(path: Path, text: str) -> None:
    """Write *text* to *path* atomically (through a temporary file), owner-only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def loosely_readable(path: Path) -> bool:
    """Whether users other than the owner may read *path* (``False`` when it does not exist)."""
    try:
        return bool(path.stat().st_mode & 0o044)
    except OSError:
        return False


def can_create_in(directory: Path) -> bool:
    """Whether this process may create files in *directory* (tried, not guessed from modes).

    Mode bits do not tell: root ignores them, a read-only mount overrides
    them. A probe file is created and removed.
    """
    probe = directory / f".sparkwing-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return True
    except OSError:
        return False
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return True

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

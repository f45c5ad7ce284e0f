"""The runner's settings (from ``sparkwing runner``'s flags) and the holder name it claims as."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Environment variable the runner reads its token from unless ``--token-env`` names another.
DEFAULT_TOKEN_ENV = "SPARKWING_TOKEN"
#: Seconds a running child gets to finish after SIGTERM/Ctrl-C before it is killed.
DEFAULT_GRACE_S = 30.0
#: Seconds between SIGTERM and SIGKILL when a claim is lost.
LOST_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    """How one runner process claims and runs work."""

    controller_url: str
    token: str
    token_env: str = DEFAULT_TOKEN_ENV
    labels: tuple[str, ...] = ()
    max_jobs: int = 1
    work_dir: Path = field(default_factory=lambda: Path("runner"))
    poll_s: float = 0.5
    name: str = ""
    once: bool = False
    grace_s: float = DEFAULT_GRACE_S
    #: The runs' ``executor:`` block (``--executor`` and its settings), ``None``: ``local``.
    executor: dict[str, Any] | None = None

    @property
    def display_name(self) -> str:
        """The runner's name: ``--name``, else the host name."""
        return self.name or socket.gethostname().split(".")[0] or "runner"


def new_holder(name: str) -> str:
    """A holder id ``<name>:<pid>:<random>``, unique per runner process."""
    return f"{name}:{os.getpid()}:{secrets.token_hex(4)}"

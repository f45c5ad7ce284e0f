"""Run-wide settings the orchestrator takes (from the command line, a trigger or a controller)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunOptions:
    """Run-wide settings from the command line."""

    workers: int = 0
    retry_of: str = ""
    reuse: dict[str, Any] = field(default_factory=dict)
    no_cache: bool = False
    dry_run: bool = False
    only: str = ""
    start_at: str = ""
    stop_at: str = ""
    pause_before: list[str] = field(default_factory=list)
    pause_after: list[str] = field(default_factory=list)
    pause_on_failure: bool = False
    pause_timeout_s: float = 1800.0
    invocation: dict[str, Any] = field(default_factory=dict)
    secret_args: list[str] = field(default_factory=list)
    secret_values: list[str] = field(default_factory=list)
    redacted_args: dict[str, Any] = field(default_factory=dict)
    #: ``--sw-executor NAME``: where job attempts run unless a job names its own
    #: executor (``""``: the profile's ``executor:``, else ``local``).
    executor: str = ""
    #: The pipeline's ``requires`` labels (sparkwing.yaml), for executors that place jobs
    #: on labelled machines (the ``queue`` executor's ``needs_labels``).
    requires: list[str] = field(default_factory=list)

    def engine_settings(self) -> dict[str, Any]:
        """What ``sparkwing node exec`` needs to run an attempt as this run would (stored on the run)."""
        return {"dry_run": self.dry_run, "start_at": self.start_at, "stop_at": self.stop_at}

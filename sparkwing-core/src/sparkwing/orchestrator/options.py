"""Run-wide settings the orchestrator takes (from the command line, a trigger or a controller)."""

from __future__ import annotations

from typing import Any

from ..slotted import Slotted


class RunOptions(Slotted):
    """Run-wide settings from the command line."""

    __slots__ = (
        "dry_run",
        "executor",
        "invocation",
        "no_cache",
        "only",
        "pause_after",
        "pause_before",
        "pause_on_failure",
        "pause_timeout_s",
        "redacted_args",
        "requires",
        "retry_of",
        "reuse",
        "secret_args",
        "secret_values",
        "start_at",
        "stop_at",
        "workers",
    )

    def __init__(
        self,
        workers: int = 0,
        retry_of: str = "",
        reuse: dict[str, Any] | None = None,
        no_cache: bool = False,
        dry_run: bool = False,
        only: str = "",
        start_at: str = "",
        stop_at: str = "",
        pause_before: list[str] | None = None,
        pause_after: list[str] | None = None,
        pause_on_failure: bool = False,
        pause_timeout_s: float = 1800.0,
        invocation: dict[str, Any] | None = None,
        secret_args: list[str] | None = None,
        secret_values: list[str] | None = None,
        redacted_args: dict[str, Any] | None = None,
        executor: str = "",
        requires: list[str] | None = None,
    ) -> None:
        self.workers = workers
        self.retry_of = retry_of
        self.reuse: dict[str, Any] = {} if reuse is None else reuse
        self.no_cache = no_cache
        self.dry_run = dry_run
        self.only = only
        self.start_at = start_at
        self.stop_at = stop_at
        self.pause_before: list[str] = [] if pause_before is None else pause_before
        self.pause_after: list[str] = [] if pause_after is None else pause_after
        self.pause_on_failure = pause_on_failure
        self.pause_timeout_s = pause_timeout_s
        self.invocation: dict[str, Any] = {} if invocation is None else invocation
        self.secret_args: list[str] = [] if secret_args is None else secret_args
        self.secret_values: list[str] = [] if secret_values is None else secret_values
        self.redacted_args: dict[str, Any] = {} if redacted_args is None else redacted_args
        #: ``--sw-executor NAME``: where job attempts run unless a job names its own
        #: executor (``""``: the profile's ``executor:``, else ``local``).
        self.executor = executor
        #: The pipeline's ``requires`` labels (sparkwing.yaml), for executors that place jobs
        #: on labelled machines (the ``queue`` executor's ``needs_labels``).
        self.requires: list[str] = [] if requires is None else requires

    def engine_settings(self) -> dict[str, Any]:
        """What ``sparkwing node exec`` needs to run an attempt as this run would (stored on the run)."""
        return {"dry_run": self.dry_run, "start_at": self.start_at, "stop_at": self.stop_at}

"""The error a failed run records, naming its failed jobs apart from its cancelled ones.

``jobs failed: build, lint; cancelled: test, deploy`` (``jobs cancelled:
...`` when no job failed on its own, e.g. every failure was a cancellation).
:func:`format_job_failures` writes it (the orchestrator), and
:func:`parse_job_failures` reads it back (observers such as the GitHub
plugin), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: How the error starts when some job failed.
FAILED_PREFIX = "jobs failed: "
#: How the error starts when every job that broke the run was cancelled.
CANCELLED_PREFIX = "jobs cancelled: "
#: What separates the failed jobs from the cancelled ones.
CANCELLED_PART = "; cancelled: "


@dataclass(frozen=True)
class JobFailures:
    """The jobs a run's error names: those that failed and those that were cancelled."""

    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


def format_job_failures(failed: Iterable[str], cancelled: Iterable[str] = ()) -> str:
    """The run error for *failed* and *cancelled* jobs (``""`` when both are empty)."""
    failed, cancelled = list(failed), list(cancelled)
    if failed:
        text = FAILED_PREFIX + ", ".join(failed)
        return text + (CANCELLED_PART + ", ".join(cancelled) if cancelled else "")
    return CANCELLED_PREFIX + ", ".join(cancelled) if cancelled else ""


def parse_job_failures(error: str) -> JobFailures | None:
    """The jobs a run error made by :func:`format_job_failures` names (``None`` for any other)."""
    if error.startswith(FAILED_PREFIX):
        failed_text, _, cancelled_text = error[len(FAILED_PREFIX):].partition(CANCELLED_PART)
        return JobFailures(_names(failed_text), _names(cancelled_text))
    if error.startswith(CANCELLED_PREFIX):
        return JobFailures([], _names(error[len(CANCELLED_PREFIX):]))
    return None


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]

"""Inside GitHub Actions (``GITHUB_ACTIONS=true``): failure annotations and the step summary.

When a run ends, each failed job becomes an ``::error`` workflow command on
standard output (GitHub shows it on the workflow run and, with a file and
line, on the diff), and a Markdown section is appended to the file named
by ``GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO


def in_actions() -> bool:
    """Whether this process runs inside a GitHub Actions job."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed job as reported to GitHub."""

    job: str
    message: str
    file: str = ""
    line: int = 0


def error_command(pipeline: str, failure: Failure) -> str:
    """The ``::error ...::message`` workflow command for *failure*."""
    props: dict[str, str] = {"title": f"sparkwing {pipeline}/{failure.job}"}
    if failure.file:
        props["file"] = failure.file
        if failure.line > 0:
            props["line"] = str(failure.line)
    rendered = ",".join(f"{k}={_escape_property(v)}" for k, v in props.items())
    return f"::error {rendered}::{_escape_data(failure.message)}"


def summary_markdown(run: Any, failures: Sequence[Failure], link: str) -> str:
    """The step summary section for a finished *run*."""
    icon = {"success": "✅", "cancelled": "⚪"}.get(run.status, "❌")
    lines = [f"### {icon} sparkwing `{run.pipeline}`: {run.status}", ""]
    ref = f"[{run.id}]({link})" if link else f"`{run.id}`"
    lines.append(f"Run {ref}" + (f" at `{run.git_sha[:12]}`" if run.git_sha else ""))
    if run.status == "cancelled" and run.error:
        lines += ["", f"Cancelled: {run.error}"]
    if failures:
        lines += ["", "| failed job | error |", "|---|---|"]
        for f in failures:
            message = f.message.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{f.job}` | {message} |")
    return "\n".join(lines) + "\n\n"


def report(run: Any, failures: Sequence[Failure], link: str, *,
           env: Mapping[str, str] | None = None, out: TextIO | None = None) -> None:
    """Print the annotations and append the step summary (no-op outside GitHub Actions)."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") != "true":
        return
    stream = out or sys.stdout
    for failure in failures:
        stream.write(error_command(run.pipeline, failure) + "\n")
    stream.flush()
    target = env.get("GITHUB_STEP_SUMMARY", "")
    if target:
        with Path(target).open("a", encoding="utf-8") as fh:
            fh.write(summary_markdown(run, failures, link))

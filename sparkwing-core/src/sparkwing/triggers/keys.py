"""Identifiers of trigger rows: row ids, idempotency keys and claim holders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..digests import sha256_hex
from ..ids import new_run_id

if TYPE_CHECKING:
    from datetime import datetime


def new_trigger_id(now: float | None = None) -> str:
    """Return a fresh trigger id ``trg-YYYYMMDD-HHMMSS-<8 hex>`` (sorts like run ids)."""
    return "trg-" + new_run_id(now)[4:]


def first_run_id(trigger_id: str) -> str:
    """The run id of a queued trigger's first claim: ``run-`` and the trigger id's own stamp.

    Known before any runner claims the trigger, so ``pipeline trigger`` can
    follow the run at once. A trigger id not of the ``trg-…`` shape gets a
    fresh run id (nothing can follow it in advance).
    """
    from ..ids import is_run_id

    candidate = "run-" + trigger_id[4:] if trigger_id.startswith("trg-") else ""
    return candidate if is_run_id(candidate) else new_run_id()


def fresh_key(source: str) -> str:
    """Return a key no other request has: what a request without its own key is recorded under."""
    return f"{source}:{os.urandom(12).hex()}"


def project_tag(root: Path) -> str:
    """A short stable tag of a project directory (12 hex digits of its resolved path's sha256)."""
    return sha256_hex(str(Path(root).resolve()).encode())[:12]


def schedule_key(root: Path, pipeline: str, expr: str, minute: datetime) -> str:
    """The idempotency key of one scheduled run: project, pipeline, expression and UTC minute.

    Every tick that evaluates the same schedule in the same minute (the CLI's,
    the dashboard's, two at once) computes the same key, so one run starts.
    The project is part of the key because one state store serves every
    project of a machine.
    """
    stamp = minute.strftime("%Y-%m-%dT%H:%MZ")
    return f"schedule:{project_tag(root)}:{pipeline}:{' '.join(expr.split())}:{stamp}"


def holder_id() -> str:
    """A claim holder unique to this call: ``host:pid:random``."""
    import socket  # off the start-up path: only claimers name themselves

    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"

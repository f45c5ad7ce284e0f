"""Running a finished run again: what a retry request carries and how it is read back.

A retry is an ordinary run request of the trigger source ``retry``
(:func:`retry_trigger`) whose ``extra`` names the run it retries
(``retry_of``) and its ``mode``: ``failed`` reuses the outputs of the jobs
that passed and runs the rest, ``all`` runs every job again. ``sparkwing
runs retry`` starts such a request in its own process; the controller's
``POST /api/v1/runs/{id}/retry`` queues one for a runner, which reads it
back with :func:`retry_options`. Either way the new run records
``retry_of`` and reuses outputs as :mod:`sparkwing.runs.start` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from ..triggers.request import TriggerMeta

if TYPE_CHECKING:
    from ..storage.records import Run
    from ..triggers.request import RunRequest

#: The trigger source of retries.
RETRY_SOURCE: Final = "retry"
#: Retry modes: reuse the jobs that passed, or run everything.
MODE_FAILED: Final = "failed"
MODE_ALL: Final = "all"


def retry_trigger(retry_of: str, *, reuse_passed: bool, actor: str,
                  extra: dict[str, Any] | None = None) -> TriggerMeta:
    """The trigger metadata of a retry of run *retry_of* (``extra`` adds fields)."""
    return TriggerMeta(source=RETRY_SOURCE, actor=actor, event="retry",
                       extra={**(extra or {}), "retry_of": retry_of,
                              "mode": MODE_FAILED if reuse_passed else MODE_ALL})


def retry_options(request: RunRequest) -> tuple[str, bool]:
    """``(retry_of, reuse_passed)`` of a retry request; ``("", False)`` for any other request."""
    meta = request.trigger
    if meta.source != RETRY_SOURCE:
        return "", False
    retry_of = str(meta.extra.get("retry_of") or "")
    return retry_of, bool(retry_of) and meta.extra.get("mode") != MODE_ALL


def retry_inputs(run: Run, given: Iterable[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """The inputs that repeat *run*'s (by flag, none of *given*), and its secret ones left out.

    Secret inputs are stored redacted, so they cannot be repeated: they are
    left out (their default applies) unless given again.
    """
    skip = set(given)
    secret = set(run.secret_args)
    inputs: dict[str, Any] = {}
    missing: list[str] = []
    for flag, value in (run.args or {}).items():
        if flag in skip or value is None:
            continue
        if flag in secret:
            if value not in ("", [], None):
                missing.append(flag)
            continue
        inputs[flag] = value
    return inputs, missing

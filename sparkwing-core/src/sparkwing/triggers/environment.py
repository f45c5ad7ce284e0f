"""The trigger of a ``sparkwing run`` process, read from its environment.

``sparkwing run`` started by hand is a ``manual`` request. The git hooks
written by ``sparkwing pipeline hooks install`` set
``SPARKWING_TRIGGER_SOURCE=git-hook`` and ``SPARKWING_TRIGGER_EVENT`` to
the hook (``pre_commit``, ``pre_push``, ``post_commit``), so the run is
dispatched as a ``git-hook`` request. Hooks written by older versions set
the source to the hook name itself; those are read as ``git-hook`` too.

Inside a CI vendor's job (GitHub Actions, GitLab CI, Buildkite; see
:mod:`sparkwing.triggers.civendor`) a run without an explicit source is a
``ci-embedded`` request: its event and actor are the vendor's, and its
``extra`` holds the job's facts (vendor, repository, sha, branch, tag, pull
request, job URL, build id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .cimarkers import CI_EMBEDDED, in_vendor_job
from .request import TriggerMeta

if TYPE_CHECKING:
    from .civendor import CIJob

#: Names the trigger source of the request (default ``manual``).
SOURCE_ENV = "SPARKWING_TRIGGER_SOURCE"
#: Names the source's event (a git hook: ``pre_commit``, ``pre_push``, ``post_commit``).
EVENT_ENV = "SPARKWING_TRIGGER_EVENT"
#: Source values older hooks set, read as ``git-hook`` with that event.
LEGACY_HOOK_SOURCES = frozenset({"pre_commit", "pre_push", "post_commit"})


def trigger_from_env(environ: Mapping[str, str], actor: str = "",
                     ci: CIJob | None = None) -> TriggerMeta:
    """The :class:`TriggerMeta` a ``sparkwing run`` process was started with.

    *ci* is the vendor job detected in *environ* (found here when not given).
    """
    source = environ.get(SOURCE_ENV, "").strip()
    event = environ.get(EVENT_ENV, "").strip()
    if source in LEGACY_HOOK_SOURCES:
        return TriggerMeta(source="git-hook", actor=actor, event=event or source)
    if source and source != CI_EMBEDDED:
        return TriggerMeta(source=source, actor=actor, event=event)
    job = ci
    if job is None and in_vendor_job(environ):  # civendor is imported only inside a CI job
        from .civendor import detect_ci

        job = detect_ci(environ)
    if job is None:
        return TriggerMeta(source=source or "manual", actor=actor, event=event)
    return TriggerMeta(source=CI_EMBEDDED, actor=job.actor or actor, event=job.event or event,
                       extra=job.extra())

"""The trigger of a ``sparkwing run`` process, read from its environment.

``sparkwing run`` started by hand is a ``manual`` request. The git hooks
written by ``sparkwing pipeline hooks install`` set
``SPARKWING_TRIGGER_SOURCE=git-hook`` and ``SPARKWING_TRIGGER_EVENT`` to
the hook (``pre_commit``, ``pre_push``, ``post_commit``), so the run is
dispatched as a ``git-hook`` request. Hooks written by older versions set
the source to the hook name itself; those are read as ``git-hook`` too.
"""

from __future__ import annotations

from collections.abc import Mapping

from .contracts import TriggerMeta

#: Names the trigger source of the request (default ``manual``).
SOURCE_ENV = "SPARKWING_TRIGGER_SOURCE"
#: Names the source's event (a git hook: ``pre_commit``, ``pre_push``, ``post_commit``).
EVENT_ENV = "SPARKWING_TRIGGER_EVENT"
#: Source values older hooks set, read as ``git-hook`` with that event.
LEGACY_HOOK_SOURCES = frozenset({"pre_commit", "pre_push", "post_commit"})


def trigger_from_env(environ: Mapping[str, str], actor: str = "") -> TriggerMeta:
    """The :class:`TriggerMeta` a ``sparkwing run`` process was started with."""
    source = environ.get(SOURCE_ENV, "").strip() or "manual"
    event = environ.get(EVENT_ENV, "").strip()
    if source in LEGACY_HOOK_SOURCES:
        source, event = "git-hook", event or source
    return TriggerMeta(source=source, actor=actor, event=event)

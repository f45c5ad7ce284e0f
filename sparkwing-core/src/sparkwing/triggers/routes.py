"""Letting every registered trigger source add its HTTP routes to a server application."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from ..plugins.context import ServerContext
    from ..plugins.registry import Registry


def add_source_routes(
    app: web.Application, context: ServerContext, registry: Registry, *, home: Path,
    profile: str,
) -> list[str]:
    """Build each registered trigger source and call its ``add_routes(app, context)``.

    Sources are built with an empty config block and a
    :class:`~sparkwing.triggers.contracts.TriggerContext`. A source that
    fails to build or to add its routes is skipped; the returned list holds
    one line per failure (``trigger source "x" (plugin p): Error: ...``) for
    the server to log. Route handlers hand requests to ``context.dispatch``.
    """
    from ..plugins.manager import one_line
    from .contracts import TriggerContext

    failures: list[str] = []
    trigger_context = TriggerContext(home=home, profile=profile or "laptop")
    for name in registry.types("trigger"):
        backend = registry.get("trigger", name)
        try:
            source = registry.build_trigger_source(name, {}, trigger_context)
            source.add_routes(app, context)
        except Exception as exc:  # a broken plugin must not take the server down
            failures.append(f'trigger source "{name}" (plugin {backend.provider}): '
                            f"{one_line(exc)}")
    return failures

"""The built-in trigger sources, registered through the same hook as any plugin.

* ``manual``: ``sparkwing run`` on a command line.
* ``git-hook``: the git hooks ``sparkwing pipeline hooks install`` writes
  (``pre-commit``, ``pre-push``, ``post-commit``).
* ``schedule``: ``on.schedule`` cron entries, evaluated by ``sparkwing
  triggers tick`` and by the dashboard once a minute.
* ``retry``: ``sparkwing runs retry`` and the dashboard's retry.
* ``ci-embedded``: ``sparkwing run`` inside a CI vendor's job (GitHub
  Actions, GitLab CI, Buildkite; see :mod:`sparkwing.triggers.civendor`).

None of them adds HTTP routes; their requests reach
:func:`sparkwing.triggers.dispatch.dispatch` from the CLI, the hooks and the
scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..plugins import hookimpl

if TYPE_CHECKING:
    from aiohttp import web

    from ..plugins.context import ServerContext
    from ..plugins.registry import Registry, TriggerFactory
    from .contracts import TriggerContext

#: Built-in source name -> what it stands for (shown by ``sparkwing triggers list``).
SOURCES: dict[str, str] = {
    "manual": "sparkwing run on a command line",
    "git-hook": "git hooks written by `sparkwing pipeline hooks install` (event: the hook)",
    "schedule": "on.schedule cron entries, evaluated by `sparkwing triggers tick` and the "
                "dashboard",
    "retry": "sparkwing runs retry and the dashboard's retry",
    "ci-embedded": "sparkwing run inside a GitHub Actions, GitLab CI or Buildkite job "
                   "(extra: vendor, repository, sha, branch, pull request, job URL)",
}


class BuiltinSource:
    """A built-in :class:`~sparkwing.triggers.contracts.TriggerSource`: a name, no routes."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"BuiltinSource({self.name!r})"

    def add_routes(self, app: web.Application, context: ServerContext) -> None:
        """Built-in sources add no HTTP routes."""


def _factory(name: str) -> TriggerFactory:
    def make(config: Mapping[str, Any], context: TriggerContext) -> BuiltinSource:
        return BuiltinSource(name)

    make.__doc__ = f"Build the {name!r} trigger source."
    return make


@hookimpl
def sparkwing_register_triggers(registry: Registry) -> None:
    """Register ``manual``, ``git-hook``, ``schedule``, ``retry`` and ``ci-embedded``."""
    for name, description in SOURCES.items():
        registry.add_trigger_source(name, _factory(name), description=description)

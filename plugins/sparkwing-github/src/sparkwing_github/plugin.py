"""Entry point of sparkwing-github: registers the ``github`` trigger source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sparkwing.plugins import hookimpl

from .target import forget, has_work

if TYPE_CHECKING:
    from aiohttp import web
    from sparkwing.plugins.context import ServerContext
    from sparkwing.plugins.registry import Registry
    from sparkwing.triggers.contracts import TriggerContext

#: The plugin contract version this plugin was written against.
SPARKWING_CONTRACT = 1


class GithubSource:
    """The ``github`` trigger source: adds the webhook routes to a server."""

    name = "github"

    def add_routes(self, app: web.Application, context: ServerContext) -> None:
        """Add ``POST /webhooks/github`` and ``POST /webhooks/github/{pipeline}``."""
        from .webhook import WebhookReceiver

        WebhookReceiver(context, None).add_to(app)


def make_source(config: Mapping[str, Any], context: TriggerContext) -> GithubSource:
    """Build the source (it keeps no state: settings are read per delivery)."""
    return GithubSource()


@hookimpl
def sparkwing_register_triggers(registry: Registry) -> None:
    """Register the ``github`` trigger source."""
    registry.add_trigger_source(
        "github", make_source,
        description="GitHub webhooks: POST /webhooks/github[/{pipeline}]")


@hookimpl
def sparkwing_run_started(run: Any) -> None:
    """Post a ``pending`` commit status (runs with a known GitHub repository and sha)."""
    if not has_work(run):  # nothing to report: the observer is not even imported
        return
    from .observer import run_started

    run_started(run)


@hookimpl
def sparkwing_node_finished(run: Any, node: Any) -> None:
    """Note failed jobs for the final status."""
    if not has_work(run):
        return
    from .observer import node_finished

    node_finished(run, node)


@hookimpl
def sparkwing_run_finished(run: Any) -> None:
    """Post the final commit status."""
    work = has_work(run)
    forget(run)
    if not work:
        return
    from .observer import run_finished

    run_finished(run)


@hookimpl
def sparkwing_add_cli_commands(cli: Any) -> None:
    """Add ``sparkwing github check``."""
    from .cli import github

    cli.add_command(github)

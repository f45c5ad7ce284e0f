"""Hook specifications: the contract between sparkwing and its plugins.

Every hook name starts with ``sparkwing_``. Implementations may accept a
subset of a hook's arguments, so new arguments can be added without
breaking plugins. Call sites use the typed wrappers on
:class:`sparkwing.plugins.manager.PluginHost`, never ``pm.hook`` directly.
``docs/plugins.md`` documents each hook with this signature (a test compares them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    import click
    from aiohttp import web

    from ..storage.records import Node, Run
    from .context import ServerContext
    from .registry import Registry


@hookspec
def sparkwing_register_backends(registry: Registry) -> None:
    """Register the stores this plugin provides.

    Call ``registry.add_state_store(type_name, factory, required=(...), optional=(...))``,
    ``registry.add_cache_store(...)`` or ``registry.add_log_store(...)`` for each.
    *factory* is ``factory(config, context) -> store``: *config* is the
    profile's block for that surface (a mapping holding ``type`` and the
    backend's own keys) and *context* a
    :class:`~sparkwing.plugins.registry.BackendContext`. *required* lists
    keys the block must carry; profile validation reports a missing one as
    ``type=<name> requires <key>``.
    """


@hookspec
def sparkwing_register_executors(registry: Registry) -> None:
    """Register the executors this plugin provides.

    Call ``registry.add_executor(type_name, factory, ...)`` where *factory* is
    ``factory(config, context) -> Executor``: *config* is the profile's
    ``executor:`` block and *context* an
    :class:`~sparkwing.execution.contracts.ExecutorContext`.
    """


@hookspec
def sparkwing_register_triggers(registry: Registry) -> None:
    """Register the trigger sources this plugin provides.

    Call ``registry.add_trigger_source(name, factory, ...)`` where *factory* is
    ``factory(config, context) -> TriggerSource`` and *context* a
    :class:`~sparkwing.triggers.contracts.TriggerContext`.
    """


@hookspec
def sparkwing_add_cli_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``sparkwing`` command line (``cli.add_command``)."""


@hookspec
def sparkwing_add_server_routes(app: web.Application, context: ServerContext) -> None:
    """Add HTTP routes to a sparkwing server application (the dashboard or the controller)."""


@hookspec
def sparkwing_run_started(run: Run) -> None:
    """Observe a run that has just started (once per run, in the run's process; cannot fail it)."""


@hookspec
def sparkwing_run_finished(run: Run) -> None:
    """Observe a run that has just reached a terminal status (once per run; cannot fail it)."""


@hookspec
def sparkwing_node_started(run: Run, node: Node) -> None:
    """Observe a node whose first attempt has just started (cannot fail the run)."""


@hookspec
def sparkwing_node_finished(run: Run, node: Node) -> None:
    """Observe a node that has just reached its outcome (cannot fail the run)."""

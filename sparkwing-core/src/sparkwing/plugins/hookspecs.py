"""Hook specifications: the contract between sparkwing and its plugins.

Every hook name starts with ``sparkwing_``. Implementations may accept a
subset of a hook's arguments, so new arguments can be added without
breaking plugins. Call sites use the typed wrappers on
:class:`sparkwing.plugins.manager.PluginHost`, never ``pm.hook`` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import hookspec

if TYPE_CHECKING:
    from .registry import BackendRegistry


@hookspec
def sparkwing_register_backends(registry: BackendRegistry) -> None:
    """Register store factories this plugin provides.

    Call ``registry.register(kind, type_name, factory, required=(...))`` for
    each backend, where *kind* is ``state``, ``cache`` or ``logs`` and
    *factory* is ``factory(config, context) -> store``: *config* is the
    profile's block for that surface (a dict holding ``type`` and the
    backend's own keys) and *context* a
    :class:`~sparkwing.plugins.registry.BackendContext`. *required* lists
    keys the block must carry; profile validation reports a missing one as
    ``type=<name> requires <key>``.

    :param registry: the :class:`~sparkwing.plugins.registry.BackendRegistry` to fill.
    """


@hookspec
def sparkwing_add_cli_commands(cli: Any) -> None:
    """Add click commands or groups to the ``sparkwing`` command line.

    :param cli: the root :class:`click.Group`; call ``cli.add_command(cmd)``.
    """


@hookspec
def sparkwing_add_server_routes(app: Any, context: Any) -> None:
    """Add HTTP routes to a sparkwing server application.

    :param app: the :class:`aiohttp.web.Application` being built.
    :param context: the server's context (its stores and settings).
    """


@hookspec
def sparkwing_run_started(run: Any) -> None:
    """Observe a run that has just started (called once per run, in the run's process).

    :param run: the :class:`~sparkwing.storage.records.Run` as recorded.
    """


@hookspec
def sparkwing_run_finished(run: Any) -> None:
    """Observe a run that has just reached a terminal status (called once per run).

    :param run: the :class:`~sparkwing.storage.records.Run` as recorded, status terminal.
    """

"""Entry point of sparkwing-postgres: ``state: {type: postgres}`` and the ``sparkwing db`` commands.

Importing this module is cheap (no SQLAlchemy, no psycopg, no click):
they load only when a profile selects the store or a ``db`` command runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sparkwing.plugins import hookimpl
from sparkwing.plugins.registry import BackendContext, Registry

from .keys import OPTIONAL_KEYS


def make_state_store(config: Mapping[str, Any], context: BackendContext) -> Any:
    """Open a :class:`~sparkwing_postgres.store.PostgresStateStore`: connect, check, migrate."""
    from .store import PostgresStateStore

    return PostgresStateStore.from_config(config, where=f'profile "{context.profile}": state')


@hookimpl
def sparkwing_register_backends(registry: Registry) -> None:
    """Register the PostgreSQL state store."""
    registry.add_state_store(
        "postgres", make_state_store, required=("url",), optional=OPTIONAL_KEYS,
        description="PostgreSQL database shared by many runners (url or url_source: env:VAR)",
    )


@hookimpl
def sparkwing_add_cli_commands(cli: Any) -> None:
    """Add ``sparkwing db status|migrate``."""
    from .cli import db_group

    cli.add_command(db_group)

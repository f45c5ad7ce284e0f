"""Entry point of sparkwing-sqlite: registers ``state: {type: sqlite}``.

This module is imported by every ``sparkwing`` command, so it imports only
the standard library and :mod:`sparkwing` at the top; the store module
(and :mod:`sqlite3`) is imported by the factory, when a profile selects
this type.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkwing.plugins import hookimpl
from sparkwing.plugins.registry import BackendContext, Registry

if TYPE_CHECKING:
    from .store import SqliteStateStore

#: The sparkwing plugin contract this distribution was built for.
SPARKWING_CONTRACT = 1


def make_state_store(config: Mapping[str, Any], context: BackendContext) -> SqliteStateStore:
    """Build a :class:`~sparkwing_sqlite.store.SqliteStateStore` (default ``$SPARKWING_HOME/state.db``)."""
    from .store import SqliteStateStore

    raw = config.get("path")
    path = Path(str(raw)).expanduser() if raw else context.home / "state.db"
    return SqliteStateStore(path)


@hookimpl
def sparkwing_register_backends(registry: Registry) -> None:
    """Register the SQLite state store."""
    registry.add_state_store(
        "sqlite", make_state_store, optional=("path",),
        description="SQLite database file (default $SPARKWING_HOME/state.db)",
    )

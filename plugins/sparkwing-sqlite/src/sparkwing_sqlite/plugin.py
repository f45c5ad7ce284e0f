"""Entry point of sparkwing-sqlite: registers ``state: {type: sqlite}``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sparkwing.plugins import hookimpl
from sparkwing.plugins.registry import BackendContext, BackendRegistry


def make_state_store(config: Mapping[str, Any], context: BackendContext) -> Any:
    """Build a :class:`~sparkwing_sqlite.store.SqliteStateStore` (default ``$SPARKWING_HOME/state.db``)."""
    from .store import SqliteStateStore

    raw = config.get("path")
    path = Path(str(raw)).expanduser() if raw else context.home / "state.db"
    return SqliteStateStore(path)


@hookimpl
def sparkwing_register_backends(registry: BackendRegistry) -> None:
    """Register the SQLite state store."""
    registry.register(
        "state", "sqlite", make_state_store, optional=("path",),
        description="SQLite database file (default $SPARKWING_HOME/state.db)",
    )

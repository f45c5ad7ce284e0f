"""Opening the controller's own tables (tokens, users, secrets) for one CLI command.

``sparkwing controller token|user|secret ...`` work on the controller
profile's state database whether the controller runs or not. Each command
body is::

    with controller_table(profile, TokenStore) as tokens:
        records = tokens.list()
    print_table(header, rows)

The profile's stores and the database handle are closed when the block
ends, also when it raises; printing happens after, with nothing open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from sparkwing_server.controller.statedb import StateDB

T = TypeVar("T")


@contextmanager
def controller_table(profile: str | None, make: Callable[[StateDB], T]) -> Iterator[T]:
    """*make* applied to a handle on *profile*'s state database; both closed afterwards.

    A state backend other than SQLite or PostgreSQL is refused with one line
    (:class:`~sparkwing.errors.ConfigError`).
    """
    from sparkwing_server.controller.statedb import open_state_db
    from sparkwing_server.localws.serve import open_profile_stores

    stores = open_profile_stores(profile)
    try:
        db = open_state_db(stores, "its tokens")
    except BaseException:
        stores.close()
        raise
    try:
        yield make(db)
    finally:
        db.close()
        stores.close()


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """*rows* under *header* in left-aligned columns, two spaces apart, on stdout."""
    from .render import table

    for line in table(rows, header):
        click.echo(line)

"""``sparkwing db status|migrate``: the state schema version, for operators.

Runners migrate the database themselves when they open it (under the
advisory lock); these commands let an operator look first, migrate ahead
of a fleet upgrade, or print the SQL for a review (``--dry-run``). They
act on the state store of the profile that resolves here (``--profile``,
else the project's ``defaults.profile``, else laptop): PostgreSQL stores
fully, SQLite files too (which migrate themselves on open anyway).
Opening for these commands never migrates by itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

_profile_option = click.option(
    "--profile", "profile_name", metavar="NAME", default=None,
    help="Use this profile's state store (default: the one that resolves here).",
)
_dir_option = click.option(
    "-C", "--cd", "directory", metavar="DIR", default=None,
    type=click.Path(file_okay=False, path_type=Path), help="Behave as if started in DIR.",
)
_output_option = click.option(
    "-o", "--output", "output", type=click.Choice(["pretty", "json"]), default="pretty",
    show_default=True, help="Output format: human-readable, or JSON for machines.",
)


@click.group("db")
def db_group() -> None:
    """Show or migrate the state database's schema version."""


def _resolve(profile_name: str | None, directory: Path | None) -> tuple[Any, dict[str, Any]]:
    from sparkwing.config import find_project, load_project, resolve_profile
    from sparkwing.errors import UsageError

    start = directory if directory is not None else Path.cwd()
    if directory is not None and not directory.is_dir():
        raise UsageError(f'-C: "{directory}" is not a directory')
    root = find_project(start)
    project = None
    if root is not None and (root / ".sparkwing" / "sparkwing.yaml").is_file():
        project = load_project(start)
    resolved = resolve_profile(flag=profile_name, pipeline=None, project=project)
    return resolved, resolved.blocks["state"]


class _Target:
    """The state store a ``db`` command acts on, without opening it as a store."""

    def __init__(self, resolved: Any, block: dict[str, Any]) -> None:
        from sparkwing.errors import UsageError

        self.resolved = resolved
        self.kind = str(block.get("type"))
        where = resolved.profile.where("state")
        if self.kind == "postgres":
            from .settings import parse_settings

            self.settings = parse_settings(block, where)
            self.where = self.settings.where
        elif self.kind == "sqlite":
            from sparkwing.paths import sparkwing_home

            raw = block.get("path")
            self.path = Path(str(raw)).expanduser() if raw else sparkwing_home() / "state.db"
            self.where = f"state store {self.path}"
        else:
            raise UsageError(
                f"{where}: type={self.kind} has no SQL schema; sparkwing db manages postgres "
                "and sqlite state stores"
            )

    def status(self) -> Any:
        from .migrate import SchemaStatus

        if self.kind == "postgres":
            from .connection import check_connection, create_engine
            from .migrate import read_status

            engine = create_engine(self.settings)
            try:
                check_connection(engine, self.settings)
                with engine.connect() as conn:
                    return read_status(conn)
            finally:
                engine.dispose()
        import sqlite3

        from sparkwing.storage.sql.migrations import SCHEMA_VERSION, sqlite_status

        if not self.path.is_file():
            return SchemaStatus(0, SCHEMA_VERSION, "")
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            found, by = sqlite_status(conn)
        finally:
            conn.close()
        return SchemaStatus(found, SCHEMA_VERSION, by)

    def plan(self, status: Any) -> list[str]:
        if self.kind == "postgres":
            from .migrate import plan_sql

            return plan_sql(self.settings, status)
        from sparkwing.errors import SchemaSkewError
        from sparkwing.storage.sql.migrations import all_migrations, skew_message, sqlite_statements

        if status.state == "ahead":
            raise SchemaSkewError(
                skew_message(self.where, status.found, status.expected, status.migrated_by)
            )
        out: list[str] = []
        for migration in all_migrations()[status.found:]:
            out.extend(sqlite_statements(migration))
        return out

    def migrate(self) -> None:
        if self.kind == "postgres":
            from .connection import check_connection, create_engine
            from .migrate import ensure_schema

            engine = create_engine(self.settings)
            try:
                check_connection(engine, self.settings)
                ensure_schema(engine, self.settings)
            finally:
                engine.dispose()
            return
        import sqlite3

        from sparkwing.storage.sql.migrations import ensure_sqlite_schema

        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            ensure_sqlite_schema(conn, self.where)
        finally:
            conn.close()


def _emit(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _status_dict(target: _Target, status: Any) -> dict[str, Any]:
    return {
        "profile": target.resolved.name, "type": target.kind, "store": target.where,
        "found": status.found, "expected": status.expected, "migrated_by": status.migrated_by,
        "state": status.state, "pending": status.pending,
    }


_STATE_TEXT = {
    "current": "up to date",
    "behind": "older than this sparkwing: `sparkwing db migrate` (or any run) migrates it",
    "ahead": "NEWER than this sparkwing: upgrade sparkwing before using this database",
}


@db_group.command("status")
@_profile_option
@_dir_option
@_output_option
def status_cmd(profile_name: str | None, directory: Path | None, output: str) -> None:
    """Show the schema version the database records and the one this sparkwing expects."""
    resolved, block = _resolve(profile_name, directory)
    target = _Target(resolved, block)
    status = target.status()
    if output == "json":
        _emit(_status_dict(target, status))
        return
    from sparkwing import __version__

    click.echo(f"store:        {target.where}")
    click.echo(f"profile:      {resolved.name} ({resolved.reason})")
    click.echo(f"database:     schema version {status.found}"
               + (" (empty)" if status.found == 0 else ""))
    click.echo(f"this program: schema version {status.expected} (sparkwing {__version__})")
    if status.migrated_by:
        click.echo(f"migrated by:  sparkwing {status.migrated_by}")
    click.echo(f"state:        {_STATE_TEXT[status.state]}")


@db_group.command("migrate")
@click.option("--dry-run", is_flag=True, help="Print the SQL a migration would run; change nothing.")
@_profile_option
@_dir_option
@_output_option
def migrate_cmd(dry_run: bool, profile_name: str | None, directory: Path | None,
                output: str) -> None:
    """Bring the database to this sparkwing's schema version (safe while runners start)."""
    resolved, block = _resolve(profile_name, directory)
    target = _Target(resolved, block)
    before = target.status()
    if dry_run:
        statements = target.plan(before)
        if output == "json":
            _emit({**_status_dict(target, before), "sql": statements})
            return
        if not statements:
            click.echo(f"-- {target.where} is at schema version {before.found}: nothing to do")
            return
        click.echo(f"-- {target.where}: schema version {before.found} -> {before.expected}")
        for statement in statements:
            click.echo(statement.rstrip() + ";")
        return
    target.migrate()
    after = target.status()
    if output == "json":
        _emit({**_status_dict(target, after), "from": before.found})
        return
    if before.found == after.found:
        click.echo(f"{target.where} is already at schema version {after.found}")
    else:
        click.echo(f"{target.where} migrated from schema version {before.found} to {after.found}")

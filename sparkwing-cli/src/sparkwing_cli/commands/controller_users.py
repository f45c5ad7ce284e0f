"""``sparkwing controller user create|list|delete|passwd``: the web UI's login users.

Users live in the controller's state database next to its tokens; the
commands work whether the controller runs or not (a deletion or password
change ends the user's sessions from the controller's next request on).
Passwords are never taken from the command line: they are read from
standard input (one line) when it is not a terminal, else prompted for
twice without echo.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from ..clickstyle import SparkwingGroup
from ..controllertables import controller_table, print_table
from ..output import emit_json, output_option

_PROFILE_HELP = "The controller's profile (its state store holds the users)."


@click.group("user", cls=SparkwingGroup)
def user_group() -> None:
    """Create, list and delete the web UI's login users; change their passwords."""


def _users(profile: str | None) -> Any:
    from sparkwing_server.controller.users import UserStore

    return controller_table(profile, UserStore)


def _read_password() -> str:
    """The new password: one line of stdin, or a prompt (twice, no echo) on a terminal."""
    from sparkwing.errors import UsageError
    from sparkwing_server.controller.users import check_password

    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise UsageError("no password on standard input (give it as one line, or run "
                             "the command in a terminal to be prompted)")
        return check_password(password)
    import getpass

    first = getpass.getpass("Password: ")
    check_password(first)
    if getpass.getpass("Password again: ") != first:
        raise UsageError("the two passwords differ; nothing was changed")
    return first


@user_group.command("create")
@click.option("--name", required=True, metavar="NAME", help="The login name.")
@click.option("--scope", "scope", required=True, metavar="LIST",
              help="Comma-separated scopes, as for tokens (a viewer: runs.read,logs.read; "
                   "add runs.write to cancel runs and release pauses, approvals.write to "
                   "approve; admin for everything).")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
def create_cmd(name: str, scope: str, profile: str | None) -> None:
    """Create a user; the password comes from stdin (one line) or a prompt, never argv."""
    from sparkwing_server.controller.scopes import parse_scopes
    from sparkwing_server.controller.users import check_name

    scopes = parse_scopes(scope)
    name = check_name(name)
    password = _read_password()
    with _users(profile) as users:
        rec = users.create(name, password, scopes)
    click.echo(f"created user {rec.name} (scopes {','.join(rec.scopes)})")


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(stamp))


@user_group.command("list")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
@output_option
def list_cmd(profile: str | None, output: str) -> None:
    """List users by name (scopes, created, last login, live sessions; never a password)."""
    with _users(profile) as users:
        records = users.list()
        live = {r.name: users.live_sessions(r.name) for r in records}
    if output == "json":
        emit_json({"users": [{**r.to_dict(), "live_sessions": live[r.name]} for r in records]})
        return
    if not records:
        click.echo("no users (create one with `sparkwing controller user create`)")
        return
    print_table(("NAME", "SCOPES", "CREATED", "LAST LOGIN", "SESSIONS"),
                [(r.name, ",".join(r.scopes) or "-", _when(r.created_at),
                  _when(r.last_login_at), str(live[r.name])) for r in records])


@user_group.command("delete")
@click.argument("name")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
def delete_cmd(name: str, profile: str | None) -> None:
    """Delete user NAME and end its sessions (exit 1 when there is no such user)."""
    with _users(profile) as users:
        users.delete(name)
    click.echo(f"deleted user {name}; its sessions are ended")


@user_group.command("passwd")
@click.argument("name")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
def passwd_cmd(name: str, profile: str | None) -> None:
    """Set user NAME's password (stdin or prompt) and end its sessions."""
    password = _read_password()
    with _users(profile) as users:
        ended = users.set_password(name, password)
    click.echo(f"changed the password of {name}; {ended} session(s) ended")

"""``sparkwing controller serve``, ``controller token create|list|revoke|rotate`` and
``controller secret set|list|delete|rekey`` (and ``sparkwing controller user ...``, in
:mod:`.controller_users`).

The token and secret commands work on the controller's own store (its
profile's state database, under ``$SPARKWING_HOME``) whether the controller
runs or not; a revocation takes effect on the controller's next request.
The secret commands that seal or open values read the key from the
environment as the controller does (``SPARKWING_SECRETS_KEY`` or
``SPARKWING_SECRETS_KEY_FILE``).
"""

from __future__ import annotations

import time
from typing import Any

import click

from ..clickstyle import SparkwingGroup
from ..controllertables import controller_table, print_table
from ..output import emit_json, output_option

_PROFILE_HELP = "The controller's profile (its state store holds the tokens)."


@click.group("controller", cls=SparkwingGroup)
def controller_group() -> None:
    """Run the team controller (REST API and web UI); manage its tokens, login users, secrets."""


@controller_group.command("serve")
@click.option("--addr", default="127.0.0.1:4344", show_default=True, metavar="HOST:PORT",
              help="Listen address (port 0: any free port, printed on start).")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
@click.option("--require-auth", is_flag=True, default=None,
              help="Refuse to start without a live token, and always require one "
                   "(default: SPARKWING_REQUIRE_AUTH=1; otherwise auth is on once any token "
                   "exists).")
@click.option("--check-config", is_flag=True,
              help="Open the profile's stores and token table, check them, print one line "
                   "and exit (nothing is served).")
@click.option("--secure-cookies", is_flag=True,
              help="Mark the web UI's login cookie Secure even on plain-HTTP requests (set "
                   "this when a proxy in front ends TLS).")
@click.option("--session-ttl", default="12h", show_default=True, metavar="DURATION",
              help="How long a web UI login lasts.")
@click.option("--lease-secs", type=float, default=180.0, show_default=True, metavar="SECONDS",
              help="How long a trigger or node claim lives without a heartbeat; runners are "
                   "told to heartbeat every eighth of it.")
@click.option("--reaper-interval", type=float, default=10.0, show_default=True,
              metavar="SECONDS",
              help="How often expired claims are reaped (node attempts fail as agent_lost, "
                   "triggers go back to pending).")
@click.option("--queue-timeout", type=float, default=900.0, show_default=True,
              metavar="SECONDS",
              help="A ready node attempt no runner claims within this fails as queue_timeout "
                   "(0: never).")
def serve_cmd(addr: str, profile: str | None, require_auth: bool | None,
              check_config: bool, secure_cookies: bool, session_ttl: str, lease_secs: float,
              reaper_interval: float, queue_timeout: float) -> None:
    """Serve the controller (API and web UI) in the foreground until SIGTERM or Ctrl-C."""
    from sparkwing_server.controller.leases import LeaseSettings
    from sparkwing_server.controller.serve import require_auth_default, serve
    from sparkwing_server.localws.address import parse_address

    address = parse_address(addr)
    needed = require_auth_default() if require_auth is None else require_auth
    leases = LeaseSettings(lease_s=lease_secs, reaper_interval_s=reaper_interval,
                           queue_timeout_s=queue_timeout)
    raise SystemExit(serve(address, profile=profile, require_auth=needed,
                           check_config=check_config, secure_cookies=secure_cookies,
                           session_ttl_s=_ttl(session_ttl, "--session-ttl"), leases=leases))


@controller_group.group("token", cls=SparkwingGroup)
def token_group() -> None:
    """Create, list, revoke and rotate the controller's API tokens (swu_/swr_/sws_)."""


def _tokens(profile: str | None) -> Any:
    from sparkwing_server.controller.tokens import TokenStore

    return controller_table(profile, TokenStore)


def _ttl(value: str | None, flag: str) -> float | None:
    from sparkwing.durations import parse_duration
    from sparkwing.errors import UsageError

    if not value:
        return None
    try:
        seconds = parse_duration(value, flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from sparkwing_server.controller.tokens import check_ttl

    return check_ttl(seconds, flag=flag)


@token_group.command("create")
@click.option("--kind", type=click.Choice(["user", "runner", "service"]), required=True,
              help="user (swu_), runner (swr_) or service (sws_).")
@click.option("--name", required=True, metavar="NAME", help="Who the token is for.")
@click.option("--scope", "scope", required=True, metavar="LIST",
              help="Comma-separated scopes: runs.read, runs.write, triggers.read, "
                   "triggers.claim, nodes.claim, runs.report, logs.read, logs.write, "
                   "approvals.write, secrets.read, admin, or the runner bundle.")
@click.option("--ttl", default=None, metavar="DURATION",
              help="Expire after this long (e.g. 720h, 30d); default: never.")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
def create_cmd(kind: str, name: str, scope: str, ttl: str | None, profile: str | None) -> None:
    """Create a token and print it on stdout, once (only its hash is stored)."""
    from sparkwing_server.controller.scopes import parse_scopes

    scopes = parse_scopes(scope)
    ttl_s = _ttl(ttl, "--ttl")
    with _tokens(profile) as tokens:
        raw, rec = tokens.create(kind, name, scopes, ttl_s=ttl_s)
    click.echo(raw)
    click.echo(f"created {rec.kind} token {rec.prefix} for {rec.name} "
               f"(scopes {','.join(rec.scopes)}{_expiry(rec.expires_at)}); "
               "it is shown only this once", err=True)


def _expiry(expires_at: float | None) -> str:
    if expires_at is None:
        return ""
    return ", expires " + time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(expires_at))


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(stamp))


@token_group.command("list")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
@output_option
def list_cmd(profile: str | None, output: str) -> None:
    """List tokens newest first (prefix, kind, name, scopes, status; never the token)."""
    with _tokens(profile) as tokens:
        records = tokens.list()
    now = time.time()
    if output == "json":
        emit_json({"tokens": [r.to_dict(now) for r in records]})
        return
    if not records:
        click.echo("no tokens (create one with `sparkwing controller token create`)")
        return
    print_table(("PREFIX", "KIND", "NAME", "SCOPES", "STATUS", "CREATED", "EXPIRES", "LAST USED"),
                [(r.prefix, r.kind, r.name, ",".join(r.scopes) or "-", r.status(now),
                  _when(r.created_at), _when(r.expires_at), _when(r.last_used_at))
                 for r in records])


@token_group.command("revoke")
@click.argument("prefix")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
def revoke_cmd(prefix: str, profile: str | None) -> None:
    """Revoke the token with PREFIX; the controller refuses it from its next request on."""
    with _tokens(profile) as tokens:
        rec = tokens.revoke(prefix)
    click.echo(f"revoked {rec.kind} token {rec.prefix} ({rec.name})")


@token_group.command("rotate")
@click.argument("prefix")
@click.option("--grace", default="0s", show_default=True, metavar="DURATION",
              help="How long the old token keeps working.")
@click.option("--ttl", default=None, metavar="DURATION",
              help="Expiry of the new token (default: the old token's remaining time).")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
def rotate_cmd(prefix: str, grace: str, ttl: str | None, profile: str | None) -> None:
    """Replace the token with PREFIX by a new one (same kind, name, scopes); print the new token."""
    from sparkwing.durations import parse_duration
    from sparkwing.errors import UsageError

    try:
        grace_s = parse_duration(grace, "--grace")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ttl_s = _ttl(ttl, "--ttl")
    with _tokens(profile) as tokens:
        raw, new, old = tokens.rotate(prefix, grace_s=grace_s, ttl_s=ttl_s)
    click.echo(raw)
    click.echo(f"rotated {old.prefix} -> {new.prefix}; the old token stops "
               f"{'now' if grace_s <= 0 else 'at ' + _when(old.revoked_at) + ' UTC'}", err=True)


def _add_user_commands() -> None:
    from .controller_users import user_group

    controller_group.add_command(user_group)


_add_user_commands()


@controller_group.group("secret", cls=SparkwingGroup)
def secret_group() -> None:
    """Set, list, delete and rekey the controller's secrets (sealed at rest with its key).

    The key comes from SPARKWING_SECRETS_KEY (32 bytes in base64) or
    SPARKWING_SECRETS_KEY_FILE, as for `controller serve`; list and delete
    need no key.
    """


def _secrets(profile: str | None, *, need_key: bool) -> Any:
    """The secrets table; the key is read (and, with *need_key*, required) first."""
    from sparkwing_server.controller.secretkeys import keyring_from_env, require_keyring
    from sparkwing_server.controller.secretstore import SecretStore

    keyring = require_keyring() if need_key else keyring_from_env()
    return controller_table(profile, lambda db: SecretStore(db, keyring))


def _read_value() -> str:
    import sys

    from sparkwing.errors import UsageError

    if sys.stdin.isatty():
        value: str = click.prompt("value", hide_input=True, err=True)
        return value
    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the value on stdin is not UTF-8 text") from None
    return text[:-1] if text.endswith("\n") else text


@secret_group.command("set")
@click.argument("name")
@click.option("--unmasked", is_flag=True,
              help="Plain configuration (e.g. a region): runs do not hide it in their logs.")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
def secret_set_cmd(name: str, unmasked: bool, profile: str | None) -> None:
    """Set secret NAME to the value read from stdin (one trailing newline is dropped).

    Example: printf %s "$TOKEN" | sparkwing controller secret set github/token
    """
    from sparkwing_server.controller.secretstore import check_name, check_value

    check_name(name)
    value = check_value(_read_value())
    with _secrets(profile, need_key=True) as secrets:
        rec, created = secrets.put(name, value, masked=not unmasked, principal="cli")
    click.echo(f"{'created' if created else 'replaced'} secret {rec.name} "
               f"({'masked' if rec.masked else 'unmasked'}, sealed with key {rec.key_id})")


@secret_group.command("list")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
@output_option
def secret_list_cmd(profile: str | None, output: str) -> None:
    """List secrets by name (masked, sealing key, who set it, when; never a value)."""
    with _secrets(profile, need_key=False) as secrets:
        records = secrets.list()
    if output == "json":
        emit_json({"secrets": [r.to_dict() for r in records]})
        return
    if not records:
        click.echo("no secrets (set one with `sparkwing controller secret set NAME`)")
        return
    print_table(("NAME", "MASKED", "KEY", "SET BY", "UPDATED"),
                [(r.name, "yes" if r.masked else "no", r.key_id, r.principal or "-",
                  _when(r.updated_at)) for r in records])


@secret_group.command("delete")
@click.argument("name")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
def secret_delete_cmd(name: str, profile: str | None) -> None:
    """Delete secret NAME (exit 1 when there is none)."""
    from sparkwing.errors import NotFoundError

    with _secrets(profile, need_key=False) as secrets:
        deleted = secrets.delete(name)
    if not deleted:
        raise NotFoundError(f"no secret {name!r} (see `sparkwing controller secret list`)")
    click.echo(f"deleted secret {name}")


@secret_group.command("rekey")
@click.option("--profile", default=None, metavar="NAME", help=_PROFILE_HELP)
@output_option
def secret_rekey_cmd(profile: str | None, output: str) -> None:
    """Reseal every secret with the current key (SPARKWING_SECRETS_KEY).

    Values sealed with the key being retired are opened with
    SPARKWING_SECRETS_OLD_KEY (or _FILE); see docs/operators.md for the
    whole rotation.
    """
    with _secrets(profile, need_key=True) as secrets:
        result = secrets.rekey()
    if output == "json":
        emit_json({"resealed": list(result.resealed), "current": result.current,
                   "key_id": result.key_id})
        return
    click.echo(f"resealed {len(result.resealed)} secret(s) with key {result.key_id}; "
               f"{result.current} already were")

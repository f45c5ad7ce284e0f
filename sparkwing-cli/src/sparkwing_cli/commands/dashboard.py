"""``sparkwing dashboard start|status|kill``: the local dashboard as a detached process.

Exit codes: ``start`` 0 when the server accepts connections, 1 when it
cannot start (address taken by another program, server exited, newer
dashboard running), 2 for bad usage; ``status`` 0 running, 1 not running;
``kill`` 0 (also when nothing runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..clickstyle import SparkwingGroup
from ..output import emit_json, output_option

_ADDR_HELP = "Listen address HOST:PORT."


def _home(home: Path | None) -> Path:
    from sparkwing.paths import sparkwing_home

    return (home or sparkwing_home()).expanduser().resolve()


@click.group("dashboard", cls=SparkwingGroup)
def dashboard_group() -> None:
    """Run the local dashboard: a web UI and JSON API over your runs.

    `start` launches it in the background (PID in $SPARKWING_HOME/dashboard.pid,
    output appended to $SPARKWING_HOME/dashboard.log), `status` reports it,
    `kill` stops it.
    """


@dashboard_group.command("start")
@click.option("--addr", default="127.0.0.1:4343", show_default=True, metavar="HOST:PORT",
              help=_ADDR_HELP)
@click.option("--profile", default=None, metavar="NAME",
              help="Serve this profile's stores (default: as `sparkwing runs` resolves).")
@click.option("--read-only", is_flag=True, help="Refuse every API write (HTTP 405).")
@click.option("--from", "from_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, metavar="DIR",
              help="Serve the runs recorded in DIR by `sparkwing run --sw-record-dir DIR` "
                   "(e.g. a CI job's downloaded artifact); implies --read-only.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Use DIR as SPARKWING_HOME.")
@output_option
def start_cmd(addr: str, profile: str | None, read_only: bool, from_dir: Path | None,
              home: Path | None, output: str) -> None:
    """Start the dashboard in the background (replacing a running one) and print its URL."""
    from sparkwing.errors import UsageError
    from sparkwing_server.localws import lifecycle
    from sparkwing_server.localws.address import parse_address

    if from_dir is not None and profile:
        raise UsageError(f"--from {from_dir} cannot be combined with --profile {profile}")
    address = parse_address(addr)
    resident, replaced = lifecycle.start(
        _home(home), address, profile=profile, read_only=read_only, cwd=Path.cwd(),
        from_dir=from_dir,
    )
    if output == "json":
        emit_json({**resident.to_dict(), "running": True, "replaced_pid": replaced})
        return
    if replaced is not None:
        click.echo(f"replaced the dashboard with pid {replaced}", err=True)
    click.echo(f"dashboard running at {resident.url} (pid {resident.pid}{_mode(resident)})")


def _mode(resident: Any) -> str:
    """``, read-only`` and ``, from DIR`` as they apply to *resident*."""
    mode = ", read-only" if resident.read_only else ""
    return mode + (f", from {resident.from_dir}" if resident.from_dir else "")


@dashboard_group.command("status")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Use DIR as SPARKWING_HOME.")
@output_option
def status_cmd(home: Path | None, output: str) -> None:
    """Tell whether the dashboard runs and where (exit 0 running, 1 not running)."""
    from sparkwing_server.localws import lifecycle

    resident = lifecycle.status(_home(home))
    if output == "json":
        emit_json({**(resident.to_dict() if resident else {}), "running": resident is not None})
    elif resident is None:
        click.echo("dashboard not running")
    else:
        where = resident.url or "unknown address"
        click.echo(f"dashboard running at {where} (pid {resident.pid}{_mode(resident)})")
    raise click.exceptions.Exit(0 if resident is not None else 1)


@dashboard_group.command("kill")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Use DIR as SPARKWING_HOME.")
def kill_cmd(home: Path | None) -> None:
    """Stop the dashboard: SIGTERM, then SIGKILL after 5 s (a no-op when none runs)."""
    from sparkwing_server.localws import lifecycle

    resident, how = lifecycle.stop(_home(home))
    if resident is None:
        click.echo("dashboard not running")
        return
    forced = " (killed after 5s)" if how == "kill" else ""
    click.echo(f"dashboard stopped (pid {resident.pid}){forced}")

"""Serving the dashboard in the foreground: open the stores, bind, run until signalled."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sparkwing.errors import SparkwingError

from .. import __version__
from .address import Address

if TYPE_CHECKING:
    from sparkwing.config import Stores

#: Seconds open requests (streams) get to finish when the server stops.
SHUTDOWN_GRACE_S = 5.0
#: Connections the kernel queues while the application is starting.
_BACKLOG = 128


def open_profile_stores(profile: str | None, start: Path | None = None) -> Stores:
    """Resolve *profile* like the read commands do and open its stores.

    Inside a project (a ``.sparkwing/sparkwing.yaml`` at or above *start*)
    its ``defaults.profile`` and project profiles apply; ``--profile`` wins.
    """
    from sparkwing.config import load_project, open_stores, resolve_profile

    start = start or Path.cwd()
    project = None
    root = project_root(start)
    if root is not None:
        project = load_project(start)
    resolved = resolve_profile(flag=profile, pipeline=None, project=project)
    return open_stores(resolved)


def project_root(start: Path | None = None) -> Path | None:
    """The directory of the project (with a ``sparkwing.yaml``) at or above *start*, or None."""
    from sparkwing.config import find_project

    root = find_project(start or Path.cwd())
    if root is not None and (root / ".sparkwing" / "sparkwing.yaml").exists():
        return root
    return None


def _remove_pid_file(pid_file: Path | None) -> None:
    if pid_file is None:
        return
    try:
        if pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
    except (OSError, ValueError):
        pass


def bind_socket(address: Address) -> socket.socket:
    """Bind (not yet listen on) *address*; raise a one-line :class:`SparkwingError` if taken.

    Binding first reserves the port before anything slow happens, so a
    taken address is reported at once.
    """
    try:
        infos = socket.getaddrinfo(address.host or None, address.port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SparkwingError(f"cannot listen on {address}: {exc.strerror}") from None
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SparkwingError(
                f"address {address} is already in use; stop what listens there or choose "
                "another with --addr"
            ) from None
        raise SparkwingError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    return sock


#: The dashboard's write token (``Authorization: Bearer ...``), made anew at each start.
TOKEN_FILE = "dashboard.token"


def serve(address: Address, *, profile: str | None = None, read_only: bool = False,
          pid_file: Path | None = None, from_dir: Path | None = None) -> int:
    """Serve the dashboard on *address* until SIGTERM/SIGINT; return the exit status.

    With *from_dir*, the stores are the record directory's, opened read-only
    (and the server is read-only whatever *read_only* says).

    Order: bind the port, open the stores, listen, then import and start the
    web application on that socket. Connections arriving while the
    application starts wait in the listen backlog instead of being refused.
    Raises :class:`SparkwingError` when the address is taken or the stores
    cannot be opened.
    """
    sock = bind_socket(address)
    try:
        if from_dir is not None:
            from sparkwing.config import open_stores, resolve_record_dir

            read_only = True
            stores = open_stores(resolve_record_dir(from_dir, flag="--from", read_only=True))
        else:
            stores = open_profile_stores(profile)
    except BaseException:
        sock.close()
        raise
    try:
        sock.listen(_BACKLOG)
        sock.setblocking(False)
        # Imported after listening: connections made meanwhile wait in the backlog.
        import asyncio

        from sparkwing.proglog import configure

        configure(server=True, stream=sys.stdout)
        return asyncio.run(_serve(stores, sock, address, read_only=read_only))
    finally:
        sock.close()
        _remove_pid_file(pid_file)
        try:
            stores.close()
        except Exception as exc:  # closing must not hide how the server ended
            print(f"warning: closing stores failed: {exc}", file=sys.stderr)


async def _serve(stores: Stores, sock: socket.socket, address: Address, *, read_only: bool) -> int:
    import asyncio

    from aiohttp import web
    from sparkwing.config.profiles import RECORD_DIR
    from sparkwing.paths import sparkwing_home

    from ..requestguard import RequestPolicy, new_token_file
    from .app import make_app

    # A read-only server takes no writes, so it needs no write token (and its home may be read-only).
    token = "" if read_only else new_token_file(sparkwing_home() / TOKEN_FILE)
    # A record directory's runs are of other machines: no project's schedules tick here.
    recorded = stores.resolved.name == RECORD_DIR
    app = make_app(stores, read_only=read_only,
                   policy=RequestPolicy.for_listener(address.host, token=token),
                   project_root=None if recorded else project_root())
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    url = Address(address.host, int(sock.getsockname()[1])).url
    mode = ", read-only" if read_only else ""
    if recorded:
        mode += f", from {stores.resolved.profile.state['path']}"
    profile_name = stores.resolved.name or "?"
    from sparkwing.proglog import get_logger

    log = get_logger("sparkwing.dashboard", pid=os.getpid())
    log.info(f"listening on {url} (pid {os.getpid()}, profile {profile_name}{mode})",
             url=url, version=__version__, profile=profile_name, read_only=read_only)
    try:
        await stop.wait()
    finally:
        log.info("dashboard stopping")
        await runner.cleanup()
    return 0

"""Serving the dashboard in the foreground: open the stores, bind, run until signalled."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sparkwing.errors import SparkwingError

from .. import __version__
from .address import Address

#: Seconds open requests (streams) get to finish when the server stops.
SHUTDOWN_GRACE_S = 5.0


def open_profile_stores(profile: str | None, start: Path | None = None) -> Any:
    """Resolve *profile* like the read commands do and open its stores.

    Inside a project (a ``.sparkwing/sparkwing.yaml`` at or above *start*)
    its ``defaults.profile`` and project profiles apply; ``--profile`` wins.
    """
    from sparkwing.config import find_project, load_project, open_stores, resolve_profile

    start = start or Path.cwd()
    root = find_project(start)
    project = None
    if root is not None and (root / ".sparkwing" / "sparkwing.yaml").exists():
        project = load_project(start)
    resolved = resolve_profile(flag=profile, pipeline=None, project=project)
    return open_stores(resolved)


def _remove_pid_file(pid_file: Path | None) -> None:
    if pid_file is None:
        return
    try:
        if pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
    except (OSError, ValueError):
        pass


def serve(address: Address, *, profile: str | None = None, read_only: bool = False,
          pid_file: Path | None = None) -> int:
    """Serve the dashboard on *address* until SIGTERM/SIGINT; return the exit status.

    Raises :class:`SparkwingError` when the stores cannot be opened or the
    address is taken.
    """
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stores = open_profile_stores(profile)
    try:
        return asyncio.run(_serve(stores, address, read_only=read_only, pid_file=pid_file))
    finally:
        _remove_pid_file(pid_file)
        try:
            stores.close()
        except Exception as exc:  # closing must not hide how the server ended
            print(f"warning: closing stores failed: {exc}", file=sys.stderr)


async def _serve(stores: Any, address: Address, *, read_only: bool,
                 pid_file: Path | None) -> int:
    from aiohttp import web

    from .app import make_app

    app = make_app(stores, read_only=read_only)
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    site = web.TCPSite(runner, address.host, address.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise SparkwingError(
                f"address {address} is already in use; stop what listens there or choose "
                "another with --addr"
            ) from None
        raise SparkwingError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = address.port
    for sock_addr in runner.addresses:
        if isinstance(sock_addr, tuple) and len(sock_addr) >= 2:
            port = int(sock_addr[1])
            break
    url = Address(address.host, port).url
    mode = ", read-only" if read_only else ""
    profile_name = getattr(getattr(stores, "resolved", None), "name", "") or "?"
    print(
        f"{time.strftime('%Y-%m-%dT%H:%M:%S')} sparkwing dashboard {__version__} listening on "
        f"{url} (pid {os.getpid()}, profile {profile_name}{mode})",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} sparkwing dashboard stopping "
              f"(pid {os.getpid()})", flush=True)
        await runner.cleanup()
    return 0

"""``python -m sparkwing_server.localws --addr HOST:PORT [--profile P | --from DIR] [--read-only]``.

Resolves the profile (``--profile``, else the project's ``defaults.profile``
when started inside a project, else ``laptop``; ``--from DIR``: the runs
recorded in DIR by ``sparkwing run --sw-record-dir``, read-only), opens its stores and
serves the dashboard until SIGTERM or SIGINT (5 s graceful shutdown). This
is the process ``sparkwing dashboard start`` runs detached; it can also be
run in the foreground. Exit status: 0 after a clean stop, 1 when the
address is taken or the stores cannot be opened, 2 for bad usage or
configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sparkwing.errors import SparkwingError, UsageError

from .address import DEFAULT_ADDR, parse_address
from .serve import serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sparkwing_server.localws",
        description="Serve the sparkwing dashboard over a profile's stores.",
    )
    parser.add_argument("--addr", default=DEFAULT_ADDR, help=f"HOST:PORT (default {DEFAULT_ADDR})")
    parser.add_argument("--profile", default=None, help="profile whose stores to serve")
    parser.add_argument("--read-only", action="store_true", help="refuse every API write (405)")
    parser.add_argument("--from", dest="from_dir", default=None, metavar="DIR",
                        help="serve the runs recorded in DIR (implies --read-only)")
    parser.add_argument("--home", default=None, help="use DIR as SPARKWING_HOME")
    parser.add_argument("--pid-file", default=None,
                        help="remove this file at exit when it still holds this process's PID")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, open the stores and serve; return the exit status."""
    args = _parser().parse_args(argv)
    if args.home:
        os.environ["SPARKWING_HOME"] = str(Path(args.home).expanduser().resolve())
    try:
        address = parse_address(args.addr)
        if args.from_dir and args.profile:
            raise UsageError("--from cannot be combined with --profile")
        return serve(
            address, profile=args.profile, read_only=args.read_only or bool(args.from_dir),
            pid_file=Path(args.pid_file) if args.pid_file else None,
            from_dir=Path(args.from_dir) if args.from_dir else None,
        )
    except SparkwingError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Entry point of the ``sparkwing`` command: one error boundary for the whole CLI.

``sparkwing run`` and ``sparkwing node exec`` (one per job attempt on an
out-of-process executor) take fast paths that never import click (start-up
time is a feature); every other command goes through the click tree in :mod:`.cli`.
"""

from __future__ import annotations

import gc
import os
import sys


def _debug(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("SPARKWING_DEBUG_TRACEBACK") == "1"


def _fail(message: str, code: int, *, now: bool = False) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    if now:  # a run: job threads still running must not hold the process open
        _exit_now(code)
    sys.exit(code)


def _run_fast(argv: list[str]) -> None:
    from sparkwing.asyncioboot import import_asyncio

    import_asyncio()  # before anything imports asyncio: ssl only when a TLS link needs it
    from .runner import run_main

    _exit_now(run_main(argv))


def _node_exec_fast(argv: list[str]) -> None:
    from sparkwing.asyncioboot import import_asyncio

    import_asyncio()
    from .nodeexec import node_exec_main

    _exit_now(node_exec_main(argv))


def _exit_now(code: int) -> None:
    # os._exit skips atexit: give writes waiting for an object store their last chance here.
    outbox_link = sys.modules.get("sparkwing.storage.blobs.link")
    if outbox_link is not None:
        outbox_link.drain_at_exit()
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads still running a timed-out pure-Python body must not hold the process open.
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn every error into one line and an exit code."""
    was_enabled = gc.isenabled()
    gc.disable()  # while sparkwing is imported: see sparkwing.startgc
    from sparkwing.absentmods import mark_absent

    mark_absent()  # before pathlib and subprocess look for Windows modules on sys.path
    from sparkwing import startgc
    from sparkwing.errors import SparkwingError

    startgc.pause(was_enabled)  # `run`/`node exec`: until jobs run; others: until the command runs
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug(args)
    try:
        if args and args[0] == "run":
            _run_fast(args[1:])
        if args[:2] == ["node", "exec"]:
            _node_exec_fast(args[2:])
        _main_click(args)
    except SparkwingError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _fail(str(exc), exc.exit_code, now=bool(args) and args[0] == "run")
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.exit(1)
    except SystemExit:
        raise
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)


def _main_click(args: list[str]) -> None:
    import click
    from sparkwing.startgc import resume

    from .cli import cli
    from .clickstyle import usage_message

    resume()
    try:
        rv = cli.main(args=args, prog_name="sparkwing", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        _fail("aborted", 130)
    except click.ClickException as exc:
        no_args = getattr(click.exceptions, "NoArgsIsHelpError", None)
        if no_args is not None and isinstance(exc, no_args) and exc.ctx is not None:
            # a group called without a command: its help, as `--help` shows it
            sys.stdout.write(exc.ctx.get_help() + "\n")
            sys.exit(0)
        _fail(usage_message(exc), 2 if isinstance(exc, click.UsageError) else exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()

"""``runs logs``: a run's log records, merged across jobs by time, optionally followed live."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sparkwing.errors import NotFoundError, UsageError

from ..render import format_record, parse_line, record_text, use_colour
from ..runstore import find_run, from_option, open_read_stores, profile_option, reconcile_now
from .inspect import RECONCILE_EVERY_S, run_option

if TYPE_CHECKING:
    from sparkwing.config import Stores
    from sparkwing.storage.contracts import LogStore, StateStore

#: Seconds between reads while following.
POLL_S = 0.2


class _Printer:
    """Filters (``--grep``) and renders records in one output format."""

    def __init__(self, fmt: str, grep: str, show_node: bool) -> None:
        self.fmt = fmt
        self.grep = grep
        self.show_node = show_node
        self.colour = fmt == "pretty" and use_colour()
        self.width = 0

    def keep(self, raw: str, rec: dict[str, Any]) -> bool:
        return not self.grep or self.grep in record_text(rec)

    def render(self, raw: str, rec: dict[str, Any]) -> str:
        if self.fmt == "json":
            return raw.rstrip("\n")
        label = str(rec.get("node") or "run") + (f"#{rec['step']}" if rec.get("step") else "")
        self.width = min(max(self.width, len(label)), 32)
        return format_record(rec, self.fmt, colour=self.colour, show_node=self.show_node,
                             width=self.width)

    def fit(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Widen the job column to the longest label among *items*."""
        for _, rec in items:
            label = str(rec.get("node") or "run") + (f"#{rec['step']}" if rec.get("step") else "")
            self.width = min(max(self.width, len(label)), 32)

    def emit(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        out = sys.stdout
        for raw, rec in items:
            out.write(self.render(raw, rec) + "\n")
        out.flush()


def _records(lines: Iterable[str], printer: _Printer) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for raw in lines:
        rec = parse_line(raw)
        if printer.keep(raw, rec):
            out.append((raw, rec))
    return out


def _by_time(items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    # Timestamps are fixed-width UTC strings, so they sort as text; a record
    # without one keeps the time of the record before it in its stream.
    keyed = []
    last = ""
    for index, (raw, rec) in enumerate(items):
        ts = str(rec.get("ts") or "") or last
        last = ts
        keyed.append((ts, index, raw, rec))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [(raw, rec) for _, _, raw, rec in keyed]


def _check_node(state: StateStore, logs: LogStore, run_id: str, node: str) -> None:
    if state.get_node(run_id, node) is not None or node in logs.streams(run_id):
        return
    from sparkwing.config.suggest import closest

    known = [n.node_id for n in state.list_nodes(run_id)]
    guess = closest(node, known)
    if guess:
        raise NotFoundError(f'run {run_id} has no job "{node}"; did you mean "{guess}"?')
    listed = ", ".join(known) if known else "none"
    raise NotFoundError(f'run {run_id} has no job "{node}" (jobs: {listed})')


def _stopper(stores: Stores, run_id: str) -> Callable[[], bool]:
    """A ``stop()`` for following: true once the run is terminal (reconciling now and then)."""
    last = [time.monotonic()]

    def stop() -> bool:
        if time.monotonic() - last[0] >= RECONCILE_EVERY_S:
            last[0] = time.monotonic()
            reconcile_now(stores.state)
        run = stores.state.get_run(run_id)
        return run is None or run.terminal

    return stop


@click.command("logs")
@run_option
@click.option("--node", default=None, metavar="JOB", help="Only this job's log (default: all, merged by time).")
@click.option("--tail", type=click.IntRange(min=0), default=None, metavar="N", help="Only the last N records.")
@click.option("--head", type=click.IntRange(min=0), default=None, metavar="N", help="Only the first N records.")
@click.option("--grep", default="", metavar="TEXT", help="Only records whose text contains TEXT.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new records until the run finishes.")
@click.option("-o", "--output", "fmt", type=click.Choice(["pretty", "json", "plain"]),
              default="pretty", show_default=True,
              help="pretty: time, job and text; json: the raw records; plain: text only.")
@profile_option
@from_option
def logs_cmd(run_ref: str, scope: str | None, node: str | None, tail: int | None,
             head: int | None, grep: str, follow: bool, fmt: str, profile: str | None,
             from_dir: Path | None) -> None:
    """Print a run's logs: the run envelope and every job, merged by time.

    Default: the newest run of this project (with --from DIR: recorded in
    DIR). With --node, one job's log. -f follows live until the run is terminal.
    """
    if tail is not None and head is not None:
        raise UsageError("--tail and --head cannot be combined")
    if head is not None and follow:
        raise UsageError("--head cannot be combined with -f/--follow")
    if follow and from_dir is not None:
        raise UsageError("-f/--follow cannot be combined with --from: a record directory is "
                         "read as it is")
    with open_read_stores(profile, from_dir=from_dir) as stores:
        run = find_run(stores.state, run_ref, None if from_dir is not None else scope)
        logs = stores.logs
        if node is not None:
            _check_node(stores.state, logs, run.id, node)
            streams = [node]
        else:
            streams = logs.streams(run.id)
        printer = _Printer(fmt, grep, show_node=node is None)
        offsets: dict[str, int] = {}
        items: list[tuple[str, dict[str, Any]]] = []
        for s in streams:
            chunk = logs.read(run.id, s, 0)
            offsets[s] = chunk.next_offset
            items.extend(_records(chunk.lines, printer))
        if node is None:
            items = _by_time(items)
        if head is not None:
            items = items[:head]
        if tail is not None:
            items = items[-tail:] if tail else []
        printer.fit(items)
        printer.emit(items)
        if not follow or run.terminal:
            return
        stop = _stopper(stores, run.id)
        if node is not None:
            from sparkwing.storage.follow import follow_chunks

            for chunk in follow_chunks(logs, run.id, node, offsets[node], poll=POLL_S,
                                       stop=stop):
                printer.emit(_records(chunk.lines, printer))
            return
        _follow_merged(logs, run.id, offsets, printer, stop)


def _follow_merged(logs: LogStore, run_id: str, offsets: dict[str, int], printer: _Printer,
                   stop: Callable[[], bool]) -> None:
    """Poll every stream of the run (new ones too) until ``stop()``, printing batches by time."""
    from sparkwing.storage.follow import BATCH

    while True:
        stopping = stop()
        batch: list[tuple[str, dict[str, Any]]] = []
        for s in logs.streams(run_id):
            while True:
                chunk = logs.read(run_id, s, offsets.get(s, 0), BATCH)
                offsets[s] = chunk.next_offset
                batch.extend(_records(chunk.lines, printer))
                if len(chunk.lines) < BATCH:
                    break
        if batch:
            printer.emit(_by_time(batch))
        if stopping:
            return
        time.sleep(POLL_S)

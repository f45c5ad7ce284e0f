"""Reporters: how a run shows progress (live terminal view, NDJSON records, or nothing)."""

from __future__ import annotations

import io
import os
import sys
import time
from typing import IO, TYPE_CHECKING

from ..durations import format_duration

if TYPE_CHECKING:
    from ..dsl.plan import Plan
    from ..storage.records import Run
    from .graph import NodeState


class Reporter:
    """Receives run progress; the base class ignores everything."""

    #: Whether :meth:`records` wants every log record (costly for chatty jobs).
    wants_records = False

    def run_started(self, run: Run, plan: Plan, states: dict[str, NodeState]) -> None:
        """The run row exists and jobs are about to be scheduled."""

    def node_changed(self, state: NodeState) -> None:
        """A node changed status (started, retried, finished)."""

    def records(self, data: bytes) -> None:
        """Newline-terminated JSON log records, UTF-8, were written (only when ``wants_records``)."""

    def tick(self, states: dict[str, NodeState]) -> None:
        """Called about twice a second while the run is live."""

    def warning(self, message: str) -> None:
        """Something the user should know that is not a log record."""
        sys.stderr.write(f"warning: {message}\n")

    def run_finished(self, run: Run, states: dict[str, NodeState]) -> None:
        """The run reached a terminal status."""


class JsonReporter(Reporter):
    """Writes every log record (run envelope and jobs) to a stream as NDJSON.

    The records' bytes go to the text stream's binary buffer as they are
    (UTF-8, whatever the stream's encoding); the stream is made
    write-through, so text written to it elsewhere (a job's ``print()``)
    keeps its place among the records. Another stream (``io.StringIO``)
    gets the decoded text.
    """

    wants_records = True

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self._binary: IO[bytes] | None = None
        if isinstance(self.out, io.TextIOWrapper):
            self.out.flush()
            self.out.reconfigure(write_through=True)
            self._binary = self.out.buffer

    def records(self, data: bytes) -> None:
        """Copy records to the stream."""
        if self._binary is not None:
            self._binary.write(data)
        else:
            self.out.write(data.decode("utf-8", "replace"))

    def run_finished(self, run: Run, states: dict[str, NodeState]) -> None:
        """Flush the stream."""
        self.out.flush()


_SYMBOL = {
    "success": ("✓", "32"),
    "cached": ("◆", "36"),
    "satisfied": ("✓", "32"),
    "skipped": ("↷", "90"),
    "skipped-concurrent": ("↷", "90"),
    "failed": ("✗", "31"),
    "cancelled": ("⊘", "33"),
    "superseded": ("⊘", "33"),
}
_SPIN = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class PrettyReporter(Reporter):
    """A live table of jobs on a terminal, then the result and the failing jobs' last lines."""

    def __init__(self, out: IO[str] | None = None, color: bool = True, live: bool = True,
                 columns: int | None = None) -> None:
        self.out = out or sys.stderr
        self.color = color
        self.live = live
        #: Width of a table line; a running job's last output line is cut to fit.
        self.columns = columns if columns is not None else _terminal_columns(self.out)
        self.drawn = 0
        self.frame = 0
        self.run: Run | None = None
        self.states: dict[str, NodeState] = {}
        self.started = time.monotonic()
        self.last_draw = 0.0

    def _c(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def run_started(self, run: Run, plan: Plan, states: dict[str, NodeState]) -> None:
        """Print the header and the initial table."""
        self.run, self.states = run, states
        self.out.write(self._c("1", f"▶ {run.pipeline}") + self._c("90", f"  {run.id}") + "\n")
        self._draw(force=True)

    def node_changed(self, state: NodeState) -> None:
        """Redraw (rate-limited)."""
        self._draw()

    def tick(self, states: dict[str, NodeState]) -> None:
        """Advance the spinner and durations."""
        self.frame += 1
        self._draw(force=True)

    def warning(self, message: str) -> None:
        """Print a warning below the table."""
        self._clear()
        self.out.write(self._c("33", f"! {message}") + "\n")
        self._draw(force=True)

    def _note(self, note: str) -> str:
        """A table line's dimmed note, with the two spaces before it (nothing when empty)."""
        return f"  {self._c('90', note)}" if note else ""

    def _line(self, st: NodeState, width: int) -> str:
        if st.status == "done":
            sym, code = _SYMBOL.get(st.outcome, ("?", "0"))
            dur = format_duration(st.duration)
            note = ""
            if st.outcome == "failed":
                note = st.error.split("\n", 1)[0]
            elif st.outcome in ("skipped", "cancelled") and st.error:
                note = st.error
            elif st.attempt > 1:
                note = f"after {st.attempt} attempts"
            return f"  {self._c(code, sym)} {st.id:<{width}}  {dur:>7}{self._note(note)}"
        if st.status == "running":
            sym = self._c("34", _SPIN[self.frame % len(_SPIN)])
            note = f"attempt {st.attempt}/{st.attempts}" if st.attempt > 1 else ""
            shown = f"  {st.id:<{width}}  {format_duration(st.duration):>7}"
            room = self.columns - len(shown) - 5 - (len(note) + 2 if note else 0)
            last = _last_output(st, room)
            if last:
                note = f"{note}  {last}" if note else last
            return f"  {sym}{shown}{self._note(note)}"
        if st.status == "approval_pending":
            return f"  {self._c('35', '?')} {st.id:<{width}}  {'':>7}  {self._c('35', 'waiting for approval')}"
        return f"  {self._c('90', '·')} {self._c('90', st.id)}"

    def _clear(self) -> None:
        if self.live and self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def _draw(self, force: bool = False) -> None:
        if not self.live or not self.states:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        width = min(max((len(s) for s in self.states), default=4), 40)
        lines = [self._line(st, width) for st in self.states.values()]
        self._clear()
        self.out.write("\n".join(lines) + "\n")
        self.drawn = len(lines)
        self.out.flush()

    def run_finished(self, run: Run, states: dict[str, NodeState]) -> None:
        """Print the final table, failure excerpts and the result line."""
        self._clear()
        width = min(max((len(s) for s in states), default=4), 40)
        for st in states.values():
            self.out.write(self._line(st, width) + "\n")
        for st in states.values():
            if st.outcome == "failed" and st.excerpt:
                self.out.write(self._c("31", f"\n── {st.id}: last lines ──") + "\n")
                for line in st.excerpt.splitlines()[-20:]:
                    self.out.write(f"  {line}\n")
        dur = format_duration((run.finished_at or time.time()) - (run.started_at or time.time()))
        ok = sum(1 for s in states.values() if s.outcome in ("success", "cached", "skipped", "satisfied"))
        bad = [s.id for s in states.values() if s.outcome in ("failed", "cancelled")]
        if run.status == "success":
            head = self._c("32;1", "✓ success")
        elif run.status == "cancelled":
            head = self._c("33;1", "⊘ cancelled")
        else:
            head = self._c("31;1", "✗ failed")
        detail = f"{ok}/{len(states)} jobs ok"
        if bad:
            detail += f"; not ok: {', '.join(bad[:5])}" + ("..." if len(bad) > 5 else "")
        self.out.write(f"\n{head}  {run.id}  {detail}  in {dur}\n")
        if run.status != "success":
            first = next((s.id for s in states.values() if s.outcome == "failed"), "")
            hint = f"sparkwing runs logs --run {run.id}" + (f" --node {first}" if first else "")
            self.out.write(self._c("90", f"  logs: {hint}") + "\n")
        self.out.flush()


def _terminal_columns(out: IO[str]) -> int:
    """The width of the terminal *out* writes to (80 when it cannot be told)."""
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


def _last_output(st: NodeState, room: int) -> str:
    """The newest output line of a running job, made safe for a terminal, cut to *room*."""
    tail = st.output_tail
    if not tail or room < 8:
        return ""
    try:
        line = tail[-1]
    except IndexError:  # emptied by another thread since the check
        return ""
    from ..termtext import terminal_safe

    text = " ".join(terminal_safe(line).split())
    return text if len(text) <= room else text[: room - 1] + "…"

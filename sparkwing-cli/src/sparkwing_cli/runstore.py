"""Opening the stores the read commands use, and finding a run by id.

Read commands (``sparkwing runs ...``) use the profile that
``resolve_profile(flag=--profile, pipeline=None, project=<project here>)``
picks, so they follow ``defaults.profile`` of the project they are started
in, and work outside any project too (the laptop profile, unless
``--profile`` says otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from sparkwing.config import ProjectConfig, Stores
    from sparkwing.orchestrator.reconcile import Reconciled
    from sparkwing.storage.contracts import StateStore
    from sparkwing.storage.records import Run

F = TypeVar("F", bound=Callable[..., Any])

#: Words ``--run`` accepts for the newest run.
LATEST = ("latest", "last")
#: Runs fetched to find the newest one (see :func:`newest_first`).
LATEST_WINDOW = 20


def profile_option(fn: F) -> F:
    """The ``--profile NAME`` option of read commands."""
    return click.option(
        "--profile", "profile", metavar="NAME", default=None,
        help="Read the stores of this profile (default: the project's, else laptop).",
    )(fn)


def current_project(start: Path | None = None) -> ProjectConfig | None:
    """The project at or above *start* (cwd), or ``None`` when there is none.

    A ``.sparkwing/`` without ``sparkwing.yaml`` is not a project here; an
    invalid ``sparkwing.yaml`` is an error (it may name the profile to use).
    """
    from sparkwing.config import PROJECT_DIR, PROJECT_FILE, find_project, load_project

    start = start or Path.cwd()
    root = find_project(start)
    if root is None or not (root / PROJECT_DIR / PROJECT_FILE).is_file():
        return None
    return load_project(start)


def open_read_stores(profile: str | None, *, reconcile: bool = True) -> Stores:
    """Open the state, logs and cache stores for a read command.

    With *reconcile*, orphaned runs (dead process, stale heartbeat) are
    settled first so what the command shows is true.
    """
    from sparkwing.config import open_stores, resolve_profile

    resolved = resolve_profile(flag=profile or None, pipeline=None, project=current_project())
    stores = open_stores(resolved)
    if reconcile:
        try:
            reconcile_now(stores.state)
        except BaseException:
            stores.close()
            raise
    return stores


def reconcile_now(state: StateStore) -> list[Reconciled]:
    """Settle orphaned runs in *state* (see :mod:`sparkwing.orchestrator.reconcile`)."""
    from sparkwing.orchestrator.reconcile import reconcile

    return reconcile(state)


def newest_first(runs: list[Run]) -> list[Run]:
    """*runs* ordered newest first by creation time (then id).

    Stores return runs in id order, which follows start time only as finely
    as the id encodes it (and ids made by other tools may not encode it):
    the recorded creation time settles runs that start close together.
    """
    return sorted(runs, key=lambda r: (r.created_at or 0.0, r.id), reverse=True)


def find_run(state: StateStore, ref: str) -> Run:
    """Return the run *ref* names: an exact id, or ``latest``/``last`` for the newest run.

    Raises a one-line :class:`~sparkwing.errors.NotFoundError` (exit 1)
    that suggests an id sharing the given prefix when there is one, and a
    :class:`~sparkwing.errors.UsageError` (exit 2) for an empty reference.
    """
    from sparkwing.errors import NotFoundError, UsageError
    from sparkwing.storage.records import RunFilter

    ref = (ref or "").strip()
    if not ref:
        raise UsageError("--run needs a run id (or latest)")
    if ref.lower() in LATEST:
        runs = newest_first(state.list_runs(RunFilter(limit=LATEST_WINDOW)))
        if not runs:
            raise NotFoundError("no runs recorded yet (start one with: sparkwing run PIPELINE)")
        return runs[0]
    run = state.get_run(ref)
    if run is not None:
        return run
    guess = similar_run_id(state, ref)
    if guess:
        raise NotFoundError(f"run {ref} not found; did you mean {guess}?")
    raise NotFoundError(f"run {ref} not found (see: sparkwing runs list)")


def similar_run_id(state: StateStore, ref: str) -> str:
    """The newest run id that starts with *ref*, else the nearest one of the same second.

    Returns ``""`` when there is none.
    """
    from sparkwing.storage.records import RunFilter

    def with_prefix(prefix: str, limit: int) -> list[str]:
        # ids sort chronologically; "~" sorts after every character an id uses
        found = state.list_runs(RunFilter(before_id=prefix + "~", limit=limit))
        return [r.id for r in found if r.id.startswith(prefix)]

    found = with_prefix(ref, 1)
    if found:
        return found[0]
    if len(ref) > 20 and ref.startswith("run-"):
        from sparkwing.config.suggest import edit_distance

        same_second = with_prefix(ref[:20], 50)
        if same_second:
            return min(same_second, key=lambda rid: edit_distance(ref, rid))
    return ""

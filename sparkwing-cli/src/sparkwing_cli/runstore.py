"""Opening the stores the read commands use, and finding a run by id.

Read commands (``sparkwing runs ...``) use the profile that
``resolve_profile(flag=--profile, pipeline=None, project=<project here>)``
picks, so they follow ``defaults.profile`` of the project they are started
in, and work outside any project too (the laptop profile, unless
``--profile`` says otherwise). ``--from DIR`` reads a record directory
(``sparkwing run --sw-record-dir DIR``, e.g. a CI job's uploaded artifact)
instead: read-only, every project's runs, nothing settled or written.
"""

from __future__ import annotations

import functools
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


def from_option(fn: F) -> F:
    """The ``--from DIR`` option of read commands: read a record directory instead of a profile."""
    return click.option(
        "--from", "from_dir", metavar="DIR", default=None,
        type=click.Path(file_okay=False, path_type=Path),
        help="Read the runs recorded in DIR by `sparkwing run --sw-record-dir DIR` "
             "(read-only; every project's runs).",
    )(fn)


def all_projects_option(fn: F) -> F:
    """The ``--all-projects`` flag: look past the project the command runs in."""
    return click.option(
        "--all-projects", "all_projects", is_flag=True,
        help="Runs of every project (default inside a project: only its runs).",
    )(fn)


def run_ref_option(fn: F) -> F:
    """A run reference: ``[RUN]`` or ``--run RUN`` (default ``latest``), plus ``--all-projects``.

    The command receives ``run_ref`` (an id, or ``latest``) and ``scope``
    (the project ``latest`` is looked up in, ``None`` for every project).
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, run_arg: str | None = None, run_opt: str | None = None,
                all_projects: bool = False, **kwargs: Any) -> Any:
        from sparkwing.errors import UsageError

        if run_arg and run_opt and run_arg != run_opt:
            raise UsageError(f"two runs given: {run_arg} and --run {run_opt}; give one")
        kwargs["run_ref"] = run_arg or run_opt or LATEST[0]
        kwargs["scope"] = project_scope(all_projects)
        return fn(*args, **kwargs)

    wrapped = all_projects_option(wrapper)
    wrapped = click.option(
        "--run", "run_opt", metavar="RUN", default=None,
        help="The run: an id, or latest (the default) for the newest run.",
    )(wrapped)
    return click.argument("run_arg", metavar="[RUN]", required=False)(wrapped)  # type: ignore[return-value]


def project_scope(all_projects: bool, start: Path | None = None) -> str | None:
    """The identity of the project the command runs in (``None`` outside one or with *all_projects*)."""
    from sparkwing.config import PROJECT_DIR, PROJECT_FILE, find_project
    from sparkwing.projectruns import project_id

    if all_projects:
        return None
    root = find_project(start or Path.cwd())
    if root is None or not (root / PROJECT_DIR / PROJECT_FILE).is_file():
        return None
    return project_id(root)


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


def open_read_stores(profile: str | None, *, reconcile: bool = True,
                     from_dir: Path | None = None) -> Stores:
    """Open the state, logs and cache stores for a read command.

    With *reconcile*, orphaned runs (dead process, stale heartbeat) are
    settled first so what the command shows is true. With *from_dir* (``--from``)
    the record directory's stores are opened read-only and nothing is settled.
    """
    from sparkwing.config import open_stores, resolve_profile, resolve_record_dir
    from sparkwing.errors import UsageError

    if from_dir is not None:
        if profile:
            raise UsageError(f"--from {from_dir} cannot be combined with --profile {profile}")
        return open_stores(resolve_record_dir(from_dir, flag="--from", read_only=True))
    resolved = resolve_profile(flag=profile or None, pipeline=None, project=current_project())
    stores = open_stores(resolved)
    if reconcile:
        try:
            settle_quietly(stores.state)
        except BaseException:
            stores.close()
            raise
    return stores


def settle_quietly(state: StateStore) -> None:
    """Settle orphaned runs, or say in one line why they could not be (reading goes on).

    Settling writes; a store that cannot be written (a read-only home, a
    full disk) must not stop a command that only reads.
    """
    from sparkwing.errors import StoreError

    try:
        reconcile_now(state)
    except StoreError as exc:
        click.echo(f"warning: orphaned runs not settled: {exc}", err=True)


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


def find_run(state: StateStore, ref: str, scope: str | None = None) -> Run:
    """Return the run *ref* names: an exact id, or ``latest``/``last`` for the newest run.

    With *scope* (a project identity, see :mod:`sparkwing.projectruns`),
    ``latest`` is the newest run of that project; an id is found whatever
    project it belongs to. Raises a one-line
    :class:`~sparkwing.errors.NotFoundError` (exit 1) that suggests an id
    sharing the given prefix when there is one, and a
    :class:`~sparkwing.errors.UsageError` (exit 2) for an empty reference.
    """
    from sparkwing.errors import NotFoundError, UsageError
    from sparkwing.projectruns import list_project_runs
    from sparkwing.storage.records import RunFilter

    ref = (ref or "").strip()
    if not ref:
        raise UsageError("--run needs a run id (or latest)")
    if ref.lower() in LATEST:
        runs = newest_first(list_project_runs(state, RunFilter(limit=LATEST_WINDOW), scope))
        if runs:
            return runs[0]
        if scope is not None and state.list_runs(RunFilter(limit=1)):
            raise NotFoundError(f"no runs of the project at {scope} yet (--all-projects looks "
                                "at the runs of every project)")
        raise NotFoundError("no runs recorded yet (start one with: sparkwing run PIPELINE)")
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

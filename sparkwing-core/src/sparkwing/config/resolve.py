"""Choosing the profile for a command, and opening its stores.

Order, first match wins:

1. local-only (``--sw-local-only``, ``SPARKWING_LOCAL_ONLY=1``, or the
   pipeline's ``requires: [local]``) forces the built-in ``laptop`` profile;
2. ``--profile NAME``;
3. the pipeline's ``profile:``;
4. ``defaults.profile`` in sparkwing.yaml;
5. ``laptop`` (a user profile of that name overrides the built-in one).

A name is looked up among the user's profiles first, then the project's
``profiles:``, then the built-in ``laptop``. The chosen profile applies
whole: surfaces it leaves out use the laptop defaults, never another
profile's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError, SparkwingError, StoreError
from ..slotted import Slotted
from .profiles import (
    LAPTOP,
    SURFACES,
    Profile,
    laptop_profile,
    load_user_profiles,
    record_dir_profile,
)
from .project import LOCAL_LABEL, PipelineEntry, ProjectConfig

if TYPE_CHECKING:
    from ..storage.contracts import ArtifactStore, LogStore, StateStore

_TRUE = ("1", "true", "yes", "on")
T = TypeVar("T")


class ResolvedProfile(Slotted):
    """The profile a command uses and a sentence saying why.

    ``blocks`` holds each surface's block as handed to the backend
    (``url_source`` replaced by ``url``; never shown by ``repr()``);
    ``local_only`` is true when local-only forced the built-in laptop profile.
    """

    __slots__ = ("blocks", "local_only", "profile", "reason")

    def __init__(self, profile: Profile, reason: str, *,
                 blocks: dict[str, dict[str, Any]] | None = None,
                 local_only: bool = False) -> None:
        self.profile = profile
        self.reason = reason
        self.blocks: dict[str, dict[str, Any]] = {} if blocks is None else blocks
        self.local_only = local_only

    def __repr__(self) -> str:
        return (f"ResolvedProfile(profile={self.profile!r}, reason={self.reason!r}, "
                f"local_only={self.local_only!r})")

    @property
    def name(self) -> str:
        """The profile's name."""
        return self.profile.name

    @property
    def has_controller(self) -> bool:
        """Whether the profile points at a controller."""
        return self.profile.controller is not None


def local_only_from_env() -> bool:
    """Whether ``SPARKWING_LOCAL_ONLY`` asks for local-only storage."""
    return os.environ.get("SPARKWING_LOCAL_ONLY", "").strip().lower() in _TRUE


def known_profiles(
    project: ProjectConfig | None, user: dict[str, Profile] | None = None
) -> dict[str, Profile]:
    """Every profile a name can select: user profiles over project ones over the built-in laptop."""
    if user is None:
        user = load_user_profiles()
    out: dict[str, Profile] = {LAPTOP: laptop_profile()}
    if project is not None:
        out.update(project.profiles)
    out.update(user)
    return out


def resolve_profile(
    *,
    flag: str | None,
    pipeline: PipelineEntry | None,
    project: ProjectConfig | None,
    local_only: bool = False,
    user_profiles: dict[str, Profile] | None = None,
) -> ResolvedProfile:
    """Choose the profile (see the module docstring for the order) and check its surfaces.

    *user_profiles* defaults to the user's profiles.yaml. Raises
    :class:`ConfigError` for an unknown profile name, a surface the
    backend registry rejects, or a ``url_source`` variable that is not set.
    """
    forced = _local_only_reason(local_only, pipeline, project)
    if forced is not None:
        if flag:
            forced += f" (--profile {flag} ignored)"
        resolved = ResolvedProfile(laptop_profile(), forced, local_only=True)
        _check_surfaces(resolved)
        return resolved

    profiles = known_profiles(project, user_profiles)
    shown = project.shown if project is not None else "sparkwing.yaml"
    if flag:
        profile = _lookup(profiles, flag, "--profile")
        reason = f"selected with --profile {flag}"
    elif pipeline is not None and pipeline.profile:
        at = f"{shown}:{pipeline.profile_line}"
        origin = f'{at}: profile of pipeline "{pipeline.name}"'
        profile = _lookup(profiles, pipeline.profile, origin)
        reason = f'set by pipeline "{pipeline.name}" (profile: {pipeline.profile} at {at})'
    elif project is not None and project.defaults.profile:
        at = f"{shown}:{project.defaults.profile_line}"
        profile = _lookup(profiles, project.defaults.profile, f"{at}: defaults.profile")
        reason = f"set by defaults.profile at {at}"
    else:
        profile = profiles[LAPTOP]
        reason = "no profile selected, so the laptop default applies"
        if profile.source != "built-in":
            reason += f" (overridden in {profile.source})"
    resolved = ResolvedProfile(profile, reason)
    _check_surfaces(resolved)
    return resolved


def resolve_record_dir(path: Path, *, flag: str, read_only: bool = False) -> ResolvedProfile:
    """The profile of the record directory *path*, given with *flag* (no profile is looked up).

    For writing (``--sw-record-dir``) the directory is created when missing;
    for reading (*read_only*, ``--from``) it must exist and hold recorded
    runs, else a one-line :class:`ConfigError` names the flag and the path.
    """
    path = Path(os.path.abspath(path.expanduser()))
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: not a directory")
    if read_only:
        if not path.is_dir():
            raise ConfigError(f"{flag} {path}: no such directory")
        if not (path / "state").is_dir():
            raise ConfigError(
                f"{flag} {path}: no runs recorded there (expected {path / 'state'}, which "
                "sparkwing run --sw-record-dir writes); give the directory that was uploaded"
            )
    profile = record_dir_profile(path, read_only=read_only, source=flag)
    what = "read from" if read_only else "recorded in"
    resolved = ResolvedProfile(profile, f"{flag} {path}: state, logs and cache {what} that "
                                        "directory")
    _check_surfaces(resolved)
    return resolved


def _local_only_reason(
    flag: bool, pipeline: PipelineEntry | None, project: ProjectConfig | None
) -> str | None:
    tail = "forces the built-in laptop profile"
    if flag:
        return f"--sw-local-only {tail}"
    if local_only_from_env():
        return f"SPARKWING_LOCAL_ONLY={os.environ['SPARKWING_LOCAL_ONLY']} {tail}"
    if pipeline is not None:
        if LOCAL_LABEL in pipeline.requires:
            return f'pipeline "{pipeline.name}" has requires: [{LOCAL_LABEL}], which {tail}'
        defaults = project.defaults.requires if project is not None else []
        if not pipeline.requires and LOCAL_LABEL in defaults:
            return f"defaults.requires has {LOCAL_LABEL}, which {tail}"
    return None


def _lookup(profiles: dict[str, Profile], name: str, origin: str) -> Profile:
    profile = profiles.get(name)
    if profile is not None:
        return profile
    from .suggest import closest

    known = ", ".join(sorted(profiles))
    guess = closest(name, profiles)
    if guess:
        raise ConfigError(f'{origin}: unknown profile "{name}"; did you mean "{guess}"? '
                          f"(known profiles: {known})")
    raise ConfigError(f'{origin}: unknown profile "{name}"; known profiles: {known}')


def _check_surfaces(resolved: ResolvedProfile) -> None:
    """Resolve ``url_source`` and validate every surface against the backend registry."""
    from ..plugins.manager import get_host

    registry = get_host().registry
    profile = resolved.profile
    for kind in SURFACES:
        block = dict(profile.surface(kind))
        source = block.pop("url_source", None)
        if source is not None:
            var = str(source)[4:]
            value = os.environ.get(var, "")
            if not value:
                raise ConfigError(
                    f"{profile.where(kind)}: url_source is env:{var} but {var} is not set"
                )
            block["url"] = value
        registry.validate(kind, block, where=profile.where(kind))
        resolved.blocks[kind] = block
    if profile.executor is not None:
        registry.validate("executor", profile.executor, where=profile.where("executor"))
        resolved.blocks["executor"] = dict(profile.executor)


class Stores(Slotted):
    """The open stores of a resolved profile; close them with :meth:`close` (or ``with``)."""

    __slots__ = ("cache", "logs", "resolved", "state")

    def __init__(self, state: StateStore, logs: LogStore, cache: ArtifactStore,
                 resolved: ResolvedProfile) -> None:
        self.state = state
        self.logs = logs
        self.cache = cache
        self.resolved = resolved

    def close(self) -> None:
        """Close every store; the first error is raised after all were tried."""
        first: BaseException | None = None
        for store in (self.cache, self.logs, self.state):
            try:
                store.close()
            except Exception as exc:  # keep closing the others
                first = first or exc
        if first is not None:
            raise first

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_stores(resolved: ResolvedProfile) -> Stores:
    """Build the state, logs and cache stores of *resolved* through the backend registry.

    A factory that fails with something other than a :class:`SparkwingError`
    becomes a one-line :class:`StoreError` naming the profile and surface;
    stores already opened are closed first.
    """
    from ..paths import sparkwing_home
    from ..plugins.manager import get_host
    from ..plugins.registry import BackendContext

    if not resolved.blocks:
        _check_surfaces(resolved)
    registry = get_host().registry
    context = BackendContext(home=sparkwing_home(), profile=resolved.name)
    profile = resolved.profile
    opened: list[StateStore | LogStore | ArtifactStore] = []

    def opening(kind: str, build: Callable[[], T]) -> T:
        """Build one surface's store; a failure other than a SparkwingError becomes one line."""
        try:
            return build()
        except SparkwingError:
            raise
        except Exception as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            kind_type = resolved.blocks[kind].get("type")
            raise StoreError(
                f"{profile.where(kind)}: cannot open {kind_type} store: {detail}") from exc

    blocks = resolved.blocks
    try:
        state = opening("state", lambda: registry.create(
            "state", blocks["state"], context, where=profile.where("state")))
        opened.append(state)
        logs = opening("logs", lambda: registry.create(
            "logs", blocks["logs"], context, where=profile.where("logs")))
        opened.append(logs)
        cache = opening("cache", lambda: registry.create(
            "cache", blocks["cache"], context, where=profile.where("cache")))
        opened.append(cache)
    except BaseException:
        for store in opened:
            try:
                store.close()
            except Exception:
                pass
        raise
    return Stores(state, logs, cache, resolved)

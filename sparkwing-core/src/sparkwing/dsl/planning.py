"""Plan-time purity: helpers with side effects refuse to run while a plan is being built."""

from __future__ import annotations

from contextvars import ContextVar, Token

from ..errors import PlanError

_PLANNING: ContextVar[str] = ContextVar("sparkwing_planning", default="")


def planning_pipeline() -> str:
    """Return the name of the pipeline whose plan is being built, or ``""``."""
    return _PLANNING.get()


def ensure_not_planning(what: str) -> None:
    """Raise :class:`PlanError` if called while a plan is being built.

    *what* names the helper, e.g. ``"sw.hash_files()"``.
    """
    pipeline = _PLANNING.get()
    if pipeline:
        raise PlanError(
            f"{what} has side effects and cannot be called while building the plan of "
            f'pipeline "{pipeline}"; call it inside a job body, a step or a memoize key function'
        )


class planning:
    """Context manager marking plan construction for *pipeline*."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self._token: Token[str] | None = None

    def __enter__(self) -> planning:
        self._token = _PLANNING.set(self.pipeline)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _PLANNING.reset(self._token)
            self._token = None

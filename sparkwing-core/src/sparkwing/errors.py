"""The one error family users meet.

Every error a user can cause or fix is a :class:`SparkwingError`. The CLI
catches this family once, prints ``error: <message>`` on one line and exits
with :attr:`SparkwingError.exit_code`; ``--debug`` shows the traceback.
"""

from __future__ import annotations


class SparkwingError(Exception):
    """Base of every user-facing sparkwing error (exit code 1)."""

    exit_code: int = 1


class UsageError(SparkwingError):
    """Bad command-line usage: unknown flag, bad value, missing argument (exit 2)."""

    exit_code = 2


class ConfigError(SparkwingError):
    """A configuration file or profile is invalid (exit 2)."""

    exit_code = 2


class PluginError(SparkwingError):
    """A plugin failed to load, or no plugin provides a requested backend type (exit 2)."""

    exit_code = 2


class StoreError(SparkwingError):
    """A store could not be opened or used (exit 1)."""


class SchemaSkewError(StoreError):
    """The store's schema is newer than this program understands."""


class ConflictError(StoreError):
    """A remote store refused a write that conflicts with what it holds (a duplicate id,
    a gate already decided): the controller's 409 ``conflict`` (exit 1)."""


class NotFoundError(SparkwingError):
    """A run, node, pipeline or key that was asked for does not exist (exit 1)."""


class PipelineImportError(SparkwingError):
    """A pipeline's module (or one it imports) failed to import, syntax errors included (exit 2)."""

    exit_code = 2


class PlanError(SparkwingError):
    """A pipeline's plan is invalid: duplicate ids, unknown deps, cycles, I/O at plan time (exit 2)."""

    exit_code = 2

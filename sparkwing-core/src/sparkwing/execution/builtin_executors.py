"""The built-in executors, registered through the same hook as any third-party plugin.

* ``executor: {type: local}``: attempts run in the run's own process (the default).
* ``executor: {type: process}``: each attempt runs in a fresh
  ``sparkwing node exec`` process (optional key ``command``: the argv that
  starts sparkwing, default this Python running ``sparkwing_cli.main``).
* ``executor: {type: queue}``: each attempt goes on the node queue of the
  profile's controller, for a ``sparkwing runner`` to claim (optional keys
  ``labels``, ``poll_s``, ``grace_s``).

Executor modules are imported only when an executor is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..plugins import hookimpl

if TYPE_CHECKING:
    from ..plugins.registry import Registry
    from .contracts import Executor, ExecutorContext


def make_local(config: Mapping[str, Any], context: ExecutorContext) -> Executor:
    """Build a :class:`~sparkwing.execution.local.LocalExecutor`."""
    from .local import LocalExecutor

    return LocalExecutor(context.workers)


def make_process(config: Mapping[str, Any], context: ExecutorContext) -> Executor:
    """Build a :class:`~sparkwing.execution.process.ProcessExecutor`."""
    from .process import ProcessExecutor

    return ProcessExecutor.from_config(config, context)


def make_queue(config: Mapping[str, Any], context: ExecutorContext) -> Executor:
    """Build a :class:`~sparkwing.execution.queue.QueueExecutor` (needs the profile's controller)."""
    from .queue import QueueExecutor

    return QueueExecutor.from_config(config, context)


@hookimpl
def sparkwing_register_executors(registry: Registry) -> None:
    """Register the ``local``, ``process`` and ``queue`` executors."""
    registry.add_executor(
        "local", make_local,
        description="in the run's process: threads for sync bodies, process groups for commands",
    )
    registry.add_executor(
        "process", make_process, optional=("command", "grace_s"),
        description="each attempt in a fresh `sparkwing node exec` process",
    )
    registry.add_executor(
        "queue", make_queue, optional=("labels", "poll_s", "grace_s"),
        description="each attempt on the controller's node queue, run by a `sparkwing runner`",
    )

"""Choosing the executor of each job: the job's ``.executor()``, ``--sw-executor``, the profile, ``local``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PluginError
from .contracts import Executor, ExecutorContext

if TYPE_CHECKING:
    from ..config.resolve import ResolvedProfile
    from ..dsl.nodes import JobNode
    from ..plugins.registry import Registry

#: The executor a run uses when nothing names one.
DEFAULT = "local"


class ExecutorSet:
    """The executors of one run, built on first use from the plugin registry.

    Precedence for a job: its own ``.executor(NAME)``, then the run flag
    ``--sw-executor NAME``, then the profile's ``executor: {type: NAME, ...}``,
    then ``local``. The profile's block configures its type wherever that type
    is used; other types get an empty block.
    """

    def __init__(self, registry: Registry, context: ExecutorContext, *, flag: str = "",
                 profile: Mapping[str, Any] | None = None, profile_where: str = "",
                 fixed: bool = False) -> None:
        self.registry = registry
        #: Every job runs on the default executor, whatever it asks (``node exec``).
        self.fixed = fixed
        self.context = context
        self.flag = flag
        self.profile = dict(profile or {})
        self.profile_where = profile_where or f'profile "{context.profile}": executor'
        self.default = flag or str(self.profile.get("type") or DEFAULT)
        self._built: dict[str, Executor] = {}
        self._settings: dict[str, dict[str, Any]] = {}

    @classmethod
    def only(cls, executor: Executor, context: ExecutorContext) -> ExecutorSet:
        """A set that runs every job on *executor* whatever the jobs ask (``node exec``)."""
        from ..plugins.registry import Registry

        chosen = cls(Registry(), context, flag=executor.name, fixed=True)
        chosen._built[executor.name] = executor
        return chosen

    def name_for(self, node: JobNode) -> str:
        """The executor type *node* runs on."""
        if self.fixed:
            return self.default
        return node.executor_name or self.default

    def check(self, nodes: Iterable[JobNode], *, build: bool = False) -> None:
        """Fail before the run starts when a job, the flag or the profile names an unknown executor.

        Raises a one-line :class:`PluginError` listing the registered
        executors (and, for first-party names, the distribution to install).
        With *build*, the executors the jobs will use are built now, so a
        factory's own one-line error (no cluster to reach, a bad setting)
        stops the run before anything is recorded rather than failing its jobs.
        """
        if self.fixed:
            return
        nodes = list(nodes)
        if self.profile:
            self.registry.validate("executor", self.profile, self.profile_where)
        if self.flag:
            self._known(self.flag, f"--sw-executor {self.flag}")
        for node in nodes:
            if node.executor_name:
                self._known(node.executor_name, f'job "{node.id}": .executor("{node.executor_name}")')
        if build:
            for name in sorted({self.name_for(node) for node in nodes}):
                self.get(name)

    def _known(self, name: str, where: str) -> None:
        try:
            self.registry.get("executor", name)
        except PluginError as exc:
            raise PluginError(f"{where}: {exc}") from None

    def config_for(self, name: str) -> dict[str, Any]:
        """The block handed to executor *name*'s factory (the profile's when it names *name*)."""
        if self.profile.get("type") == name:
            return dict(self.profile)
        return {"type": name}

    def get(self, name: str) -> Executor:
        """The executor *name*, built on first use."""
        executor = self._built.get(name)
        if executor is None:
            executor = self.registry.build_executor(name, self.config_for(name), self.context)
            self._built[name] = executor
        return executor

    def settings_config(self, name: str) -> dict[str, Any]:
        """The profile's block for *name* without its ``type`` (``Attempt.config``)."""
        block = self._settings.get(name)
        if block is None:
            block = self.config_for(name)
            block.pop("type", None)
            self._settings[name] = block
        return block

    async def close(self) -> None:
        """Close every executor that was built."""
        for executor in self._built.values():
            await executor.close()


def check_executors(nodes: Iterable[JobNode], flag: str,
                    resolved: ResolvedProfile | None = None) -> None:
    """Refuse, before a run starts, a job, flag or profile naming an executor nobody provides.

    *resolved* is the run's :class:`~sparkwing.config.ResolvedProfile` (its
    ``executor:`` block is checked too). Raises a one-line
    :class:`~sparkwing.errors.PluginError` or :class:`~sparkwing.errors.ConfigError`.
    """
    from pathlib import Path

    from ..plugins.manager import get_host

    profile = resolved.profile.executor if resolved is not None else None
    where = resolved.profile.where("executor") if resolved is not None and profile else ""
    context = ExecutorContext(home=Path(),
                              profile=resolved.name if resolved is not None else "laptop")
    ExecutorSet(get_host().registry, context, flag=flag, profile=profile,
                profile_where=where).check(nodes)

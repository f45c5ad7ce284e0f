"""The plugin registry: typed factories for stores, executors and trigger sources.

Plugins fill it through ``sparkwing_register_backends``,
``sparkwing_register_executors`` and ``sparkwing_register_triggers`` with one
typed method per kind; core resolves a profile's ``state``/``cache``/``logs``/
``executor`` blocks through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from ..errors import ConfigError, PluginError
from ..slotted import Slotted

if TYPE_CHECKING:
    from ..execution.contracts import Executor, ExecutorContext
    from ..storage.contracts import ArtifactStore, LogStore, StateStore
    from ..triggers.contracts import TriggerContext, TriggerSource

#: Kinds of backend a profile selects.
KINDS = ("state", "cache", "logs", "executor", "trigger")

#: First-party types that ship in their own distribution: type -> distribution.
FIRST_PARTY: dict[str, str] = {
    "azure": "sparkwing-azure",
    "gcs": "sparkwing-gcs",
    "postgres": "sparkwing-postgres",
    "s3": "sparkwing-s3",
    "sqlite": "sparkwing-sqlite",
    "k8s": "sparkwing-k8s",
    "github": "sparkwing-github",
}

#: A factory as :class:`Backend` holds it: one of the typed factories below, by kind.
Factory = Callable[[Mapping[str, Any], Any], object]
#: ``factory(config, context) -> StateStore``
StateFactory = Callable[[Mapping[str, Any], "BackendContext"], "StateStore"]
#: ``factory(config, context) -> ArtifactStore`` (the profile's ``cache:`` surface)
CacheFactory = Callable[[Mapping[str, Any], "BackendContext"], "ArtifactStore"]
#: ``factory(config, context) -> LogStore``
LogFactory = Callable[[Mapping[str, Any], "BackendContext"], "LogStore"]
#: ``factory(config, context) -> Executor``
ExecutorFactory = Callable[[Mapping[str, Any], "ExecutorContext"], "Executor"]
#: ``factory(config, context) -> TriggerSource``
TriggerFactory = Callable[[Mapping[str, Any], "TriggerContext"], "TriggerSource"]


class BackendContext(Slotted):
    """What a factory may need besides its config block: ``$SPARKWING_HOME`` and the profile."""

    __slots__ = ("home", "profile")

    def __init__(self, home: Path, profile: str = "laptop") -> None:
        self.home = home
        self.profile = profile


class Backend(Slotted):
    """One registered backend type: its kind and name, factory, provider and keys."""

    __slots__ = ("description", "factory", "kind", "optional", "provider", "required",
                 "type_name")

    def __init__(self, kind: str, type_name: str, factory: Factory, provider: str,
                 required: tuple[str, ...] = (), optional: tuple[str, ...] = (),
                 description: str = "") -> None:
        self.kind = kind
        self.type_name = type_name
        self.factory = factory
        self.provider = provider
        self.required = required
        self.optional = optional
        self.description = description


class Registry(Slotted):
    """Factories by ``(kind, type_name)``, filled through the ``sparkwing_register_*`` hooks.

    ``current_provider`` names the plugin whose registration hook is running
    (the plugin manager sets it), so each type records who provided it.
    """

    __slots__ = ("backends", "current_provider")

    def __init__(self) -> None:
        self.backends: dict[tuple[str, str], Backend] = {}
        self.current_provider = ""

    # -- typed registration ---------------------------------------------------
    def add_state_store(
        self, type_name: str, factory: StateFactory, *, required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (), description: str = "",
    ) -> None:
        """Provide ``state: {type: TYPE_NAME, ...}``: runs, nodes, events, coordination."""
        self._add("state", type_name, factory, required, optional, description)

    def add_cache_store(
        self, type_name: str, factory: CacheFactory, *, required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (), description: str = "",
    ) -> None:
        """Provide ``cache: {type: TYPE_NAME, ...}``: artifacts and memoized outputs."""
        self._add("cache", type_name, factory, required, optional, description)

    def add_log_store(
        self, type_name: str, factory: LogFactory, *, required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (), description: str = "",
    ) -> None:
        """Provide ``logs: {type: TYPE_NAME, ...}``: per-node log records."""
        self._add("logs", type_name, factory, required, optional, description)

    def add_executor(
        self, type_name: str, factory: ExecutorFactory, *, required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (), description: str = "",
    ) -> None:
        """Provide ``executor: {type: TYPE_NAME, ...}``: where attempts of jobs run."""
        self._add("executor", type_name, factory, required, optional, description)

    def add_trigger_source(
        self, name: str, factory: TriggerFactory, *, required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (), description: str = "",
    ) -> None:
        """Provide a trigger source named *name* (it becomes the runs' ``trigger.source``)."""
        self._add("trigger", name, factory, required, optional, description)

    def _add(
        self, kind: str, type_name: str, factory: Factory, required: tuple[str, ...],
        optional: tuple[str, ...], description: str,
    ) -> None:
        """Record *factory* for ``(kind, type_name)`` on behalf of :attr:`current_provider`.

        Raises :class:`PluginError` when another plugin already registered
        that type of that kind (the same plugin may replace its own entry).
        """
        existing = self.backends.get((kind, type_name))
        if existing is not None and existing.provider != self.current_provider:
            raise PluginError(
                f"{kind} type {type_name!r} is provided by both {existing.provider!r} "
                f"and {self.current_provider!r}; disable one with SPARKWING_DISABLE_PLUGINS"
            )
        self.backends[(kind, type_name)] = Backend(
            kind, type_name, factory, self.current_provider, tuple(required), tuple(optional),
            description,
        )

    def provided_by(self, provider: str) -> dict[str, list[str]]:
        """The type names *provider* registered, by kind (every kind present, lists sorted)."""
        out: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for (kind, type_name), backend in sorted(self.backends.items()):
            if backend.provider == provider:
                out[kind].append(type_name)
        return out

    def types(self, kind: str) -> list[str]:
        """Return the installed type names of *kind*, sorted."""
        return sorted(t for (k, t) in self.backends if k == kind)

    def get(self, kind: str, type_name: str) -> Backend:
        """Return a registered backend or raise a one-line :class:`PluginError`."""
        backend = self.backends.get((kind, type_name))
        if backend is not None:
            return backend
        installed = ", ".join(self.types(kind)) or "none"
        msg = f'no plugin provides {kind} type "{type_name}"; installed: {installed}'
        dist = FIRST_PARTY.get(type_name)
        if dist:
            msg += f"; install {dist}"
        raise PluginError(msg)

    def validate(self, kind: str, config: Mapping[str, Any], where: str) -> Backend:
        """Check a profile surface block against its backend; *where* prefixes errors."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"{where}: expected a mapping with a type key, got {config!r}")
        type_name = config.get("type")
        if not type_name:
            raise ConfigError(f"{where}: type is required")
        try:
            backend = self.get(kind, str(type_name))
        except PluginError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        for key in backend.required:
            if config.get(key) in (None, ""):
                raise ConfigError(f"{where}: type={type_name} requires {key}")
        allowed = {"type", *backend.required, *backend.optional}
        for key in config:
            if key not in allowed:
                raise ConfigError(
                    f"{where}: unknown key {key!r} for type={type_name}; "
                    f"valid keys: {', '.join(sorted(allowed))}"
                )
        return backend

    @overload
    def create(self, kind: Literal["state"], config: Mapping[str, Any],
               context: BackendContext, where: str = "") -> StateStore: ...

    @overload
    def create(self, kind: Literal["logs"], config: Mapping[str, Any],
               context: BackendContext, where: str = "") -> LogStore: ...

    @overload
    def create(self, kind: Literal["cache"], config: Mapping[str, Any],
               context: BackendContext, where: str = "") -> ArtifactStore: ...

    @overload
    def create(self, kind: Literal["executor"], config: Mapping[str, Any],
               context: ExecutorContext, where: str = "") -> Executor: ...

    @overload
    def create(self, kind: Literal["trigger"], config: Mapping[str, Any],
               context: TriggerContext, where: str = "") -> TriggerSource: ...

    @overload
    def create(self, kind: str, config: Mapping[str, Any],
               context: BackendContext | ExecutorContext | TriggerContext,
               where: str = "") -> object: ...

    def create(
        self, kind: str, config: Mapping[str, Any],
        context: BackendContext | ExecutorContext | TriggerContext, where: str = "",
    ) -> object:
        """Validate *config* and call its factory with *config* and *context*.

        The context is the one of the kind: :class:`BackendContext` for the
        stores, :class:`~sparkwing.execution.contracts.ExecutorContext` for
        an executor, :class:`~sparkwing.triggers.contracts.TriggerContext`
        for a trigger source. The result is checked against the kind's
        contract: a factory that returns something else is a one-line
        :class:`PluginError` naming the plugin.
        """
        backend = self.validate(kind, config, where or f"{kind}")
        return _checked(backend, backend.factory(config, context))

    def build_executor(self, name: str, config: Mapping[str, Any],
                       context: ExecutorContext) -> Executor:
        """Build executor *name* from *config* as given (checked against the contract only).

        Unlike :meth:`create`, the block is not validated against the keys the
        executor declared: a run validates the profile's block once, before it starts.
        """
        from ..execution.contracts import Executor

        backend = self.get("executor", name)
        made = backend.factory(config, context)
        if not isinstance(made, Executor):
            raise _refused(backend, made, "Executor")
        return made

    def build_trigger_source(self, name: str, config: Mapping[str, Any],
                             context: TriggerContext) -> TriggerSource:
        """Build trigger source *name* from *config* as given (checked against the contract)."""
        from ..triggers.contracts import TriggerSource

        backend = self.get("trigger", name)
        made = backend.factory(config, context)
        if not isinstance(made, TriggerSource):
            raise _refused(backend, made, "TriggerSource")
        return made


def _checked(backend: Backend, made: object) -> object:
    """*made*, when it implements the contract of *backend*'s kind; else a one-line PluginError."""
    contract = _contract_missed(backend.kind, made)
    if contract:
        raise _refused(backend, made, contract)
    return made


def _refused(backend: Backend, made: object, contract: str) -> PluginError:
    """The one-line error for a factory whose result does not implement *contract*."""
    return PluginError(
        f'{backend.kind} type "{backend.type_name}" of plugin {backend.provider!r} built '
        f"a {type(made).__name__}, which does not implement {contract}"
    )


def _contract_missed(kind: str, made: object) -> str:
    """The name of the contract *made* should implement for *kind* and does not, or ``""``."""
    if kind == "state":
        from ..storage.contracts import StateStore

        return "" if isinstance(made, StateStore) else "StateStore"
    if kind == "logs":
        from ..storage.contracts import LogStore

        return "" if isinstance(made, LogStore) else "LogStore"
    if kind == "cache":
        from ..storage.contracts import ArtifactStore

        return "" if isinstance(made, ArtifactStore) else "ArtifactStore"
    if kind == "executor":
        from ..execution.contracts import Executor

        return "" if isinstance(made, Executor) else "Executor"
    if kind == "trigger":
        from ..triggers.contracts import TriggerSource

        return "" if isinstance(made, TriggerSource) else "TriggerSource"
    return ""

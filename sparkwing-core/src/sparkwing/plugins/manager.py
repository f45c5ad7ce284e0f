"""Loading plugins and calling their hooks through typed wrappers."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, MutableMapping
from types import FunctionType, MethodType, ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from ..errors import PluginError
from ..execution.contracts import CONTRACT_VERSION
from ..slotted import Slotted
from . import CONTRACT_ATTRIBUTE, ENTRY_POINT_GROUP, PROJECT, hookspecs
from .entrypoints import EntryPoint
from .registry import KINDS, Registry

if TYPE_CHECKING:
    import click
    from aiohttp import web

    from ..storage.records import Node, Run
    from .context import ServerContext

#: Modules of sparkwing-core registered as plugins before any entry point.
INTERNAL_PLUGINS = (
    "sparkwing.storage.builtin",
    "sparkwing.execution.builtin_executors",
    "sparkwing.triggers.builtin_sources",
)

#: The registration hooks, each called with the one :class:`Registry`.
REGISTRATION_HOOKS = (
    "sparkwing_register_backends",
    "sparkwing_register_executors",
    "sparkwing_register_triggers",
)

#: The observer hooks (run and node started/finished).
OBSERVER_HOOKS = (
    "sparkwing_run_started",
    "sparkwing_run_finished",
    "sparkwing_node_started",
    "sparkwing_node_finished",
)


class PluginInfo(Slotted):
    """What ``sparkwing plugins`` reports about one plugin.

    Besides where it comes from (name, distribution, version, module, whether
    it is part of sparkwing-core): the hooks it implements, what it provides,
    its load error or whether it was blocked, the plugin contract version it
    declares (``SPARKWING_CONTRACT``; ``None``: undeclared) and the type
    names it registered by kind (``state``, ``cache``, ``logs``,
    ``executor``, ``trigger``).
    """

    __slots__ = (
        "blocked",
        "contract",
        "distribution",
        "error",
        "hooks",
        "internal",
        "module",
        "name",
        "provides",
        "registers",
        "version",
    )

    def __init__(self, name: str, distribution: str, version: str, module: str,
                 internal: bool = False, *, contract: int | None = None) -> None:
        self.name = name
        self.distribution = distribution
        self.version = version
        self.module = module
        self.internal = internal
        self.hooks: list[str] = []
        self.provides: list[str] = []
        self.error = ""
        self.blocked = False
        self.contract = contract
        self.registers: dict[str, list[str]] = {k: [] for k in KINDS}

    @property
    def adds_commands(self) -> bool:
        """True when it implements ``sparkwing_add_cli_commands``."""
        return "sparkwing_add_cli_commands" in self.hooks

    @property
    def adds_routes(self) -> bool:
        """True when it implements ``sparkwing_add_server_routes``."""
        return "sparkwing_add_server_routes" in self.hooks

    @property
    def observes(self) -> list[str]:
        """The observer hooks it implements."""
        return [h for h in self.hooks if h in OBSERVER_HOOKS]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "internal": self.internal,
            "contract": self.contract,
            "hooks": self.hooks,
            "provides": self.provides,
            "registers": {kind: list(types) for kind, types in self.registers.items()},
            "commands": self.adds_commands,
            "routes": self.adds_routes,
            "observers": self.observes,
            "error": self.error,
            "blocked": self.blocked,
        }

    def describe(self) -> str:
        """Return ``"name" (distribution version)`` for messages."""
        origin = f"{self.distribution} {self.version}".strip() or self.module
        return f'"{self.name}" ({origin})'


def _disabled() -> set[str]:
    raw = os.environ.get("SPARKWING_DISABLE_PLUGINS", "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def _strict() -> bool:
    return os.environ.get("SPARKWING_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def one_line(exc: BaseException) -> str:
    """Return ``Type: message`` for *exc*, folded onto one line."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ModulePluginManager(pluggy.PluginManager):
    """pluggy's manager, finding the hook implementations of a module plugin in its namespace.

    pluggy looks at every name in ``dir(plugin)`` with
    :func:`inspect.getattr_static`, so that a class or instance plugin's
    properties are never run; that costs about 20 us a name here, and the
    ten plugins of a development install have 190 names (4 ms of every
    ``sparkwing run``). For a module the static lookup finds what the module's
    ``__dict__`` holds, so a name whose value there is not a function cannot
    be an implementation, and a function's options are on the function. Other
    values (``staticmethod`` or ``classmethod`` objects, bound methods) and
    other kinds of plugin go through pluggy as usual.
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """The options of *plugin*'s hook implementation *name*, or ``None`` when it is none."""
        if isinstance(plugin, ModuleType):
            value = plugin.__dict__.get(name)
            if isinstance(value, FunctionType):
                opts = getattr(value, PROJECT + "_impl", None)
                return opts if isinstance(opts, dict) else None  # type: ignore[return-value]
            if not isinstance(value, staticmethod | classmethod | MethodType):
                return None
        return super().parse_hookimpl_opts(plugin, name)


class PluginHost:
    """A pluggy manager plus what sparkwing learned while loading plugins."""

    def __init__(self) -> None:
        self.pm = ModulePluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self._registry: Registry | None = None

    # -- loading -----------------------------------------------------------
    def load(self, *, entry_points: bool = True, extra: tuple[ModuleType, ...] = ()) -> PluginHost:
        """Register internal plugins, then *extra* modules, then each ``sparkwing`` entry point.

        A plugin that fails to import or to register (a hook with arguments
        its specification does not have, an unknown ``sparkwing_*`` hook) is
        recorded with its error and skipped; with ``SPARKWING_STRICT_PLUGINS=1``
        the failure raises :class:`PluginError` instead. Names listed in
        ``SPARKWING_DISABLE_PLUGINS`` (comma-separated) are blocked before
        they are imported. Internal plugins cannot be disabled.
        """
        disabled = _disabled()
        for modname in INTERNAL_PLUGINS:
            module = importlib.import_module(modname)
            name = modname.rsplit(".", 1)[-1]
            info = PluginInfo(name, "sparkwing-core", _version("sparkwing-core"), modname, True,
                              contract=CONTRACT_VERSION)
            self._register(module, info)
        for module in extra:
            info = PluginInfo(module.__name__, "", "", module.__name__)
            self._load_one(info, _returning(module), disabled)
        if not entry_points:
            return self
        for ep in _entry_points():
            if ep.name in self.infos:
                continue
            self._load_one(PluginInfo(ep.name, ep.dist, ep.version, ep.value), ep.load, disabled)
        return self

    def _load_one(
        self, info: PluginInfo, load: Callable[[], object], disabled: set[str],
    ) -> None:
        if info.name in disabled:
            self.pm.set_blocked(info.name)
            info.blocked = True
            self.infos[info.name] = info
            return
        try:
            module = load()
            self._register(module, info)
        except (Exception, SystemExit) as exc:  # a broken plugin must not take sparkwing down
            self._failed(info, one_line(exc), exc, "failed to load")

    def _register(self, module: object, info: PluginInfo) -> None:
        self.infos[info.name] = info
        if not info.internal:
            info.contract = _declared_contract(module, info)
        self.pm.register(module, name=info.name)
        callers = self.pm.get_hookcallers(module) or []
        own = [(c, i) for c in callers for i in c.get_hookimpls() if i.plugin is module]
        unknown = sorted(c.name for c, i in own if not c.has_spec() and not i.optionalhook)
        wrappers = sorted(c.name for c, i in own if c.has_spec() and (i.wrapper or i.hookwrapper))
        if unknown or wrappers:
            self.pm.unregister(module)
            if unknown:
                raise PluginError(
                    f"implements unknown hook {', '.join(unknown)} "
                    "(mark it @hookimpl(optionalhook=True) if that is intended)"
                )
            raise PluginError(f"sparkwing hooks cannot be wrappers: {', '.join(wrappers)}")
        info.hooks = sorted(c.name for c in callers if c.has_spec())

    def _failed(self, info: PluginInfo, message: str, exc: BaseException, what: str) -> None:
        """Record that a plugin failed; raise in strict mode."""
        if isinstance(exc, PluginError):
            message = str(exc)
        info.error = message
        self.infos[info.name] = info
        if _strict():
            raise PluginError(f"plugin {info.describe()} {what}: {message}") from exc

    @property
    def failures(self) -> list[PluginInfo]:
        """Plugins that failed to load."""
        return [i for i in self.infos.values() if i.error]

    def warning_lines(self) -> list[str]:
        """One warning line per plugin that failed to load."""
        return [
            f"warning: plugin {i.describe()} failed to load and was skipped: {i.error}"
            for i in self.failures
        ]

    # -- typed hook wrappers -----------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The registry, filled on first use by the ``sparkwing_register_*`` hooks.

        Raises :class:`PluginError` when a plugin's registration fails (two
        plugins claiming one type, an unknown kind, an exception).
        """
        if self._registry is None:
            registry, errors = self._fill_registry()
            if errors:
                raise errors[0]
            self._registry = registry
        return self._registry

    def _fill_registry(self) -> tuple[Registry, list[PluginError]]:
        """Call every registration hook, in registration order, collecting errors."""
        registry = Registry()
        errors: list[PluginError] = []
        for hook_name in REGISTRATION_HOOKS:
            caller = getattr(self.pm.hook, hook_name)
            for impl in _in_order(caller.get_hookimpls()):
                self._register_one(registry, impl, errors)
        for info in self.infos.values():
            info.provides = sorted(
                f"{b.kind}:{b.type_name}"
                for b in registry.backends.values()
                if b.provider == info.name
            )
            info.registers = registry.provided_by(info.name)
        registry.current_provider = ""
        return registry, errors

    def _register_one(self, registry: Registry, impl: pluggy.HookImpl,
                      errors: list[PluginError]) -> None:
        registry.current_provider = impl.plugin_name
        info = self.infos.get(impl.plugin_name)
        try:
            impl.function(**{a: registry for a in impl.argnames if a == "registry"})
        except PluginError as exc:
            errors.append(exc)
            if info is not None and not info.error:
                info.error = str(exc)
        except Exception as exc:
            err = PluginError(
                f'plugin "{impl.plugin_name}" failed to register: {one_line(exc)}'
            )
            errors.append(err)
            if info is not None and not info.error:
                info.error = str(err)

    def _call_each(self, hook_name: str, what: str, **kwargs: object) -> None:
        """Call every implementation of *hook_name*, in registration order.

        Implementations get only the arguments they declare. One that raises
        costs one ``warning:`` line on stderr and the others are still called;
        with ``SPARKWING_STRICT_PLUGINS=1`` it raises :class:`PluginError` instead.
        """
        caller = getattr(self.pm.hook, hook_name)
        for impl in _in_order(caller.get_hookimpls()):
            self._call_one(impl, what, kwargs)

    def _call_one(self, impl: pluggy.HookImpl, what: str, kwargs: dict[str, object]) -> None:
        try:
            impl.function(**{a: kwargs[a] for a in impl.argnames if a in kwargs})
        except Exception as exc:
            self._call_failed(impl, what, exc)

    def _call_failed(self, impl: pluggy.HookImpl, what: str, exc: Exception) -> None:
        """Record and warn about a hook implementation that failed (raise in strict mode)."""
        info = self.infos.get(impl.plugin_name) or PluginInfo(
            impl.plugin_name, "", "", getattr(impl.plugin, "__name__", "")
        )
        self._failed(info, one_line(exc), exc, what)
        print(f"warning: plugin {info.describe()} {what}: {info.error}", file=sys.stderr)

    def implements(self, hook_name: str) -> bool:
        """Whether any loaded plugin implements *hook_name* (callers skip work for nobody)."""
        caller = getattr(self.pm.hook, hook_name, None)
        return bool(caller is not None and caller.get_hookimpls())

    def add_cli_commands(self, cli: click.Group) -> None:
        """Let plugins add commands to the root click group.

        A plugin cannot replace a command that already exists (a built-in one,
        lazy or not, or one another plugin added first): the replacement is
        undone and reported like any other plugin failure.
        """
        commands: MutableMapping[str, click.Command] = cli.commands
        lazy = set(getattr(cli, "lazy", ()))
        for impl in _in_order(self.pm.hook.sparkwing_add_cli_commands.get_hookimpls()):
            before = dict(commands)
            self._call_one(impl, "failed to add its commands", {"cli": cli})
            taken = sorted(
                name for name, cmd in commands.items()
                if (name in before or name in lazy) and before.get(name) is not cmd
            )
            for name in taken:
                if name in before:
                    commands[name] = before[name]
                else:
                    del commands[name]
            if taken:
                self._call_failed(
                    impl, "tried to add commands that already exist",
                    PluginError(f"{', '.join(taken)} (the existing ones were kept)"),
                )

    def add_server_routes(self, app: web.Application, context: ServerContext) -> None:
        """Let plugins add routes to a server application.

        *context* is the server as plugins see it
        (:class:`~sparkwing.plugins.context.ServerContext`).
        """
        self._call_each(
            "sparkwing_add_server_routes", "failed to add its routes", app=app, context=context
        )

    def run_started(self, run: Run) -> None:
        """Tell observers a run started."""
        self._call_each("sparkwing_run_started", "failed in sparkwing_run_started", run=run)

    def run_finished(self, run: Run) -> None:
        """Tell observers a run finished."""
        self._call_each("sparkwing_run_finished", "failed in sparkwing_run_finished", run=run)

    def node_started(self, run: Run, node: Node) -> None:
        """Tell observers a node started (a failing observer costs a warning, never the run)."""
        self._call_each("sparkwing_node_started", "failed in sparkwing_node_started",
                        run=run, node=node)

    def node_finished(self, run: Run, node: Node) -> None:
        """Tell observers a node reached its outcome."""
        self._call_each("sparkwing_node_finished", "failed in sparkwing_node_finished",
                        run=run, node=node)

    def plugin_infos(self) -> list[PluginInfo]:
        """Every known plugin, internal ones first, then by name (fills ``provides``).

        Never raises for a registration conflict: the error is shown on the
        plugin that caused it, so ``sparkwing plugins`` works when it is most needed.
        """
        if self._registry is None:
            registry, errors = self._fill_registry()
            if not errors:
                self._registry = registry
        return sorted(self.infos.values(), key=lambda i: (not i.internal, i.name))


def _in_order(impls: list[pluggy.HookImpl]) -> list[pluggy.HookImpl]:
    """Implementations in registration order (built-ins first), ``tryfirst``/``trylast`` honoured.

    pluggy itself calls the most recently registered plugin first; sparkwing
    wants the built-ins to claim their backend types before any third party.
    """
    return sorted(impls, key=lambda i: 0 if i.tryfirst else 2 if i.trylast else 1)


def _declared_contract(module: object, info: PluginInfo) -> int | None:
    """The contract version *module* declares, or ``None``; raise if core cannot honour it.

    A plugin built for a newer contract than this sparkwing-core provides is
    refused with one line naming both versions.
    """
    declared = getattr(module, CONTRACT_ATTRIBUTE, None)
    if declared is None:
        return None
    if isinstance(declared, bool) or not isinstance(declared, int) or declared < 1:
        raise PluginError(f"{CONTRACT_ATTRIBUTE} must be a positive integer, got {declared!r}")
    if declared > CONTRACT_VERSION:
        other = info.distribution or "the plugin"
        raise PluginError(
            f"built for sparkwing plugin contract {declared}, but this sparkwing-core "
            f"({_version('sparkwing-core')}) provides contract {CONTRACT_VERSION}; "
            f"upgrade sparkwing-core or install a release of {other} built for contract "
            f"{CONTRACT_VERSION}"
        )
    return declared


def _returning(module: ModuleType) -> Callable[[], object]:
    """A loader that hands back an already imported module."""
    return lambda: module


def _entry_points() -> list[EntryPoint]:
    from ..paths import sparkwing_home
    from .epcache import cached_entry_points

    found = cached_entry_points(ENTRY_POINT_GROUP, sparkwing_home())
    return sorted(found, key=lambda e: e.name)


def _version(dist: str) -> str:
    from .. import __version__

    return __version__ if dist == "sparkwing-core" else ""


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """Return the process-wide plugin host, loading plugins on first use.

    Prints one ``warning:`` line on stderr per plugin that failed to load.
    """
    global _HOST
    if _HOST is None:
        host = PluginHost()
        host.load()
        _HOST = host
        for line in host.warning_lines():
            print(line, file=sys.stderr)
    return _HOST


def reset_host() -> None:
    """Forget the process-wide host (tests)."""
    global _HOST
    _HOST = None

"""Loading plugins and calling their hooks through typed wrappers."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from ..errors import PluginError
from . import ENTRY_POINT_GROUP, PROJECT, hookspecs
from .registry import BackendRegistry

#: Modules of sparkwing-core registered as plugins before any entry point.
INTERNAL_PLUGINS = ("sparkwing.storage.builtin",)


@dataclass(slots=True)
class PluginInfo:
    """What ``sparkwing plugins`` reports about one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    internal: bool = False
    hooks: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    error: str = ""
    blocked: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "internal": self.internal,
            "hooks": self.hooks,
            "provides": self.provides,
            "error": self.error,
            "blocked": self.blocked,
        }


def _disabled() -> set[str]:
    raw = os.environ.get("SPARKWING_DISABLE_PLUGINS", "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def _strict() -> bool:
    return os.environ.get("SPARKWING_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


class PluginHost:
    """A pluggy manager plus what sparkwing learned while loading plugins."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self._registry: BackendRegistry | None = None

    # -- loading -----------------------------------------------------------
    def load(self, *, entry_points: bool = True, extra: tuple[ModuleType, ...] = ()) -> PluginHost:
        """Register internal plugins, then each entry point of group ``sparkwing``.

        A plugin that fails to import is recorded with its error and skipped;
        with ``SPARKWING_STRICT_PLUGINS=1`` the failure raises :class:`PluginError`.
        Names in ``SPARKWING_DISABLE_PLUGINS`` are blocked.
        """
        disabled = _disabled()
        for modname in INTERNAL_PLUGINS:
            module = importlib.import_module(modname)
            name = modname.rsplit(".", 1)[-1]
            self._register(module, name, "sparkwing-core", _version("sparkwing-core"), internal=True)
        for module in extra:
            self._register(module, module.__name__, "", "", internal=True)
        if not entry_points:
            return self
        for ep in _entry_points():
            dist = ep.dist.name if ep.dist is not None else ""
            version = ep.dist.version if ep.dist is not None else ""
            if ep.name in self.infos:
                continue
            if ep.name in disabled:
                self.pm.set_blocked(ep.name)
                self.infos[ep.name] = PluginInfo(ep.name, dist, version, ep.value, blocked=True)
                continue
            try:
                module = ep.load()
                self._register(module, ep.name, dist, version)
            except Exception as exc:  # a broken plugin must not take sparkwing down
                message = f"{type(exc).__name__}: {exc}".strip()
                self.infos[ep.name] = PluginInfo(ep.name, dist, version, ep.value, error=message)
                if _strict():
                    raise PluginError(
                        f'plugin "{ep.name}" ({dist} {version}) failed to load: {message}'
                    ) from exc
        return self

    def _register(self, module: Any, name: str, dist: str, version: str, internal: bool = False) -> None:
        self.pm.register(module, name=name)
        hooks = sorted(c.name for c in (self.pm.get_hookcallers(module) or []))
        self.infos[name] = PluginInfo(
            name, dist, version, getattr(module, "__name__", str(module)), internal, hooks
        )

    @property
    def failures(self) -> list[PluginInfo]:
        """Plugins that failed to load."""
        return [i for i in self.infos.values() if i.error]

    def warning_lines(self) -> list[str]:
        """One warning line per plugin that failed to load."""
        return [
            f'warning: plugin "{i.name}" ({i.distribution} {i.version}) failed to load and was '
            f"skipped: {i.error}"
            for i in self.failures
        ]

    # -- typed hook wrappers -----------------------------------------------------
    @property
    def registry(self) -> BackendRegistry:
        """The backend registry, filled on first use by ``sparkwing_register_backends``."""
        if self._registry is None:
            registry = BackendRegistry()
            for impl in reversed(self.pm.hook.sparkwing_register_backends.get_hookimpls()):
                registry.current_provider = impl.plugin_name
                impl.function(registry=registry)
                info = self.infos.get(impl.plugin_name)
                if info is not None:
                    info.provides = sorted(
                        f"{b.kind}:{b.type_name}"
                        for b in registry.backends.values()
                        if b.provider == impl.plugin_name
                    )
            registry.current_provider = ""
            self._registry = registry
        return self._registry

    def add_cli_commands(self, cli: Any) -> None:
        """Let plugins add commands to the root click group."""
        self.pm.hook.sparkwing_add_cli_commands(cli=cli)

    def add_server_routes(self, app: Any, context: Any) -> None:
        """Let plugins add routes to a server application."""
        self.pm.hook.sparkwing_add_server_routes(app=app, context=context)

    def run_started(self, run: Any) -> None:
        """Tell observers a run started."""
        self.pm.hook.sparkwing_run_started(run=run)

    def run_finished(self, run: Any) -> None:
        """Tell observers a run finished."""
        self.pm.hook.sparkwing_run_finished(run=run)

    def plugin_infos(self) -> list[PluginInfo]:
        """Every known plugin, internal ones first, then by name (fills ``provides``)."""
        _ = self.registry
        return sorted(self.infos.values(), key=lambda i: (not i.internal, i.name))


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """Return the process-wide plugin host, loading plugins on first use."""
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

"""PluginHost in-process: registering plugin modules, failure handling, switches.

Plugin modules are built in the test and passed as ``extra``; entry-point
behaviour is exercised with real ``*.dist-info`` metadata written to a
temporary directory on ``sys.path`` (the ``site`` fixture of conftest.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import click
import pytest
import sparkwing
from sparkwing.errors import PluginError
from sparkwing.plugins.manager import PluginHost, get_host, one_line
from sparkwing.plugins.registry import Registry


def plugin_module(name: str, **hooks: Callable[..., Any]) -> ModuleType:
    """A module object whose attributes are the given hook implementations."""
    module = ModuleType(name)
    for hook_name, fn in hooks.items():
        fn.__name__ = hook_name
        setattr(module, hook_name, sparkwing.hookimpl(fn))
    return module


def registers(kind: str, type_name: str, **kwargs: Any) -> Callable[[Registry], None]:
    """A ``sparkwing_register_backends`` implementation registering one store type."""

    def hook(registry: Registry) -> None:
        method = {"state": registry.add_state_store, "cache": registry.add_cache_store,
                  "logs": registry.add_log_store}[kind]
        method(type_name, lambda config, context: ("store", type_name), **kwargs)

    return hook


def load(*modules: ModuleType) -> PluginHost:
    return PluginHost().load(entry_points=False, extra=modules)


# -- registering modules directly ------------------------------------------------


def test_extra_module_is_registered_after_the_builtin_plugin() -> None:
    mod = plugin_module("acme_logs", sparkwing_register_backends=registers(
        "logs", "acme", required=("url",)))
    host = load(mod)
    infos = host.plugin_infos()
    assert [i.name for i in infos] == ["builtin", "builtin_executors", "builtin_sources",
                                       "acme_logs"]
    builtin, executors, sources, acme = infos
    assert sources.internal and sources.provides == [
        "trigger:ci-embedded", "trigger:git-hook", "trigger:manual", "trigger:retry",
        "trigger:schedule"]
    assert builtin.internal and builtin.distribution == "sparkwing-core"
    assert builtin.provides == [
        "cache:controller", "cache:dir", "cache:filesystem", "logs:controller", "logs:dir", "logs:filesystem",
        "state:controller", "state:dir",
    ]
    assert executors.internal and executors.provides == ["executor:local", "executor:process",
                                                        "executor:queue"]
    assert acme.hooks == ["sparkwing_register_backends"]
    assert acme.provides == ["logs:acme"]
    assert not acme.internal and not acme.error
    backend = host.registry.get("logs", "acme")
    assert backend.provider == "acme_logs" and backend.required == ("url",)


def test_without_entry_points_only_internal_and_extra_plugins_exist() -> None:
    host = load()
    assert list(host.infos) == ["builtin", "builtin_executors", "builtin_sources"]
    assert host.registry.types("state") == ["controller", "dir"]


def test_a_register_hook_may_omit_the_registry_argument() -> None:
    calls: list[str] = []
    mod = plugin_module("quiet", sparkwing_register_backends=lambda: calls.append("called"))
    host = load(mod)
    assert host.registry.types("logs") == ["controller", "dir", "filesystem"]
    assert calls == ["called"]


def test_conflict_with_a_builtin_type_is_an_error_naming_both_plugins() -> None:
    mod = plugin_module("shadow", sparkwing_register_backends=registers("logs", "filesystem"))
    host = load(mod)
    with pytest.raises(PluginError) as info:
        _ = host.registry
    assert "'builtin'" in str(info.value) and "'shadow'" in str(info.value)
    # the listing still works and blames the plugin that came second
    by_name = {i.name: i for i in host.plugin_infos()}
    assert by_name["shadow"].error == str(info.value)
    assert by_name["builtin"].error == ""
    with pytest.raises(PluginError):  # not cached as if it had succeeded
        _ = host.registry


def test_conflict_between_two_third_party_plugins() -> None:
    first = plugin_module("first", sparkwing_register_backends=registers("state", "redis"))
    second = plugin_module("second", sparkwing_register_backends=registers("state", "redis"))
    with pytest.raises(PluginError, match="provided by both 'first' and 'second'"):
        _ = load(first, second).registry


def test_an_exception_in_a_register_hook_becomes_a_one_line_plugin_error() -> None:
    def explode(registry: Registry) -> None:
        raise RuntimeError("no credentials\nat all")

    host = load(plugin_module("explodes", sparkwing_register_backends=explode))
    with pytest.raises(PluginError) as info:
        _ = host.registry
    assert str(info.value) == (
        'plugin "explodes" failed to register: RuntimeError: no credentials at all'
    )


def test_a_hook_with_arguments_the_spec_lacks_is_skipped_with_a_warning() -> None:
    def bad(registry: Registry, region: str) -> None:
        raise AssertionError("must never be called")

    host = load(plugin_module("badsig", sparkwing_register_backends=bad))
    info = host.infos["badsig"]
    assert "PluginValidationError" in info.error and "region" in info.error
    assert "\n" not in info.error
    assert host.warning_lines() == [
        f'warning: plugin "badsig" (badsig) failed to load and was skipped: {info.error}'
    ]
    assert host.registry.types("logs") == ["controller", "dir", "filesystem"]


def test_a_misspelled_hook_is_reported_not_silently_ignored() -> None:
    mod = plugin_module("typo", sparkwing_register_backend=registers("logs", "typo"))
    host = load(mod)
    assert host.infos["typo"].error.startswith(
        "implements unknown hook sparkwing_register_backend"
    )
    assert host.pm.get_plugin("typo") is None


def test_an_optional_unknown_hook_is_accepted() -> None:
    module = ModuleType("future")

    def sparkwing_some_future_hook() -> None:
        """A hook a newer sparkwing may define."""

    module.sparkwing_some_future_hook = sparkwing.hookimpl(optionalhook=True)(  # type: ignore[attr-defined]
        sparkwing_some_future_hook
    )
    host = load(module)
    assert host.infos["future"].error == ""
    assert host.pm.get_plugin("future") is module


def test_strict_mode_raises_for_a_plugin_that_fails_to_register(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPARKWING_STRICT_PLUGINS", "1")
    mod = plugin_module("typo2", sparkwing_run_finshed=lambda run: None)
    with pytest.raises(PluginError) as info:
        load(mod)
    assert str(info.value) == (
        'plugin "typo2" (typo2) failed to load: implements unknown hook sparkwing_run_finshed '
        "(mark it @hookimpl(optionalhook=True) if that is intended)"
    )
    assert info.value.exit_code == 2


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_strict_mode_is_off_for_false_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SPARKWING_STRICT_PLUGINS", value)
    host = load(plugin_module("typo3", sparkwing_run_finshed=lambda run: None))
    assert host.infos["typo3"].error


def test_disabled_extra_plugin_is_blocked_and_never_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPARKWING_DISABLE_PLUGINS", " other , acme_off ")
    mod = plugin_module("acme_off", sparkwing_register_backends=registers("logs", "acme"))
    host = load(mod)
    info = host.infos["acme_off"]
    assert info.blocked and not info.error and info.hooks == []
    assert host.pm.is_blocked("acme_off")
    assert host.registry.types("logs") == ["controller", "dir", "filesystem"]
    assert host.warning_lines() == []


def test_internal_plugins_cannot_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKWING_DISABLE_PLUGINS", "builtin")
    host = load()
    assert not host.infos["builtin"].blocked
    assert host.registry.types("cache") == ["controller", "dir", "filesystem"]


# -- notification hooks ------------------------------------------------------------


def test_hooks_receive_only_the_arguments_they_declare() -> None:
    seen: list[tuple[str, Any]] = []
    first = plugin_module("obs1", sparkwing_run_started=lambda run: seen.append(("obs1", run)))
    second = plugin_module("obs2", sparkwing_run_finished=lambda: seen.append(("obs2", None)))
    host = load(first, second)
    host.run_started("RUN")
    host.run_finished("RUN")
    assert seen == [("obs1", "RUN"), ("obs2", None)]


def test_node_observers_get_the_run_and_the_node_and_cannot_fail_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sparkwing.storage.records import Node, Run

    seen: list[tuple[str, str, str]] = []

    def broken(run: Run, node: Node) -> None:
        raise RuntimeError("status API down")

    host = load(
        plugin_module("nodes_broken", sparkwing_node_started=broken),
        plugin_module("nodes_seen",
                      sparkwing_node_started=lambda node: seen.append(("start", "", node.node_id)),
                      sparkwing_node_finished=lambda run, node: seen.append(
                          ("finish", run.id, node.outcome))),
    )
    run = Run(id="run-1", pipeline="p")
    node = Node("run-1", "build", outcome="success")
    host.node_started(run, node)
    host.node_finished(run, node)
    assert seen == [("start", "", "build"), ("finish", "run-1", "success")]
    assert capsys.readouterr().err.splitlines() == [
        'warning: plugin "nodes_broken" (nodes_broken) failed in sparkwing_node_started: '
        "RuntimeError: status API down"
    ]


def test_a_failing_cli_hook_warns_once_and_others_still_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    added: list[str] = []

    def broken(cli: Any) -> None:
        raise KeyError("click")

    host = load(
        plugin_module("clibroken", sparkwing_add_cli_commands=broken),
        plugin_module("cliok", sparkwing_add_cli_commands=lambda cli: added.append(cli)),
    )
    root = click.Group("root")
    host.add_cli_commands(root)
    assert added == [root]
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: plugin \"clibroken\" (clibroken) failed to add its commands: KeyError: 'click'"
    ]
    assert host.infos["clibroken"].error == "KeyError: 'click'"


def test_a_failing_observer_raises_in_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(run: Any) -> None:
        raise ValueError("observer down")

    host = load(plugin_module("observer", sparkwing_run_finished=boom))
    monkeypatch.setenv("SPARKWING_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r'^plugin "observer" \(observer\) failed in '
                       r"sparkwing_run_finished: ValueError: observer down$"):
        host.run_finished("RUN")


def test_one_line_folds_multi_line_messages() -> None:
    assert one_line(RuntimeError("first\n  second\n\nthird")) == "RuntimeError: first second third"
    assert one_line(KeyboardInterrupt()) == "KeyboardInterrupt"


# -- entry points from real distribution metadata --------------------------------


GOOD_SOURCE = """
    import sparkwing

    @sparkwing.hookimpl
    def sparkwing_register_backends(registry):
        registry.add_cache_store("tmpcache", lambda config, context: None)
"""


def test_entry_point_plugin_is_loaded_with_its_distribution_and_version(site: Any) -> None:
    site("sparkwing-tmpcache", "2.5.0", {"tmpcache": "sw_test_tmpcache"},
         {"sw_test_tmpcache": GOOD_SOURCE})
    host = PluginHost().load()
    info = host.infos["tmpcache"]
    assert (info.distribution, info.version, info.module) == (
        "sparkwing-tmpcache", "2.5.0", "sw_test_tmpcache",
    )
    assert host.registry.get("cache", "tmpcache").provider == "tmpcache"
    assert "sqlite" in host.infos  # the workspace's own entry point is there too


def test_broken_entry_point_is_recorded_and_warned_about_once(site: Any) -> None:
    site("sparkwing-kaputt", "0.9.1", {"kaputt": "sw_test_kaputt"},
         {"sw_test_kaputt": "import sw_test_module_that_does_not_exist\n"})
    baseline = PluginHost().load(entry_points=False).registry.types("state")
    host = PluginHost().load()
    info = host.infos["kaputt"]
    assert info.error == "ModuleNotFoundError: No module named 'sw_test_module_that_does_not_exist'"
    assert host.warning_lines() == [
        'warning: plugin "kaputt" (sparkwing-kaputt 0.9.1) failed to load and was skipped: '
        "ModuleNotFoundError: No module named 'sw_test_module_that_does_not_exist'"
    ]
    # everything else still works: the built-in and every installed state type
    assert set(host.registry.types("state")) >= {*baseline, "sqlite"}


def test_plugin_calling_sys_exit_at_import_does_not_exit(site: Any) -> None:
    site("sparkwing-quitter", "1.0", {"quitter": "sw_test_quitter"},
         {"sw_test_quitter": "import sys\nsys.exit(3)\n"})
    host = PluginHost().load()
    assert host.infos["quitter"].error == "SystemExit: 3"


def test_strict_mode_raises_for_a_broken_entry_point(
    site: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    site("sparkwing-kaputt", "0.9.1", {"kaputt": "sw_test_kaputt2"},
         {"sw_test_kaputt2": "raise ImportError('needs libfoo >= 2')\n"})
    monkeypatch.setenv("SPARKWING_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as info:
        PluginHost().load()
    assert str(info.value) == (
        'plugin "kaputt" (sparkwing-kaputt 0.9.1) failed to load: ImportError: needs libfoo >= 2'
    )


def test_disabled_entry_point_is_never_imported(
    site: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    site("sparkwing-kaputt", "0.9.1", {"kaputt": "sw_test_kaputt3"},
         {"sw_test_kaputt3": "raise ImportError('must not be imported')\n"})
    monkeypatch.setenv("SPARKWING_DISABLE_PLUGINS", "kaputt")
    monkeypatch.setenv("SPARKWING_STRICT_PLUGINS", "1")
    host = PluginHost().load()
    info = host.infos["kaputt"]
    assert info.blocked and not info.error
    assert (info.distribution, info.version) == ("sparkwing-kaputt", "0.9.1")
    assert "sw_test_kaputt3" not in sys.modules
    assert host.warning_lines() == []


def test_disabling_the_sqlite_plugin_removes_its_state_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    others = [t for t in PluginHost().load().registry.types("state") if t != "sqlite"]
    monkeypatch.setenv("SPARKWING_DISABLE_PLUGINS", "sqlite")
    host = PluginHost().load()
    assert host.infos["sqlite"].blocked
    with pytest.raises(PluginError) as info:
        host.registry.get("state", "sqlite")
    assert "dir" in others
    assert str(info.value) == (
        f'no plugin provides state type "sqlite"; installed: {", ".join(others)}; '
        "install sparkwing-sqlite"
    )


def test_get_host_prints_the_warnings_once(site: Any, capsys: pytest.CaptureFixture[str]) -> None:
    site("sparkwing-kaputt", "0.9.1", {"kaputt": "sw_test_kaputt4"},
         {"sw_test_kaputt4": "raise ImportError('gone')\n"})
    host = get_host()
    assert get_host() is host
    err = capsys.readouterr().err.splitlines()
    assert err == [
        'warning: plugin "kaputt" (sparkwing-kaputt 0.9.1) failed to load and was skipped: '
        "ImportError: gone"
    ]


def test_hooks_are_called_in_registration_order_with_tryfirst_honoured() -> None:
    order: list[str] = []

    def observer(name: str) -> ModuleType:
        return plugin_module(name, sparkwing_run_started=lambda run: order.append(name))

    eager = ModuleType("eager")
    eager.sparkwing_run_started = sparkwing.hookimpl(tryfirst=True)(  # type: ignore[attr-defined]
        lambda run: order.append("eager")
    )
    host = load(observer("one"), observer("two"), eager, observer("three"))
    host.run_started("RUN")
    assert order == ["eager", "one", "two", "three"]


def test_a_plugin_cannot_replace_an_existing_command(capsys: pytest.CaptureFixture[str]) -> None:
    from sparkwing_cli.lazy import LazyGroup

    @click.group(cls=LazyGroup, lazy={"run": "sparkwing_cli.commands.run:run_cmd"})
    def root() -> None:
        """A root group like the real one: one lazy built-in, one eager."""

    @root.command("status")
    def status() -> None:
        """A built-in command."""

    def hijack(cli: click.Group) -> None:
        cli.add_command(click.Command("run"))
        cli.add_command(click.Command("status"))
        cli.add_command(click.Command("fresh"))

    def second(cli: click.Group) -> None:
        cli.add_command(click.Command("fresh", help="second"))

    host = load(plugin_module("hijack", sparkwing_add_cli_commands=hijack),
                plugin_module("late", sparkwing_add_cli_commands=second))
    host.add_cli_commands(root)
    assert "run" not in root.commands and root.lazy["run"].endswith(":run_cmd")
    assert root.commands["status"] is status
    assert root.commands["fresh"].help is None  # the first plugin's command stays
    assert capsys.readouterr().err.splitlines() == [
        'warning: plugin "hijack" (hijack) tried to add commands that already exist: '
        "run, status (the existing ones were kept)",
        'warning: plugin "late" (late) tried to add commands that already exist: '
        "fresh (the existing ones were kept)",
    ]

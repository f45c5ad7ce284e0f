"""Contract versions: a plugin declares the one it was built for; a newer one is refused."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import sparkwing
from sparkwing.errors import PluginError
from sparkwing.execution.contracts import CONTRACT_VERSION
from sparkwing.plugins import CONTRACT_ATTRIBUTE
from sparkwing.plugins.manager import PluginHost
from sparkwing.plugins.registry import Registry


def versioned(name: str, contract: Any = None) -> ModuleType:
    """A plugin module registering ``logs:<name>`` and declaring *contract* (unless None)."""
    module = ModuleType(name)
    if contract is not None:
        setattr(module, CONTRACT_ATTRIBUTE, contract)

    def sparkwing_register_backends(registry: Registry) -> None:
        registry.add_log_store(name, lambda config, context: None)

    module.sparkwing_register_backends = sparkwing.hookimpl(  # type: ignore[attr-defined]
        sparkwing_register_backends
    )
    return module


def load(*modules: ModuleType) -> PluginHost:
    return PluginHost().load(entry_points=False, extra=modules)


BUILTIN_LOGS = load().registry.types("logs")


def test_the_builtin_log_stores_are_the_file_ones_and_the_controller() -> None:
    assert BUILTIN_LOGS == ["controller", "dir", "filesystem"]


def test_the_current_contract_is_one_and_named_by_the_attribute() -> None:
    assert CONTRACT_VERSION == 1
    assert CONTRACT_ATTRIBUTE == "SPARKWING_CONTRACT"


def test_a_plugin_built_for_the_current_contract_loads_and_reports_it() -> None:
    host = load(versioned("current", CONTRACT_VERSION))
    info = host.infos["current"]
    assert (info.contract, info.error) == (CONTRACT_VERSION, "")
    assert host.registry.types("logs") == sorted(["current", *BUILTIN_LOGS])


def test_an_undeclared_contract_loads_and_is_reported_as_none() -> None:
    host = load(versioned("undeclared"))
    assert host.infos["undeclared"].contract is None
    assert host.infos["undeclared"].to_dict()["contract"] is None
    assert "undeclared" in host.registry.types("logs")


def test_internal_plugins_carry_the_current_contract() -> None:
    assert load().infos["builtin"].contract == CONTRACT_VERSION


def test_a_plugin_built_for_a_newer_contract_is_refused_with_both_versions() -> None:
    host = load(versioned("future", CONTRACT_VERSION + 1))
    info = host.infos["future"]
    assert info.error == (
        f"built for sparkwing plugin contract {CONTRACT_VERSION + 1}, but this sparkwing-core "
        f"({sparkwing.__version__}) provides contract {CONTRACT_VERSION}; upgrade sparkwing-core "
        f"or install a release of the plugin built for contract {CONTRACT_VERSION}"
    )
    assert host.warning_lines() == [
        f'warning: plugin "future" (future) failed to load and was skipped: {info.error}'
    ]
    assert host.pm.get_plugin("future") is None  # its hooks are never called
    assert host.registry.types("logs") == BUILTIN_LOGS


def test_a_newer_contract_is_fatal_in_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKWING_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as info:
        load(versioned("future", 7))
    message = str(info.value)
    assert message.startswith('plugin "future" (future) failed to load: built for sparkwing '
                              "plugin contract 7, but this sparkwing-core")
    assert f"provides contract {CONTRACT_VERSION};" in message and "\n" not in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize("bad", ["1", 0, -1, 1.0, True])
def test_a_malformed_declaration_is_a_load_failure(bad: Any) -> None:
    host = load(versioned("odd", bad))
    assert host.infos["odd"].error == f"SPARKWING_CONTRACT must be a positive integer, got {bad!r}"
    assert host.registry.types("logs") == BUILTIN_LOGS


"""The distribution as sparkwing sees it: entry point, contract, registration, profile keys.

This is the test a plugin author copies first: it loads the plugin the way
every ``sparkwing`` command does (through the installed entry point) and
builds the store the way a profile does (through the registry).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sparkwing_sqlite.plugin
from sparkwing.errors import ConfigError
from sparkwing.execution.contracts import CONTRACT_VERSION
from sparkwing.plugins.manager import PluginHost
from sparkwing.plugins.registry import BackendContext
from sparkwing.storage.contracts import StateStore
from sparkwing_sqlite.store import SqliteStateStore


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> PluginHost:
    """A host loaded from the installed entry points, with no plugin switches set."""
    monkeypatch.delenv("SPARKWING_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("SPARKWING_STRICT_PLUGINS", raising=False)
    return PluginHost().load()


def test_the_entry_point_loads_this_module_and_declares_the_contract(host: PluginHost) -> None:
    info = host.infos["sqlite"]
    assert (info.distribution, info.module, info.error) == (
        "sparkwing-sqlite", "sparkwing_sqlite.plugin", "",
    )
    assert info.contract == sparkwing_sqlite.plugin.SPARKWING_CONTRACT == CONTRACT_VERSION
    assert host.pm.get_plugin("sqlite") is sparkwing_sqlite.plugin


def test_it_registers_exactly_the_sqlite_state_store(host: PluginHost) -> None:
    host.plugin_infos()
    assert host.infos["sqlite"].registers == {
        "state": ["sqlite"], "cache": [], "logs": [], "executor": [], "trigger": [],
    }
    backend = host.registry.get("state", "sqlite")
    assert (backend.provider, backend.required, backend.optional) == ("sqlite", (), ("path",))


def test_a_profile_block_builds_a_state_store_at_its_path(
    host: PluginHost, tmp_path: Path,
) -> None:
    context = BackendContext(home=tmp_path / "home", profile="team")
    store = host.registry.create("state", {"type": "sqlite", "path": str(tmp_path / "t.db")},
                                 context)
    try:
        assert isinstance(store, SqliteStateStore) and isinstance(store, StateStore)
        assert store.path == tmp_path / "t.db"
    finally:
        store.close()


def test_an_unknown_key_is_refused_before_the_factory_runs(
    host: PluginHost, tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as info:
        host.registry.create("state", {"type": "sqlite", "file": "x.db"},
                             BackendContext(home=tmp_path), where='profile "team" state')
    assert str(info.value) == (
        "profile \"team\" state: unknown key 'file' for type=sqlite; valid keys: path, type"
    )
    assert not any(tmp_path.iterdir())

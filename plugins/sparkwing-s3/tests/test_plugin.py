"""The distribution as sparkwing sees it: entry point, contract, registration, profile keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import sparkwing_s3.plugin
from sparkwing.errors import ConfigError
from sparkwing.execution.contracts import CONTRACT_VERSION
from sparkwing.plugins.manager import PluginHost
from sparkwing.plugins.registry import BackendContext
from sparkwing.storage.blobs.artifacts import BlobArtifactStore
from sparkwing.storage.blobs.logs import BlobLogStore
from sparkwing.storage.blobs.state import BlobStateStore
from sparkwing_s3.settings import OPTIONAL
from sparkwing_s3.store import S3BlobStore

KIND = "s3"
MODULE = sparkwing_s3.plugin
REQUIRED = ("bucket",)
STORE = S3BlobStore


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> PluginHost:
    """A host loaded from the installed entry points, with no plugin switches set."""
    monkeypatch.delenv("SPARKWING_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("SPARKWING_STRICT_PLUGINS", raising=False)
    return PluginHost().load()


def test_the_entry_point_loads_this_module_and_declares_the_contract(host: PluginHost) -> None:
    info = host.infos[KIND]
    assert (info.distribution, info.module, info.error) == (
        f"sparkwing-{KIND}", MODULE.__name__, "")
    assert info.contract == MODULE.SPARKWING_CONTRACT == CONTRACT_VERSION


def test_it_registers_state_logs_and_cache(host: PluginHost) -> None:
    host.plugin_infos()
    assert host.infos[KIND].registers == {
        "state": [KIND], "cache": [KIND], "logs": [KIND], "executor": [], "trigger": [],
    }
    for surface in ("state", "logs", "cache"):
        backend = host.registry.get(surface, KIND)
        assert backend.required == REQUIRED
        assert set(backend.optional) == {*OPTIONAL, "prefix"}


def test_profile_blocks_are_checked_by_the_registry(host: PluginHost) -> None:
    with pytest.raises(ConfigError, match=f"type={KIND} requires {REQUIRED[0]}"):
        host.registry.validate("state", {"type": KIND}, 'profile "team": state')
    with pytest.raises(ConfigError, match="unknown key 'bukket'"):
        host.registry.validate("state", {"type": KIND, **dict.fromkeys(REQUIRED, "x"),
                                         "bukket": "x"}, 'profile "team": state')


def test_a_profile_block_builds_the_three_stores(
        host: PluginHost, block: dict[str, object], tmp_path: Path) -> None:
    context = BackendContext(home=tmp_path, profile="team")
    made = {surface: host.registry.create(surface, dict(block), context)
            for surface in ("state", "logs", "cache")}
    try:
        assert isinstance(made["state"], BlobStateStore)
        assert isinstance(made["logs"], BlobLogStore)
        assert isinstance(made["cache"], BlobArtifactStore)
        for store in made.values():
            assert isinstance(store.blobs, STORE)
        made["cache"].put("probe/key", b"value")
        assert made["cache"].get("probe/key") == b"value"
    finally:
        for store in made.values():
            store.close()

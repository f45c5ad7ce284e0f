"""How sparkwing sees an object-store plugin distribution: entry point, contract, registration.

A plugin that registers ``state``, ``logs`` and ``cache`` types over one
:class:`~sparkwing.storage.blobs.contracts.BlobStore` subclasses
:class:`BlobPluginSuite`, sets ``__test__ = True`` and the class attributes,
and provides a ``block`` fixture (a profile block selecting a fresh bucket
or container on its emulator).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

from ...errors import ConfigError
from ...execution.contracts import CONTRACT_VERSION
from ...plugins.manager import PluginHost
from ...plugins.registry import BackendContext
from ...storage.blobs.artifacts import BlobArtifactStore
from ...storage.blobs.logs import BlobLogStore
from ...storage.blobs.state import BlobStateStore

#: The surfaces an object-store plugin registers, each under its own type name.
SURFACES = ("state", "logs", "cache")


class BlobPluginSuite:
    """The registration checks every object-store plugin passes. Subclass and set the attributes."""

    __test__ = False

    #: The type name the plugin registers (``s3``, ``gcs``, ``azure``).
    KIND: ClassVar[str]
    #: The module the entry point names.
    MODULE: ClassVar[ModuleType]
    #: The profile keys the type requires.
    REQUIRED: ClassVar[tuple[str, ...]]
    #: The profile keys the type accepts besides ``prefix``.
    OPTIONAL: ClassVar[Collection[str]]
    #: The plugin's blob store class.
    STORE: ClassVar[type]

    @pytest.fixture
    def host(self, monkeypatch: pytest.MonkeyPatch) -> PluginHost:
        """A host loaded from the installed entry points, with no plugin switches set."""
        monkeypatch.delenv("SPARKWING_DISABLE_PLUGINS", raising=False)
        monkeypatch.delenv("SPARKWING_STRICT_PLUGINS", raising=False)
        return PluginHost().load()

    def test_the_entry_point_loads_this_module_and_declares_the_contract(
            self, host: PluginHost) -> None:
        """The entry point names the plugin module, which declares the current contract."""
        info = host.infos[self.KIND]
        assert (info.distribution, info.module, info.error) == (
            f"sparkwing-{self.KIND}", self.MODULE.__name__, "")
        assert info.contract == self.MODULE.SPARKWING_CONTRACT == CONTRACT_VERSION

    def test_it_registers_state_logs_and_cache(self, host: PluginHost) -> None:
        """One type per surface, with the documented keys."""
        host.plugin_infos()
        assert host.infos[self.KIND].registers == {
            "state": [self.KIND], "cache": [self.KIND], "logs": [self.KIND],
            "executor": [], "trigger": [],
        }
        for surface in SURFACES:
            backend = host.registry.get(surface, self.KIND)
            assert backend.required == self.REQUIRED
            assert set(backend.optional) == {*self.OPTIONAL, "prefix"}

    def test_profile_blocks_are_checked_by_the_registry(self, host: PluginHost) -> None:
        """A missing required key and an unknown key are config errors naming them."""
        with pytest.raises(ConfigError, match=f"type={self.KIND} requires {self.REQUIRED[0]}"):
            host.registry.validate("state", {"type": self.KIND}, 'profile "team": state')
        with pytest.raises(ConfigError, match="unknown key 'bukket'"):
            host.registry.validate("state", {"type": self.KIND,
                                             **dict.fromkeys(self.REQUIRED, "x"),
                                             "bukket": "x"}, 'profile "team": state')

    def test_a_profile_block_builds_the_three_stores(
            self, host: PluginHost, block: dict[str, object], tmp_path: Path) -> None:
        """The block builds the core state, log and artifact stores over the plugin's blobs."""
        context = BackendContext(home=tmp_path, profile="team")
        made: dict[str, Any] = {surface: host.registry.create(surface, dict(block), context)
                                for surface in SURFACES}
        try:
            assert isinstance(made["state"], BlobStateStore)
            assert isinstance(made["logs"], BlobLogStore)
            assert isinstance(made["cache"], BlobArtifactStore)
            for store in made.values():
                assert isinstance(store.blobs, self.STORE)
            made["cache"].put("probe/key", b"value")
            assert made["cache"].get("probe/key") == b"value"
        finally:
            for store in made.values():
                store.close()

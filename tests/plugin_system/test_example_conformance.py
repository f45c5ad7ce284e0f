"""The example plugin's log store passes the LogStore conformance suite.

This is what a plugin author does in their own repository: subclass the
suite, switch it on with ``__test__ = True`` and override ``store_factory``.
Here the store is built the way sparkwing builds it, through the backend
registry, from the plugin module of ``tests/fixtures/plugin_dists/sparkwing-example``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sparkwing.plugins.manager import PluginHost
from sparkwing.plugins.registry import BackendContext
from sparkwing.testing.suites.logs import LogStoreSuite

EXAMPLE_SRC = Path(__file__).resolve().parents[1] / "fixtures/plugin_dists/sparkwing-example/src"


class TestExampleLogStore(LogStoreSuite):
    """LogStoreSuite against ``logs: {type: example, path: <tmp>}``."""

    __test__ = True

    @pytest.fixture
    def store_factory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    ) -> Callable[[], Any]:
        """Open a new example store on one directory each time it is called."""
        monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
        plugin = importlib.import_module("sparkwing_example.plugin")
        host = PluginHost().load(entry_points=False, extra=(plugin,))
        config = {"type": "example", "path": str(tmp_path / "logs")}
        context = BackendContext(home=tmp_path / "home", profile="test")
        return lambda: host.registry.create("logs", config, context, where="test profile logs")

    def test_the_store_comes_from_the_plugin(self, store: Any) -> None:
        """The registry built the plugin's class, not the built-in one."""
        assert (type(store).__module__, type(store).__name__) == (
            "sparkwing_example.store", "ExampleLogStore",
        )

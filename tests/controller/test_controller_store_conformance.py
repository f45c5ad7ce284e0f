"""ControllerStateStore and ControllerLogStore pass the store conformance suites.

Each test gets a real controller (the aiohttp application of
``controller serve``, on a loopback port from a thread of the test
process: :class:`~sparkwing_server.controller.threaded.ThreadedController`)
serving a fresh home's SQLite state store and filesystem log store; the
stores under test talk to it over HTTP only. The suites' cross-process
tests spawn fresh interpreters that reach the same controller.

Every test of both suites runs; none is local-only. The controllers here
run with auth off (no token in their fresh homes), so a test does not pay
argon2 for a new token each time; the token path (a runner token, scopes
and refusals) is covered by ``test_controller_remote.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sparkwing.storage.contracts import BatchingStateStore, LogStore, StateStore
from sparkwing.storage.controller.logs import ControllerLogStore
from sparkwing.storage.controller.state import ControllerStateStore
from sparkwing.testing.suites.logs import LogStoreSuite
from sparkwing.testing.suites.state import ThreadSafeStateStoreSuite


@pytest.fixture
def controller_url(sparkwing_home: Path, tmp_path: Path) -> Iterator[str]:
    """A controller serving a fresh home's stores, from a thread of this process."""
    from sparkwing_server.controller.leases import LeaseSettings
    from sparkwing_server.controller.threaded import ThreadedController
    from sparkwing_server.controller.tokens import open_token_store
    from sparkwing_server.localws.serve import open_profile_stores

    work = tmp_path / "work"
    work.mkdir()
    stores = open_profile_stores(None, work)
    tokens = open_token_store(stores)
    # The suites claim with a fixed clock (T0, long past), so every lease they take has
    # expired in real time: the reaper (real clock) must not tick during a test, or it puts
    # claimed triggers back and a slow test sees each claimed twice.
    server = ThreadedController(stores, tokens, leases=LeaseSettings(reaper_interval_s=3600))
    try:
        yield server.start()
    finally:
        server.stop()
        tokens.close()
        stores.close()


class TestControllerStateStore(ThreadSafeStateStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, controller_url: str) -> Callable[[], StateStore]:
        return functools.partial(ControllerStateStore, controller_url)

    def test_offers_batched_writes(self, store: StateStore) -> None:
        assert isinstance(store, BatchingStateStore)


class TestControllerLogStore(LogStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, controller_url: str) -> Callable[[], LogStore]:
        return functools.partial(ControllerLogStore, controller_url)

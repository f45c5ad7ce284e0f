"""Fixtures of sparkwing-azure's tests: one Azurite per session, a fresh container per test.

Azurite comes from ``tools/azurite`` (``npm ci``, run by scripts/install.sh);
when it is missing or cannot start, the tests fail. Azure settings of the
machine running the tests are hidden. Stores retry nothing (``retries: 0``),
so a dead endpoint fails at once instead of after the SDK's backoff.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sparkwing_azure.settings import parse_settings
from sparkwing_azure.store import AzureBlobStore
from sparkwing_azure.testing import Azurite

_COUNTER = itertools.count()
#: azurite-blob as tools/azurite installs it.
AZURITE = Path(__file__).resolve().parents[3] / "tools/azurite/node_modules/.bin/azurite-blob"


@pytest.fixture(scope="session")
def azure_env() -> Iterator[None]:
    """No Azure credentials or connection string from the machine."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("AZURE_"):
                mp.delenv(name)
        yield


@pytest.fixture(scope="session")
def azurite(azure_env: None) -> Iterator[Azurite]:
    """Azurite's blob service for the whole session."""
    with Azurite(os.environ.get("SPARKWING_TEST_AZURITE") or AZURITE) as server:
        yield server


@pytest.fixture
def container(azurite: Azurite) -> str:
    """A new, empty container for one test."""
    return azurite.create_container(f"sw-test-{os.getpid()}-{next(_COUNTER)}")


@pytest.fixture
def block(azurite: Azurite, container: str) -> dict[str, object]:
    """A profile block selecting the test's container (``url`` is what url_source resolves to)."""
    return {"type": "azure", "container": container, "url": azurite.connection_string,
            "prefix": "team/ci", "retries": 0, "timeout": 10}


@pytest.fixture
def open_store(block: dict[str, object]) -> Iterator[Callable[..., AzureBlobStore]]:
    """``open_store(**overrides)`` opens a store on the test's container; all are closed after."""
    opened: list[AzureBlobStore] = []

    def make(**overrides: object) -> AzureBlobStore:
        store = AzureBlobStore(parse_settings({**block, **overrides}, "team"))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., AzureBlobStore]) -> AzureBlobStore:
    """One store on the test's container, under prefix ``team/ci/``."""
    return open_store()

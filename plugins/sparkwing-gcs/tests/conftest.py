"""Fixtures of sparkwing-gcs's tests: one fake-gcs-server per session, a fresh bucket per test.

The server is started here, never assumed: when it cannot start the tests
fail. Google settings of the machine running the tests are hidden.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest
from sparkwing_gcs.settings import parse_settings
from sparkwing_gcs.store import GcsBlobStore
from sparkwing_gcs.testing import FakeGcs

_COUNTER = itertools.count()


@pytest.fixture(scope="session")
def gcs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No Google credentials, emulator override or gcloud config from the machine."""
    empty = tmp_path_factory.mktemp("gcloud")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST",
                     "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
            mp.delenv(name, raising=False)
        mp.setenv("CLOUDSDK_CONFIG", str(empty))
        # No metadata server here; make google.auth give up on it at once.
        mp.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
        mp.setenv("GCE_METADATA_IP", "127.0.0.1:9")
        yield


@pytest.fixture(scope="session")
def fake_gcs(gcs_env: None) -> Iterator[FakeGcs]:
    """fake-gcs-server for the whole session."""
    with FakeGcs() as server:
        yield server


@pytest.fixture
def bucket(fake_gcs: FakeGcs) -> str:
    """A new, empty bucket for one test."""
    return fake_gcs.create_bucket(f"sw-test-{os.getpid()}-{next(_COUNTER)}")


@pytest.fixture
def block(fake_gcs: FakeGcs, bucket: str) -> dict[str, object]:
    """A profile block selecting the test's bucket on the local server."""
    return {"type": "gcs", "bucket": bucket, "endpoint_url": fake_gcs.endpoint_url,
            "prefix": "team/ci", "retries": 0, "timeout": 10}


@pytest.fixture
def open_store(block: dict[str, object]) -> Iterator[Callable[..., GcsBlobStore]]:
    """``open_store(**overrides)`` opens a store on the test's bucket; all are closed after."""
    opened: list[GcsBlobStore] = []

    def make(**overrides: object) -> GcsBlobStore:
        store = GcsBlobStore(parse_settings({**block, **overrides}, "team"))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., GcsBlobStore]) -> GcsBlobStore:
    """One store on the test's bucket, under prefix ``team/ci/``."""
    return open_store()

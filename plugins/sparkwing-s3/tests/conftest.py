"""Fixtures of sparkwing-s3's tests: one moto S3 server per session, a fresh bucket per test.

The server is started here, never assumed: when it cannot start the tests
fail. AWS settings of the machine running the tests are hidden (no shared
config, no instance metadata), so only the test credentials are used.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest
from sparkwing_s3.settings import parse_settings
from sparkwing_s3.store import S3BlobStore
from sparkwing_s3.testing import CREDENTIALS, MotoS3

_COUNTER = itertools.count()


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Test credentials in the environment; the user's AWS files and IMDS out of reach."""
    empty = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                mp.delenv(name)
        for name, value in CREDENTIALS.items():
            mp.setenv(name, value)
        mp.setenv("AWS_CONFIG_FILE", str(empty / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def moto_s3(aws_env: None) -> Iterator[MotoS3]:
    """moto's S3 server for the whole session."""
    with MotoS3() as server:
        yield server


@pytest.fixture
def bucket(moto_s3: MotoS3) -> str:
    """A new, empty bucket for one test."""
    return moto_s3.create_bucket(f"sw-test-{os.getpid()}-{next(_COUNTER)}")


@pytest.fixture
def block(moto_s3: MotoS3, bucket: str) -> dict[str, object]:
    """A profile block selecting the test's bucket on the local server."""
    return {"type": "s3", "bucket": bucket, "endpoint_url": moto_s3.endpoint_url,
            "prefix": "team/ci", "retries": 0, "timeout": 10}


@pytest.fixture
def open_store(block: dict[str, object]) -> Iterator[Callable[..., S3BlobStore]]:
    """``open_store(**overrides)`` opens a store on the test's bucket; all are closed after."""
    opened: list[S3BlobStore] = []

    def make(**overrides: object) -> S3BlobStore:
        store = S3BlobStore(parse_settings({**block, **overrides}, "team"))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., S3BlobStore]) -> S3BlobStore:
    """One store on the test's bucket, under prefix ``team/ci/``."""
    return open_store()


"""What a user sees when the s3 block, the bucket or the credentials are wrong: one line each."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from sparkwing.errors import ConfigError, SparkwingError, StoreError
from sparkwing.storage.blobs.contracts import BlobUnavailable
from sparkwing_s3.settings import parse_settings
from sparkwing_s3.store import S3BlobStore
from sparkwing_s3.testing import MotoS3


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ({}, "bucket is required"),
        ({"bucket": ""}, "bucket is required"),
        ({"bucket": "Bad_Bucket"}, 'bucket "Bad_Bucket" is not a valid S3 bucket name'),
        ({"bucket": 42}, "bucket must be text"),
        ({"bucket": "ok-bucket", "endpoint_url": "localhost:9000"},
         "endpoint_url \"localhost:9000\" must start with http:// or https://"),
        ({"bucket": "ok-bucket", "prefix": "a/../b"}, "must not contain . or .. segments"),
        ({"bucket": "ok-bucket", "prefix": 3}, "prefix must be text"),
        ({"bucket": "ok-bucket", "retries": -1}, "retries must be a number from 0 to 20"),
        ({"bucket": "ok-bucket", "timeout": "soon"}, "timeout must be a number"),
    ],
)
def test_bad_settings_are_one_line_config_errors(block: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(block, "team")
    text = _one_line(err.value)
    assert text.startswith('profile "team": s3')
    assert needle in text


def test_settings_normalise() -> None:
    s = parse_settings({"bucket": "b-1", "prefix": "/a//b/", "endpoint_url": "http://h:1/"},
                       "team")
    assert (s.prefix, s.endpoint_url, s.retries) == ("a/b/", "http://h:1", 4)
    assert parse_settings({"bucket": "b-1"}, "team").prefix == ""


def test_missing_bucket_is_found_by_check(moto_s3: MotoS3) -> None:
    store = S3BlobStore(parse_settings(
        {"bucket": "no-such-bucket", "endpoint_url": moto_s3.endpoint_url, "retries": 0},
        "team"))
    try:
        with pytest.raises(ConfigError) as err:
            store.check()
        text = _one_line(err.value)
        assert text.startswith('s3 bucket "no-such-bucket" does not exist')
        assert "fix the bucket key" in text
        # Used anyway mid-run: a one-line StoreError, not a traceback.
        with pytest.raises(StoreError) as err2:
            store.put("k", b"x")
        assert "does not exist" in _one_line(err2.value)
    finally:
        store.close()


@pytest.fixture
def moto_enforces_credentials(moto_s3: MotoS3) -> Iterator[None]:
    """Make moto check access keys against its (empty) IAM for the test, then stop checking."""

    def post(value: str) -> None:
        request = urllib.request.Request(
            f"{moto_s3.endpoint_url}/moto-api/reset-auth", data=value.encode(), method="POST",
            headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    post("0")
    try:
        yield
    finally:
        post("inf")


def test_refused_credentials_are_found_by_check(
        bucket: str, moto_s3: MotoS3, moto_enforces_credentials: None) -> None:
    store = S3BlobStore(parse_settings(
        {"bucket": bucket, "endpoint_url": moto_s3.endpoint_url, "retries": 0}, "team"))
    try:
        with pytest.raises(ConfigError) as err:
            store.check()
        text = _one_line(err.value)
        assert text.startswith(f's3 bucket "{bucket}": S3 refused the credentials')
        with pytest.raises(StoreError) as err2:
            store.get("k")
        assert "refused the credentials" in _one_line(err2.value)
    finally:
        store.close()


def test_no_credentials_is_a_config_error(
        bucket: str, moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # A session of its own (another region), so no cached credentials apply.
    store = S3BlobStore(parse_settings(
        {"bucket": bucket, "endpoint_url": moto_s3.endpoint_url, "retries": 0,
         "region": "eu-north-1"}, "team"))
    try:
        with pytest.raises(ConfigError) as err:
            store.check()
        text = _one_line(err.value)
        assert "no usable AWS credentials" in text and "AWS_ACCESS_KEY_ID" in text
    finally:
        store.close()


def test_unknown_aws_profile(moto_s3: MotoS3) -> None:
    with pytest.raises(ConfigError) as err:
        S3BlobStore(parse_settings({"bucket": "b-1", "aws_profile": "nobody",
                                    "endpoint_url": moto_s3.endpoint_url}, "team"))
    assert 'aws_profile "nobody" is not in the AWS shared config' in _one_line(err.value)


@pytest.fixture
def dead_endpoint() -> str:
    """An address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_unreachable_endpoint_is_unavailable(
        open_store: Callable[..., S3BlobStore], dead_endpoint: str) -> None:
    store = open_store(endpoint_url=dead_endpoint, timeout=2)
    for call in (store.check, lambda: store.get("k"), lambda: store.put("k", b"x"),
                 lambda: store.list_page("")):
        with pytest.raises(BlobUnavailable) as err:
            call()
        text = _one_line(err.value)
        assert f"cannot reach {dead_endpoint}" in text
        assert isinstance(err.value, SparkwingError)

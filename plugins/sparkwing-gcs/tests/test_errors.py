"""What a user sees when the gcs block, the bucket or the credentials are wrong: one line each."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sparkwing.errors import ConfigError, SparkwingError, StoreError
from sparkwing.storage.blobs.contracts import BlobUnavailable
from sparkwing_gcs.settings import parse_settings
from sparkwing_gcs.store import GcsBlobStore
from sparkwing_gcs.testing import FakeGcs


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ({}, "bucket is required"),
        ({"bucket": "Bad Bucket"}, 'bucket "Bad Bucket" is not a valid GCS bucket name'),
        ({"bucket": ["x"]}, "bucket must be text"),
        ({"bucket": "ok-bucket", "endpoint_url": "localhost:4443"},
         'endpoint_url "localhost:4443" must start with http:// or https://'),
        ({"bucket": "ok-bucket", "prefix": "../up"}, "must not contain . or .. segments"),
        ({"bucket": "ok-bucket", "retries": 100}, "retries must be a number from 0 to 20"),
        ({"bucket": "ok-bucket", "timeout": 0}, "timeout must be a number"),
    ],
)
def test_bad_settings_are_one_line_config_errors(block: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(block, "team")
    text = _one_line(err.value)
    assert text.startswith('profile "team": gcs')
    assert needle in text


def test_missing_bucket_is_found_by_check(fake_gcs: FakeGcs) -> None:
    store = GcsBlobStore(parse_settings(
        {"bucket": "no-such-bucket", "endpoint_url": fake_gcs.endpoint_url, "retries": 0},
        "team"))
    try:
        with pytest.raises(ConfigError) as err:
            store.check()
        text = _one_line(err.value)
        assert text.startswith('gcs bucket "no-such-bucket" does not exist')
        assert "fix the bucket key" in text
        with pytest.raises(StoreError) as err2:
            store.put("k", b"x")
        assert "does not exist" in _one_line(err2.value)
    finally:
        store.close()


def test_no_credentials_is_a_config_error(gcs_env: None) -> None:
    # No endpoint_url: the real service, through google.auth's default chain,
    # which finds nothing on this machine (no key file, no gcloud, no metadata server).
    with pytest.raises(ConfigError) as err:
        GcsBlobStore(parse_settings({"bucket": "team-ci"}, "team"))
    text = _one_line(err.value)
    assert text.startswith('profile "team": gcs bucket "team-ci": no Google credentials found')
    assert "GOOGLE_APPLICATION_CREDENTIALS" in text


class _Answer(BaseHTTPRequestHandler):
    """Answers every request with the status in ``server.status`` and a GCS-style error body."""

    def _reply(self) -> None:
        status = self.server.status  # type: ignore[attr-defined]
        self.server.requests += 1  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"error": {"code": status, "message": "refused by the test server"}})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = do_PUT = do_DELETE = _reply

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[Callable[[int], tuple[str, ThreadingHTTPServer]]]:
    """``answering(status)`` starts a local server that answers every request with *status*."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int) -> tuple[str, ThreadingHTTPServer]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
        server.status = status  # type: ignore[attr-defined]
        server.requests = 0  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_refused_credentials(
        answering: Callable[[int], tuple[str, ThreadingHTTPServer]]) -> None:
    url, _ = answering(403)
    store = GcsBlobStore(parse_settings({"bucket": "team-ci", "endpoint_url": url,
                                         "retries": 0}, "team"))
    try:
        with pytest.raises(ConfigError) as err:
            store.check()
        text = _one_line(err.value)
        assert text.startswith('gcs bucket "team-ci": GCS refused the credentials')
        with pytest.raises(StoreError) as err2:
            store.put("k", b"x")
        assert "refused the credentials" in _one_line(err2.value)
    finally:
        store.close()


def test_throttling_is_retried_then_unavailable(
        answering: Callable[[int], tuple[str, ThreadingHTTPServer]]) -> None:
    url, server = answering(429)
    store = GcsBlobStore(parse_settings({"bucket": "team-ci", "endpoint_url": url,
                                         "retries": 2}, "team"))
    try:
        with pytest.raises(BlobUnavailable) as err:
            store.put("k", b"x", if_none_match="*")
        assert "GCS unavailable for put gs://team-ci/k (429)" in _one_line(err.value)
        assert server.requests == 3  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.fixture
def dead_endpoint() -> str:
    """An address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_unreachable_endpoint_is_unavailable(
        open_store: Callable[..., GcsBlobStore], dead_endpoint: str) -> None:
    store = open_store(endpoint_url=dead_endpoint, timeout=2)
    for call in (store.check, lambda: store.get("k"), lambda: store.put("k", b"x"),
                 lambda: store.list_page(""), lambda: store.head("k")):
        with pytest.raises(BlobUnavailable) as err:
            call()
        assert f"cannot reach {dead_endpoint}" in _one_line(err.value)
        assert isinstance(err.value, SparkwingError)

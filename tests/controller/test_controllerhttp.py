"""The controller transport both clients stand on (sparkwing.controllerhttp), over a real HTTP server.

A stdlib ``ThreadingHTTPServer`` in the test process answers from a script
of statuses and records what each request carried, so the headers, the
connection reuse, the retry rules and the reading of error bodies are seen
on the wire.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sparkwing.controllerhttp import (
    Answer,
    ControllerURL,
    Retry,
    Transport,
    Unreachable,
    error_body,
)
from sparkwing.queueclient import ClaimLost, ControllerError, QueueClient


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, Any]] = []
        self.script: list[tuple[int, bytes]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.seen.append({"method": self.command, "path": self.path,
                                     "headers": dict(self.headers), "body": body,
                                     "peer": self.client_address[1]})
            status, data = self.server.script.pop(0) if self.server.script else (200, b"{}")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def test_urls_are_checked_once_for_both_clients() -> None:
    url = ControllerURL.parse(" https://ci.example:8443/team/ ")
    assert (url.host, url.port, url.prefix, url.origin) == (
        "ci.example", 8443, "/team", "https://ci.example:8443")
    assert url.base == "https://ci.example:8443/team"
    for bad, says in (("ftp://x", "is not valid"), ("http://:99x", "is not valid"),
                      ("http://h:99x", "bad port"), ("http://h/?a=1", "query or fragment")):
        with pytest.raises(ValueError, match=says):
            ControllerURL.parse(bad)
        with pytest.raises(ValueError, match=says):
            QueueClient(bad)


def test_error_bodies_are_read_one_way() -> None:
    shaped = error_body(Answer(409, json.dumps(
        {"error": "claim_lost", "message": "finished (failed)", "holder": "box"}).encode()))
    assert (shaped.code, shaped.message, shaped.fields["holder"]) == (
        "claim_lost", "finished (failed)", "box")
    proxy = error_body(Answer(502, b"<html>\n  Bad   gateway\n</html>"))
    assert (proxy.code, proxy.message) == ("", "<html> Bad gateway </html>")
    assert error_body(Answer(500, b"")).message == "HTTP 500"
    assert error_body(Answer(400, b'{"error": "bad_request"}')).message == "bad_request"


def test_headers_token_origin_and_kept_alive_connections(server: _Server) -> None:
    url = ControllerURL.parse(server.url + "/pre")
    plain = Transport(url, token="swr_x", timeout=10)
    for _ in range(3):
        assert plain.send_json("POST", "/nodes/claim", {"holder": "h"}).status == 200
    assert [s["path"] for s in server.seen] == ["/pre/api/v1/nodes/claim"] * 3
    assert {s["peer"] for s in server.seen} == {server.seen[0]["peer"]}, "not kept alive"
    first = server.seen[0]["headers"]
    assert first["Authorization"] == "Bearer swr_x" and "Origin" not in first
    assert first["Content-Type"] == "application/json"
    assert json.loads(server.seen[0]["body"]) == {"holder": "h"}
    plain.close()
    with_origin = Transport(url, timeout=10, send_origin=True)
    with_origin.send("GET", "/health")
    last = server.seen[-1]["headers"]
    assert last["Origin"] == server.url and "Authorization" not in last
    assert "Content-Type" not in last
    with_origin.close()


def test_retries_follow_the_policy(server: _Server) -> None:
    transport = Transport(ControllerURL.parse(server.url), timeout=10,
                          retry=Retry(attempts=3, backoff_s=0.01))
    server.script = [(503, b""), (503, b""), (200, b'{"ok": true}')]
    assert transport.send("GET", "/x", idempotent=True).json() == {"ok": True}
    assert len(server.seen) == 3
    server.script = [(503, b""), (200, b"{}")]
    assert transport.send("POST", "/y").status == 503  # not idempotent: the answer as it came
    assert len(server.seen) == 4
    transport.close()
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    down = Transport(ControllerURL.parse(f"http://127.0.0.1:{port}"), timeout=5,
                     retry=Retry(attempts=2, backoff_s=0.01))
    with pytest.raises(Unreachable):
        down.send("GET", "/z", idempotent=True)


def test_queue_client_refusals_and_a_shared_client(server: _Server) -> None:
    client = QueueClient(server.url, "swr_x")
    server.script = [(409, json.dumps({"error": "claim_lost", "message": "gone"}).encode()),
                     (429, b"slow down")]
    with pytest.raises(ClaimLost) as lost:
        client.call("POST", "/runs/r/nodes/n/heartbeat", {}, lost_on=(404, 409))
    assert (lost.value.status, lost.value.code, lost.value.message) == (409, "claim_lost", "gone")
    with pytest.raises(ControllerError) as busy:
        client.call("POST", "/nodes/claim", {})
    assert busy.value.retryable and busy.value.code == "error" and busy.value.message == "slow down"
    errors: list[BaseException] = []

    def beat() -> None:
        try:
            for _ in range(20):
                client.call("GET", "/nodes/queue")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(server.seen) == 2 + 80
    client.close()

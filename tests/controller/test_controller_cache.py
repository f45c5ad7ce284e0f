"""The controller's cache routes and ``ControllerArtifactStore``, over real HTTP.

One controller per module (the aiohttp application of ``controller serve``,
from a thread of the test process: ``ThreadedController``) serves a fresh
home's SQLite state and filesystem cache store with auth enforced; the
store under test talks to it with a runner token (the ``runner`` bundle
holds ``cache.read`` and ``cache.write``). The artifact conformance suite
runs against it whole; the refusals are checked on the raw routes; the
end-to-end test runs two jobs of one pipeline on two ``sparkwing runner``
processes (queue executor) and the second reads what the first stored.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sparkwing.errors import ConfigError, NotFoundError, StoreError
from sparkwing.storage.contracts import ArtifactStore
from sparkwing.storage.controller.artifacts import ControllerArtifactStore
from sparkwing.testing.suites.artifacts import ArtifactStoreSuite

from .conftest import http, serve_in_thread
from .test_node_runner import _finish, _laptop, _project, _rows, _run, _runner, _stop


@dataclass
class Served:
    """The module's controller: its URL, its cache directory and two tokens."""

    url: str
    cache_dir: Path
    runner: str
    reader: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A controller with auth on over a fresh home, a runner token and a runs.read-only one."""
    from sparkwing_server.localws.serve import open_profile_stores

    root = tmp_path_factory.mktemp("cache-controller")
    (root / "home").mkdir()
    (root / "work").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("SPARKWING_") and not name.startswith("SPARKWING_TEST_"):
                mp.delenv(name)
        mp.setenv("SPARKWING_HOME", str(root / "home"))
        mp.setenv("XDG_CONFIG_HOME", str(root / "xdg"))
        mp.setenv("SPARKWING_PROFILES", str(root / "xdg" / "profiles.yaml"))
        stores = open_profile_stores(None, root / "work")
    with serve_in_thread(stores, ("runner", "box", ["runner"]),
                         ("user", "viewer", ["runs.read", "logs.read"])) as (url, raws):
        yield Served(url, root / "home" / "artifacts", raws[0], raws[1])


class TestControllerArtifactStore(ArtifactStoreSuite):
    __test__ = True

    @pytest.fixture
    def store_factory(self, served: Served) -> Callable[[], ArtifactStore]:
        return functools.partial(ControllerArtifactStore, served.url, token=served.runner)


def _call(served: Served, method: str, path: str, *, token: str | None = None,
          raw: bytes | None = None, octets: bool = True) -> Any:
    headers = {"Content-Type": "application/octet-stream"} if raw is not None and octets else {}
    return http(method, served.url + "/api/v1" + path,
                token=served.runner if token is None else token, raw=raw, headers=headers)


def test_blobs_and_keys_are_kept_in_the_controller_s_own_cache_store(served: Served) -> None:
    data = os.urandom(70_000)
    digest = hashlib.sha256(data).hexdigest()
    answer = _call(served, "PUT", f"/cache/blobs/{digest}", raw=data)
    assert answer.status == 201 and answer.json() == {"digest": digest, "size": len(data)}
    # the controller's profile keeps its cache in files under its home (the laptop default)
    assert (served.cache_dir / "blobs" / digest[:2] / digest).read_bytes() == data
    got = _call(served, "GET", f"/cache/blobs/{digest}")
    assert got.status == 200 and got.body == data
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert _call(served, "HEAD", f"/cache/blobs/{digest}").status == 200
    key = "kept/dir with space/é+v1%41?#x"
    path = "/cache/keys/" + urllib.parse.quote(key)
    assert _call(served, "PUT", path, raw=b"entry").json() == {"key": key, "size": 5}
    stored = served.cache_dir / "keys" / "kept" / "dir with space" / "é+v1%41?#x"
    assert stored.read_bytes() == b"entry"
    store = ControllerArtifactStore(served.url, token=served.runner)
    try:
        assert store.get(key) == b"entry" and store.list("kept/d") == [key]
    finally:
        store.close()
    assert _call(served, "GET", path).body == b"entry"
    assert _call(served, "GET", "/cache/keys?prefix=kept/").json() == {"keys": [key]}
    assert _call(served, "DELETE", path).json() == {"deleted": True}
    assert _call(served, "DELETE", path).json() == {"deleted": False}


def test_a_body_that_does_not_match_its_digest_is_refused(served: Served) -> None:
    data = b"what was sent"
    wrong = hashlib.sha256(b"something else").hexdigest()
    refused = _call(served, "PUT", f"/cache/blobs/{wrong}", raw=data)
    body = refused.assert_error(400, "digest_mismatch")
    assert hashlib.sha256(data).hexdigest() in body["message"], body
    assert not (served.cache_dir / "blobs" / wrong[:2] / wrong).exists()
    assert not (served.cache_dir / "blobs" / hashlib.sha256(data).hexdigest()[:2]
                / hashlib.sha256(data).hexdigest()).exists()
    bad = _call(served, "GET", "/cache/blobs/not-a-digest").assert_error(400, "bad_request")
    assert "64 lowercase hex" in bad["message"]
    assert _call(served, "PUT", "/cache/blobs/" + "A" * 64, raw=b"x").status == 400


def test_bodies_over_the_limit_get_413(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKWING_CACHE_MAX_BYTES", "1024")  # read per request, same process
    data = os.urandom(4096)
    digest = hashlib.sha256(data).hexdigest()
    too_big = _call(served, "PUT", f"/cache/blobs/{digest}", raw=data)
    assert "1024 bytes" in too_big.assert_error(413, "body_too_large")["message"]
    _call(served, "PUT", "/cache/keys/big/one", raw=data).assert_error(413, "body_too_large")
    assert not (served.cache_dir / "blobs" / digest[:2] / digest).exists()
    assert _call(served, "PUT", "/cache/keys/big/small", raw=data[:1000]).status == 200
    store = ControllerArtifactStore(served.url, token=served.runner)
    try:
        with pytest.raises(StoreError):
            store.put_blob(data)
    finally:
        store.close()


def test_unknown_and_invalid_keys(served: Served) -> None:
    missing = _call(served, "GET", "/cache/keys/no/such/key").assert_error(404, "not_found")
    assert "'no/such/key'" in missing["message"]
    assert _call(served, "HEAD", "/cache/keys/no/such/key").status == 404
    unknown = hashlib.sha256(b"never stored").hexdigest()
    _call(served, "GET", f"/cache/blobs/{unknown}").assert_error(404, "not_found")
    assert _call(served, "HEAD", f"/cache/blobs/{unknown}").status == 404
    for bad in ("a%5Cb", "x/.sw-tmp-1", "a/%01/b"):
        refused = _call(served, "PUT", f"/cache/keys/{bad}", raw=b"x")
        body = refused.assert_error(400, "invalid_key")
        assert body["field"] == "key" and "'/'-separated" in body["message"], body
        assert repr(urllib.parse.unquote(bad)) in body["message"], body
    _call(served, "GET", "/cache/keys?prefx=a").assert_error(400, "unknown_field")
    store = ControllerArtifactStore(served.url, token=served.runner)
    try:
        with pytest.raises(NotFoundError):
            store.get("no/such/key")
        with pytest.raises(NotFoundError):
            store.get_blob(unknown)
    finally:
        store.close()


def test_callers_without_a_token_or_scope_are_refused(served: Served) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    for method, path in (("GET", f"/cache/blobs/{digest}"), ("PUT", f"/cache/blobs/{digest}"),
                         ("GET", "/cache/keys"), ("GET", "/cache/keys/a"),
                         ("PUT", "/cache/keys/a"), ("DELETE", "/cache/keys/a")):
        raw = b"x" if method == "PUT" else None
        _call(served, method, path, token="", raw=raw).assert_error(401, "unauthenticated")
        denied = _call(served, method, path, token=served.reader, raw=raw)
        assert denied.assert_error(403, "missing_scope")["missing_scope"] in (
            "cache.read", "cache.write")
    assert _call(served, "HEAD", f"/cache/blobs/{digest}", token="").status == 401
    nobody = ControllerArtifactStore(served.url, token="")
    try:
        with pytest.raises(StoreError, match="needs a token"):
            nobody.exists("a")
    finally:
        nobody.close()
    viewer = ControllerArtifactStore(served.url, token=served.reader)
    try:
        with pytest.raises(StoreError, match=r"lacks scope 'cache\.write'"):
            viewer.put("a", b"x")
    finally:
        viewer.close()
    # a write body must be octets
    _call(served, "PUT", "/cache/keys/a", raw=b"{}", octets=False).assert_error(
        415, "unsupported_media_type")


def test_a_controller_whose_own_cache_is_a_controller_refuses_to_start(
        sparkwing_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sparkwing_server.controller.serve import check_cache
    from sparkwing_server.localws.serve import open_profile_stores

    profiles = Path(os.environ["SPARKWING_PROFILES"])
    profiles.parent.mkdir(parents=True, exist_ok=True)
    profiles.write_text(json.dumps({"profiles": {"ctl": {
        "state": {"type": "sqlite", "path": str(sparkwing_home / "state.db")},
        "cache": {"type": "controller", "url": "http://127.0.0.1:9"}}}}))
    work = tmp_path / "w"
    work.mkdir()
    with open_profile_stores("ctl", work) as stores, pytest.raises(
            ConfigError, match="own cache cannot be a controller"):
        check_cache(stores)
    monkeypatch.setenv("SPARKWING_CACHE_MAX_BYTES", "lots")
    with open_profile_stores(None, work) as stores, pytest.raises(
            ConfigError, match="SPARKWING_CACHE_MAX_BYTES"):
        check_cache(stores)


# -- end to end: two jobs on two runners share an artifact through the controller ---------------

E2E_YAML = """\
pipelines:
  - name: share
    entrypoint: pipelines.share:share
"""

E2E_PY = '''\
"""A job stores an artifact in the profile's cache; a job on another runner reads it."""

from __future__ import annotations

import os

import sparkwing as sw
from sparkwing.config import open_stores, resolve_profile


def _stores(ctx: sw.Context):
    return open_stores(resolve_profile(flag=ctx.run.profile, pipeline=None, project=None))


def produce(ctx: sw.Context) -> dict[str, object]:
    data = ("artifact of " + ctx.run.run_id + "\\n").encode() * 5000
    with _stores(ctx) as stores:
        digest = stores.cache.put_blob(data)
        stores.cache.put("e2e/" + ctx.run.run_id + "/app", digest.encode())
        store = type(stores.cache).__name__
    return {"digest": digest, "store": store, "home": os.environ["SPARKWING_HOME"]}


def consume(ctx: sw.Context) -> dict[str, object]:
    with _stores(ctx) as stores:
        digest = stores.cache.get("e2e/" + ctx.run.run_id + "/app").decode()
        data = stores.cache.get_blob(digest)
        store = type(stores.cache).__name__
    assert data.startswith(("artifact of " + ctx.run.run_id).encode())
    ctx.info(f"read {len(data)} bytes of {digest}")
    return {"digest": digest, "size": len(data), "store": store,
            "home": os.environ["SPARKWING_HOME"]}


def share(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    first = plan.job("produce", produce).executor("queue", labels=["a"])
    plan.job("consume", consume).executor("queue", labels=["b"]).needs(first)
'''


def test_a_job_on_another_runner_reads_the_artifact_through_the_controller(
        controller: Any, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    runner_token = controller.token("runner", "box", "runner")
    controller.start("--require-auth")
    root = _project(tmp_path, E2E_YAML, "share", E2E_PY)
    env = _laptop(controller, tmp_path, admin)
    runner_a, log_a = _runner(controller, tmp_path, "a", runner_token, "--label", "a")
    runner_b, log_b = _runner(controller, tmp_path, "b", runner_token, "--label", "b")
    proc, run_id = _run(env, root, "share")
    try:
        code, _, err = _finish(proc)
    finally:
        _stop(runner_a)
        _stop(runner_b)
    assert code == 0, (err[-4000:], log_a.read_text()[-3000:], log_b.read_text()[-3000:])
    rows = _rows(controller, admin, run_id)
    assert rows[("produce", 1)]["claimed_by"].startswith("a:"), rows
    assert rows[("consume", 1)]["claimed_by"].startswith("b:"), rows
    with controller.open_state() as stores:
        nodes = {n.node_id: n for n in stores.state.list_nodes(run_id)}
    made, read = nodes["produce"].output, nodes["consume"].output
    assert made["store"] == read["store"] == "ControllerArtifactStore", (made, read)
    assert read["digest"] == made["digest"] and read["size"] > 100_000, (made, read)
    assert made["home"] != read["home"]  # two runners, two homes
    digest = str(made["digest"])
    cache = controller.home / "artifacts"
    assert (cache / "keys" / "e2e" / run_id / "app").read_text() == digest
    assert hashlib.sha256((cache / "blobs" / digest[:2] / digest).read_bytes()).hexdigest() \
        == digest
    # nothing of it is on the runners' or the laptop's disks
    for where in (tmp_path / "work-a", tmp_path / "work-b", tmp_path / "laptop-home"):
        assert where.is_dir(), where
        assert not [p for p in where.rglob("*") if p.name in (digest, "app")], where

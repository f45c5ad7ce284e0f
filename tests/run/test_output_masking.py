"""Secrets never leave in outputs: a job's return value and its result step's output are
masked like its log (the value of ``ctx.secret`` and its base64 and hex forms) before they
are stored, on every surface that reads them: the state store's node row and events, the
dashboard's API, ``runs status -o json``, and the ref a downstream job reads."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

Project = Any

TOKEN = "tok-Sup3rSecret-4711"
RAW = TOKEN.encode()
#: Every form of the token that must not be stored.
FORMS = (
    TOKEN,
    base64.b64encode(RAW).decode(),
    base64.b64encode(RAW).decode().rstrip("="),
    base64.urlsafe_b64encode(RAW).decode(),
    RAW.hex(),
    RAW.hex().upper(),
    # the token inside a longer base64 text (a basic-auth header): its stable middle
    base64.b64encode(b"ci:" + RAW).decode()[4:-4],
)

PIPELINE = """
    import base64, json
    import sparkwing as sw

    def emit(ctx):
        raw = ctx.secret("API_TOKEN").encode()
        return {"b64": base64.b64encode(raw).decode(), "hex": raw.hex(),
                 "HEX": raw.hex().upper(),
                 "basic": "Basic " + base64.b64encode(b"ci:" + raw).decode(),
                 "url": [base64.urlsafe_b64encode(raw).decode()], "plain": "kept"}

    class Stepped(sw.Job):
        def work(self, w):
            fetch = w.step("fetch", lambda ctx: ctx.secret("API_TOKEN"))
            def encode(ctx):
                return base64.b64encode(fetch.output.get(ctx).encode()).decode()
            return w.step("encode", encode).needs(fetch)

    def plan(plan, inputs, run):
        e = plan.job("emit", emit)
        s = plan.job("stepped", Stepped())
        def down(ctx):
            seen = {"emit": e.output.get(ctx), "stepped": s.output.get(ctx)}
            (ctx.path("seen.json")).write_text(json.dumps(seen))
            return seen
        plan.job("down", down).needs(e, s)
"""


def _leaks(text: str) -> list[str]:
    return [f for f in FORMS if f in text]


@pytest.fixture(params=["local", "process"])
def masked_run(request: pytest.FixtureRequest, project: Project) -> Any:
    """A finished run whose jobs return a secret's encodings (on each executor)."""
    cfg = project.root.parent / "config" / "sparkwing"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "secrets.env").write_text(f"API_TOKEN={TOKEN}\n")
    project.add("leak", PIPELINE)
    r = project.run("run", "leak", "--sw-executor", request.param)
    assert r.code == 0, r.err
    assert not _leaks(r.out + r.err)
    return project, project.last_run()


def test_state_store_rows_and_events_hold_masked_outputs(masked_run: Any) -> None:
    project, run = masked_run
    nodes = project.nodes(run.id)
    emit = nodes["emit"].output
    assert emit["plain"] == "kept" and emit["b64"] == "***" and emit["hex"] == "***"
    assert emit["HEX"] == "***" and emit["url"] == ["***"]
    assert emit["basic"].startswith("Basic ") and "***" in emit["basic"]
    assert nodes["stepped"].output == "***"
    stored = json.dumps({n: x.output for n, x in nodes.items()})
    assert not _leaks(stored), stored
    st = project.state()
    try:
        events = st.list_events(run.id)
    finally:
        st.close()
    payloads = json.dumps([e.payload for e in events])
    assert '"output"' in payloads and not _leaks(payloads)


def test_a_downstream_job_reads_the_masked_text(masked_run: Any) -> None:
    project, run = masked_run
    seen = json.loads((project.root / "seen.json").read_text())
    assert seen["emit"]["b64"] == "***" and seen["stepped"] == "***"
    assert seen == project.nodes(run.id)["down"].output
    assert not _leaks(json.dumps(seen))


def test_runs_status_json_shows_masked_outputs(masked_run: Any) -> None:
    project, run = masked_run
    r = project.run("runs", "status", "--run", run.id, "-o", "json")
    assert r.code == 0, r.err
    body = json.loads(r.out)
    outputs = {n["node_id"]: n["output"] for n in body["nodes"]}
    assert outputs["emit"]["b64"] == "***" and outputs["stepped"] == "***"
    assert not _leaks(r.out)


@pytest.mark.asyncio
async def test_dashboard_api_shows_masked_outputs(masked_run: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from aiohttp.test_utils import TestClient, TestServer
    from sparkwing.config import open_stores, resolve_profile
    from sparkwing_server.localws.app import make_app

    project, run = masked_run
    for name, value in project.env.items():
        monkeypatch.setenv(name, value)
    stores = open_stores(resolve_profile(flag=None, pipeline=None, project=None))
    try:
        async with TestClient(TestServer(make_app(stores))) as client:
            detail = await client.get(f"/api/v1/runs/{run.id}")
            assert detail.status == 200
            text = await detail.text()
            node = await client.get(f"/api/v1/runs/{run.id}/nodes/emit")
            assert node.status == 200
            node_text = await node.text()
    finally:
        stores.close()
    nodes = {n["node_id"]: n for n in json.loads(text)["nodes"]}
    assert nodes["emit"]["output"]["hex"] == "***" and nodes["stepped"]["output"] == "***"
    assert json.loads(node_text)["node"]["output"]["b64"] == "***"
    assert not _leaks(text) and not _leaks(node_text)


def test_masker_hides_encoded_forms_in_log_text_and_values() -> None:
    """The masker is the one function: log lines and outputs hide the same forms."""
    from sparkwing.runtime.secrets import Masker

    m = Masker()
    m.add(TOKEN)
    line = f"auth {FORMS[1]} hex {FORMS[4]} basic {base64.b64encode(b'ci:' + RAW).decode()}"
    assert not _leaks(m.mask(line))
    assert m.mask_value({"k": [FORMS[5]], FORMS[3]: 1}) == {"k": ["***"], "***": 1}

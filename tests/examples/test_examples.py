"""Each example under examples/ runs green offline through the real CLI."""

from __future__ import annotations

import hashlib
import json
import tarfile


def test_python_ci(example) -> None:
    ex = example("python-ci")
    run_id, _ = ex.run("ci")
    with ex.state() as st:
        run = st.get_run(run_id)
        nodes = {n.node_id: n for n in st.list_nodes(run_id)}
        steps = [(s.step_id, s.status) for s in st.list_steps(run_id, "lint")]
    assert run.status == "success" and run.pipeline == "ci"
    assert {nid: n.outcome for nid, n in nodes.items()} == {
        "lint": "success", "test": "success", "build": "success", "smoke": "success"}
    assert nodes["build"].deps == ["lint", "test"] and nodes["smoke"].deps == ["build"]
    assert sorted(steps) == [("compile", "passed"), ("style", "passed"), ("tabs", "passed")]
    artifact = ex.dir / "dist" / "textstats.pyz"
    out = nodes["build"].output
    assert out["artifact"] == "dist/textstats.pyz"
    assert out["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert nodes["smoke"].output == {"checked": "dist/textstats.pyz"}
    assert nodes["smoke"].annotations == ["smoke test passed on dist/textstats.pyz"]
    test_log = "\n".join(r.get("msg", "") for r in ex.log_lines(run_id, "test"))
    assert "Ran 3 tests" in test_log and "OK" in test_log
    assert (ex.sw_home / "runs" / run_id / "_envelope.ndjson").is_file()


def test_python_ci_catches_a_style_problem(example) -> None:
    ex = example("python-ci")
    module = ex.dir / "src" / "textstats" / "__init__.py"
    module.write_text(module.read_text() + "x = 1   \n")
    run_id, _ = ex.run("ci", expect=1)
    errors = json.loads(ex.cli("runs", "errors", "--run", run_id, "-o", "json").stdout)
    assert [f["node_id"] for f in errors["failed"]] == ["lint"]
    assert "style problem" in errors["failed"][0]["error"]
    with ex.state() as st:
        assert st.get_node(run_id, "build").outcome == "cancelled"
        steps = {s.step_id: s.status for s in st.list_steps(run_id, "lint")}
    assert steps["style"] == "failed"


def test_test_matrix(example) -> None:
    ex = example("test-matrix")
    run_id, _ = ex.run("matrix")
    with ex.state() as st:
        nodes = {n.node_id: n for n in st.list_nodes(run_id)}
    cells = [f"test-{b}-seed{s}" for b in ("decimal", "cents") for s in ("0", "1")]
    assert list(nodes) == [*cells, "report"]
    for cell in cells:
        assert nodes[cell].outcome == "success" and nodes[cell].groups == ["tests"]
    assert sorted(nodes["report"].deps) == sorted(cells)
    assert nodes["report"].output == {"variants": 4, "report": "dist/matrix.json"}
    report = json.loads((ex.dir / "dist" / "matrix.json").read_text())
    assert [(r["backend"], r["seed"]) for r in report] == [
        ("decimal", "0"), ("decimal", "1"), ("cents", "0"), ("cents", "1")]
    assert "| cents | 1 | passed |" in nodes["report"].summary


def test_test_matrix_inputs_shape_the_plan(example) -> None:
    ex = example("test-matrix")
    run_id, _ = ex.run("matrix", "--backends", "cents", "--seeds", "0,1,2")
    with ex.state() as st:
        ids = [n.node_id for n in st.list_nodes(run_id)]
        run = st.get_run(run_id)
    assert ids == ["test-cents-seed0", "test-cents-seed1", "test-cents-seed2", "report"]
    assert run.args == {"backends": ["cents"], "seeds": ["0", "1", "2"]}
    bad = ex.cli("run", "matrix", "--backends", "floats")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: .sparkwing/pipelines/matrix.py:50: --backends: unknown floats (known: decimal, cents)")


def test_release_build_only(example) -> None:
    ex = example("release")
    run_id, _ = ex.run("release", "--version", "1.2.3")
    with ex.state() as st:
        nodes = {n.node_id: n for n in st.list_nodes(run_id)}
        run = st.get_run(run_id)
    assert run.args == {"version": "1.2.3", "channel": "stable", "publish": False, "token": ""}
    assert nodes["validate"].output == {"version": "1.2.3", "tag": "v1.2.3", "prerelease": False}
    assert nodes["notes"].output == {"path": "dist/RELEASE_NOTES.md", "entries": 2}
    pkg = nodes["package"].output
    tarball = ex.dir / pkg["artifact"]
    assert pkg["sha256"] == hashlib.sha256(tarball.read_bytes()).hexdigest()
    with tarfile.open(tarball) as tar:
        assert {"app/hello.py", "RELEASE_NOTES.md", "VERSION.json"} <= set(tar.getnames())
        notes = tar.extractfile("RELEASE_NOTES.md").read().decode()
    assert notes.startswith("# 1.2.3\n") and "trailing comma" in notes
    assert nodes["publish"].outcome == "skipped" and nodes["announce"].outcome == "skipped"
    assert not (ex.dir / "registry").exists()


def test_release_publish_masks_the_secret(example) -> None:
    ex = example("release")
    run_id, proc = ex.run("release", "-v", "1.3.0-rc.1", "--channel", "beta", "--publish",
                          "--token", "s3cr3t-value")
    assert "s3cr3t-value" not in proc.stdout + proc.stderr
    for path in (ex.sw_home / "runs" / run_id).iterdir():
        assert "s3cr3t-value" not in path.read_text(), path
    published = [r["msg"] for r in ex.log_lines(run_id, "publish") if "token" in r.get("msg", "")]
    assert published == ["authenticating to the registry with token ***"]
    with ex.state() as st:
        run = st.get_run(run_id)
        nodes = {n.node_id: n for n in st.list_nodes(run_id)}
    assert run.args["token"] == "***" and run.secret_args == ["token"]
    assert nodes["publish"].output["channel"] == "beta"
    assert nodes["announce"].outcome == "success"
    index = json.loads((ex.dir / "registry" / "beta" / "index.json").read_text())
    assert index["1.3.0-rc.1"]["sha256"] == nodes["package"].output["sha256"]
    listed = ex.cli("runs", "list", "-o", "json").stdout
    assert "s3cr3t-value" not in listed and run_id in listed


def test_release_rejects_bad_inputs(example) -> None:
    ex = example("release")
    missing = ex.cli("run", "release")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        'error: pipeline "release" requires --version (run `sparkwing run release --help` for '
        "valid flags)")
    choice = ex.cli("run", "release", "--version", "1.0.0", "--channel", "lts")
    assert choice.returncode == 2 and "must be one of: stable, beta, nightly" in choice.stderr
    run_id, _ = ex.run("release", "--version", "1.3.0-rc.1", expect=1)
    errors = json.loads(ex.cli("runs", "errors", "--run", run_id, "-o", "json").stdout)
    assert [f["node_id"] for f in errors["failed"]] == ["validate"]
    assert "stable releases take no pre-release part" in errors["failed"][0]["error"]
    no_token = ex.run("release", "--version", "1.2.3", "--publish", expect=1)[0]
    with ex.state() as st:
        node = st.get_node(no_token, "publish")
    assert node.outcome == "failed" and node.attempts == 3
    assert "--publish needs --token" in node.error

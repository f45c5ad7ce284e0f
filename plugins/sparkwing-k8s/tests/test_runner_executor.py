"""``sparkwing runner --executor k8s``: a controller's triggered runs go to the cluster, a Job per job.

A real controller (``controller serve --require-auth``) and a real runner
process; ``sparkwing pipeline trigger`` sends a copy of ``examples/python-ci``
(in a real git repository) and follows the run. The runner's child run
uses the ``k8s`` executor named on the runner's command line, so each job
becomes a Job in the fake API server, whose pod (a local process in the
"image" directory) runs ``sparkwing node exec --profile controller
--code-from-controller`` with the token from a Kubernetes Secret: it
fetches the run's commit from the controller's code store and runs that,
whatever version of the project the image holds (or none).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from sparkwing_k8s.testing import FakeKubernetes

REPO = Path(__file__).resolve().parents[3]
SPARKWING = [sys.executable, "-m", "sparkwing_cli.main"]
RBAC = REPO / "deploy" / "k8s" / "runner-rbac.yaml"
#: Hang guards (not timing assertions).
START_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 300.0


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.invalid",
           "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@example.invalid"}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SPARKWING, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False)


class _Controller:
    """``sparkwing controller serve --require-auth`` on a free port of loopback."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def token(self, kind: str, name: str, scope: str) -> str:
        out = _cli(self.cwd, self.env, "controller", "token", "create", "--kind", kind,
                   "--name", name, "--scope", scope)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*SPARKWING, "controller", "serve", "--addr", "127.0.0.1:0", "--require-auth"],
            cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [lines.put(ln) for ln in stdout], daemon=True).start()
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError("the controller printed no address") from None
        assert line.startswith("sparkwing controller listening on "), line
        self.url = line.split()[4]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def ctl(sparkwing_home: Path, tmp_path: Path) -> Iterator[_Controller]:
    cwd = tmp_path / "controller"
    cwd.mkdir()
    controller = _Controller(cwd, dict(os.environ))
    try:
        yield controller
    finally:
        controller.stop()


def _granted() -> set[tuple[str, str, str]]:
    docs = {f"{d['kind']}/{d['metadata']['name']}": d
            for d in yaml.safe_load_all(RBAC.read_text()) if d}
    role = docs["Role/sparkwing-runner-jobs"]
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def _used(fake: FakeKubernetes) -> set[tuple[str, str, str]]:
    out = set()
    for c in fake.calls():
        if c["resource"]:  # /version and discovery are non-resource URLs
            resource = f"{c['resource']}/{c['subresource']}" if c["subresource"] else c["resource"]
            out.add((c["group"], resource, c["verb"]))
    return out


def test_a_runner_with_executor_k8s_runs_each_job_as_a_kubernetes_job(
        ctl: _Controller, tmp_path: Path) -> None:
    admin = ctl.token("user", "root", "admin")
    runner_token = ctl.token("runner", "pool", "runner")
    ctl.start()
    project = tmp_path / "python-ci"
    shutil.copytree(REPO / "examples" / "python-ci", project,
                    ignore=shutil.ignore_patterns("__pycache__", "dist"))
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "project")
    work = tmp_path / "runner-work"

    # The "image": sparkwing on PATH, a home of its own and NO project: the pods fetch the
    # run's commit from the controller. The profile file is the runner's (an image would
    # carry its own) and the token comes only from a Kubernetes Secret (secret_env).
    image = tmp_path / "image"
    image.mkdir()
    pod_env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARKWING_", "KUBE"))}
    pod_env.update(SPARKWING_HOME=str(tmp_path / "pod-home"), HOME=str(tmp_path / "pod-home"),
                   TMPDIR=str(tmp_path / "pod-tmp"))  # where the pods export the run's code
    (tmp_path / "pod-tmp").mkdir()
    fake = FakeKubernetes(image_root=image, image_env=pod_env).start()
    runner: subprocess.Popen[str] | None = None
    try:
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        api = config.new_client_from_config(str(kubeconfig))
        client.CoreV1Api(api).create_namespaced_secret("ci", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sparkwing-runner-token"},
            "stringData": {"token": runner_token}})
        api.close()
        fake.admin("DELETE", "/fake/v1/calls")  # the test's own calls are not the executor's
        settings = tmp_path / "executor.yaml"
        settings.write_text(yaml.safe_dump({
            "kubeconfig": str(kubeconfig), "namespace": "ci",
            "image": "registry.example.com/sparkwing-project:1",
            "env": {"SPARKWING_PROFILES": str(work / "profiles.yaml")},
            "secret_env": {"SPARKWING_TOKEN": "sparkwing-runner-token/token"},
        }))
        runner_env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        runner_env["SPARKWING_TOKEN"] = runner_token
        log = tmp_path / "runner.log"
        runner = subprocess.Popen(
            [*SPARKWING, "runner", "--controller", ctl.url, "--work-dir", str(work),
             "--name", "k8s-pool", "--poll", "0.2", "--once", "--executor", "k8s",
             "--executor-settings", str(settings), "--executor-setting", "ttl_s=600"],
            cwd=ctl.cwd, env=runner_env, stdout=subprocess.DEVNULL, stderr=log.open("w"),
            text=True, start_new_session=True)
        trigger_env = {**os.environ, "SPARKWING_TOKEN": admin}
        out = _cli(project, trigger_env, "pipeline", "trigger", "ci", "--controller", ctl.url)
        assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:],
                                     log.read_text()[-4000:])
        try:
            assert runner.wait(timeout=RUN_TIMEOUT_S) == 0, log.read_text()[-4000:]
        except subprocess.TimeoutExpired:
            raise AssertionError("runner did not finish:\n" + log.read_text()[-4000:]) from None
        lines = out.stdout.splitlines()
        assert "[smoke] success" in lines, lines
        assert any(ln.startswith("[smoke] ") and "words: 21" in ln for ln in lines), lines
        run_id = "run-" + out.stderr.split("queued trigger ")[1].split(";")[0][4:]

        # the pods ran the commit they fetched: the image (empty) got nothing written into it
        assert not any(image.iterdir()), sorted(image.iterdir())
        assert [t.name.rsplit("-", 1)[0] for t in (tmp_path / "pod-tmp" / "sparkwing-code")
                .iterdir()] == [run_id]

        # the runner wrote the executor into its runs' profile
        profile = json.loads((work / "profiles.yaml").read_text())["profiles"]["controller"]
        assert profile["executor"]["type"] == "k8s" and profile["executor"]["ttl_s"] == 600
        assert profile["controller"] == {"url": ctl.url, "token_env": "SPARKWING_TOKEN"}

        # one Job per job, each running the node's `sparkwing node exec` on the controller profile
        created = fake.run(lambda c: [ch.obj for ch in c.store.history
                                      if ch.resource == "jobs" and ch.type == "ADDED"])
        jobs = {j["metadata"]["annotations"]["sparkwing.dev/node-id"]: j for j in created}
        assert sorted(jobs) == ["build", "lint", "smoke", "test"]
        for node, job in jobs.items():
            assert job["metadata"]["namespace"] == "ci"
            assert job["spec"]["ttlSecondsAfterFinished"] == 600
            (container,) = job["spec"]["template"]["spec"]["containers"]
            assert container["image"] == "registry.example.com/sparkwing-project:1"
            assert container["command"][:14] == [  # (then --timeout for jobs that have one)
                "sparkwing", "node", "exec", "--run", run_id, "--node", node, "--attempt", "1",
                "--log-to", "stdout", "--profile", "controller", "--code-from-controller"
            ], container["command"]
            env = {e["name"]: e for e in container["env"]}
            assert env["SPARKWING_TOKEN"] == {"name": "SPARKWING_TOKEN", "valueFrom": {
                "secretKeyRef": {"name": "sparkwing-runner-token", "key": "token"}}}
            assert runner_token not in json.dumps(job)

        # the run, its attempts and its logs are in the controller's stores
        from sparkwing_server.localws.serve import open_profile_stores

        with open_profile_stores(None, ctl.cwd) as stores:
            run = stores.state.get_run(run_id)
            assert run is not None and run.status == "success", run
            assert {n.node_id: n.outcome for n in stores.state.list_nodes(run_id)} == {
                "lint": "success", "test": "success", "build": "success", "smoke": "success"}
            executors = {str(e.payload.get("executor"))
                         for e in stores.state.list_events(run_id, 0, 0)
                         if e.kind == "attempt_finished"}
            assert executors == {"k8s"}
            test_log = "\n".join(stores.logs.tail(run_id, "test", 500))
            assert "Ran 3 tests" in test_log and "created Job sw-" in test_log, test_log[-2000:]
            assert "words: 21" in "\n".join(stores.logs.tail(run_id, "smoke", 200))

        # the runner called only what deploy/k8s/runner-rbac.yaml grants
        used = _used(fake)
        assert ("batch", "jobs", "create") in used and used <= _granted(), used - _granted()
    finally:
        if runner is not None and runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
        fake.stop()


def _runner_start(ctl: _Controller, tmp_path: Path, *args: str,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SPARKWING_TOKEN": "swr_not-checked-before-the-executor",
            **(env or {})}
    return subprocess.run(
        [*SPARKWING, "runner", "--controller", "http://127.0.0.1:9", "--work-dir",
         str(tmp_path / "w"), *args], cwd=ctl.cwd, env=full, capture_output=True, text=True,
        timeout=START_TIMEOUT_S)


def test_a_bad_executor_stops_the_runner_at_start_with_one_line(
        ctl: _Controller, tmp_path: Path) -> None:
    unknown = _runner_start(ctl, tmp_path, "--executor", "teamcity")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1, unknown.stderr
    assert unknown.stderr.startswith(
        'error: --executor teamcity: no plugin provides executor type "teamcity"; installed: ')
    assert "k8s" in unknown.stderr and "local" in unknown.stderr
    bad_key = _runner_start(ctl, tmp_path, "--executor", "k8s", "--executor-setting", "imag=x")
    assert bad_key.returncode == 2 and bad_key.stderr.count("\n") == 1, bad_key.stderr
    assert bad_key.stderr.startswith("error: --executor k8s: unknown key 'imag' for type=k8s")
    bad_value = _runner_start(ctl, tmp_path, "--executor", "k8s",
                              "--executor-setting", "namespace=Not_Valid")
    assert bad_value.returncode == 2 and bad_value.stderr.count("\n") == 1, bad_value.stderr
    assert bad_value.stderr.startswith("error: --executor k8s: namespace 'Not_Valid' is not")
    no_cluster = _runner_start(ctl, tmp_path, "--executor", "k8s",
                               env={"KUBECONFIG": str(tmp_path / "missing")})
    assert no_cluster.returncode == 2 and no_cluster.stderr.count("\n") == 1, no_cluster.stderr
    assert no_cluster.stderr.startswith("error: executor k8s: KUBECONFIG=")
    settings = tmp_path / "s.yaml"
    settings.write_text("type: k8s\n")
    typed = _runner_start(ctl, tmp_path, "--executor", "k8s", "--executor-settings",
                          str(settings))
    assert typed.returncode == 2 and "remove the type key" in typed.stderr, typed.stderr
    orphan = _runner_start(ctl, tmp_path, "--executor-setting", "namespace=ci")
    assert orphan.returncode == 2 and "need --executor NAME" in orphan.stderr, orphan.stderr
    assert not (tmp_path / "w").exists(), "a refused runner started working"


MARKER_YAML = """pipelines:
  - name: marker
    entrypoint: pipelines.marker:plan
"""
MARKER_PIPELINE = '''"""Pipeline "marker": one job that says which version of the project it is."""

from __future__ import annotations

import sparkwing as sw

VERSION = "{version}"


def say(ctx: sw.Context) -> dict[str, str]:
    """Log the version marker and return it."""
    ctx.info(f"marker: {{VERSION}}")
    return {{"version": VERSION}}


def plan(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    """One job, then a second one after it (a second pod of the same run)."""
    first = plan.job("say", say)
    plan.job("again", say).needs(first)
'''


def _marker_project(root: Path, version: str) -> Path:
    (root / ".sparkwing" / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / ".sparkwing" / "sparkwing.yaml").write_text(MARKER_YAML)
    (root / ".sparkwing" / "pipelines" / "__init__.py").write_text("")
    (root / ".sparkwing" / "pipelines" / "marker.py").write_text(
        MARKER_PIPELINE.format(version=version))
    return root


def _stale_image(tmp_path: Path) -> tuple[Path, Path, str, Path, FakeKubernetes]:
    """A project committed at v1 then v2, an "image" holding its v1 (what a stale image would
    carry), and a started fake cluster whose pods run in that image with their own home and
    TMPDIR: ``(project, image, the v2 sha, the pods' TMPDIR, the fake)``."""
    project = _marker_project(tmp_path / "marker", "v1")
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "v1")
    image = tmp_path / "image"
    shutil.copytree(project, image, ignore=shutil.ignore_patterns(".git"))
    _marker_project(project, "v2")
    _git(project, "commit", "-q", "-am", "v2")
    sha = _git(project, "rev-parse", "HEAD")
    pod_tmp = tmp_path / "pod-tmp"
    pod_tmp.mkdir()
    pod_env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARKWING_", "KUBE"))}
    pod_env.update(SPARKWING_HOME=str(tmp_path / "pod-home"), HOME=str(tmp_path / "pod-home"),
                   TMPDIR=str(pod_tmp))
    fake = FakeKubernetes(image_root=image, image_env=pod_env).start()
    return project, image, sha, pod_tmp, fake


def test_runner_pods_fetch_the_triggered_commit_not_the_images_copy(
        ctl: _Controller, tmp_path: Path) -> None:
    admin = ctl.token("user", "root", "admin")
    runner_token = ctl.token("runner", "pool", "runner")
    ctl.start()
    # the image holds v1, the triggered commit is v2
    project, image, sha, pod_tmp, fake = _stale_image(tmp_path)
    work = tmp_path / "runner-work"
    runner: subprocess.Popen[str] | None = None
    try:
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        api = config.new_client_from_config(str(kubeconfig))
        client.CoreV1Api(api).create_namespaced_secret("ci", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sparkwing-runner-token"},
            "stringData": {"token": runner_token}})
        api.close()
        settings = tmp_path / "executor.yaml"
        settings.write_text(yaml.safe_dump({
            "kubeconfig": str(kubeconfig), "namespace": "ci",
            "image": "registry.example.com/sparkwing-project:1",
            "env": {"SPARKWING_PROFILES": str(work / "profiles.yaml")},
            "secret_env": {"SPARKWING_TOKEN": "sparkwing-runner-token/token"},
        }))
        runner_env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        runner_env["SPARKWING_TOKEN"] = runner_token
        log = tmp_path / "runner.log"
        runner = subprocess.Popen(
            [*SPARKWING, "runner", "--controller", ctl.url, "--work-dir", str(work),
             "--name", "k8s-pool", "--poll", "0.2", "--once", "--executor", "k8s",
             "--executor-settings", str(settings)],
            cwd=ctl.cwd, env=runner_env, stdout=subprocess.DEVNULL, stderr=log.open("w"),
            text=True, start_new_session=True)
        out = _cli(project, {**os.environ, "SPARKWING_TOKEN": admin}, "pipeline", "trigger",
                   "marker", "--controller", ctl.url)
        assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:],
                                     log.read_text()[-4000:])
        try:
            assert runner.wait(timeout=RUN_TIMEOUT_S) == 0, log.read_text()[-4000:]
        except subprocess.TimeoutExpired:
            raise AssertionError("runner did not finish:\n" + log.read_text()[-4000:]) from None
        run_id = "run-" + out.stderr.split("queued trigger ")[1].split(";")[0][4:]
        assert "[say] marker: v2" in out.stdout and "[again] marker: v2" in out.stdout, out.stdout
        assert "marker: v1" not in out.stdout, out.stdout

        created = fake.run(lambda c: [ch.obj for ch in c.store.history
                                      if ch.resource == "jobs" and ch.type == "ADDED"])
        assert len(created) == 2
        for job in created:
            (container,) = job["spec"]["template"]["spec"]["containers"]
            assert "--code-from-controller" in container["command"], container["command"]
        # the pods exported the commit under their TMPDIR; the image was left as it was
        (tree,) = (pod_tmp / "sparkwing-code").iterdir()
        assert tree.name == f"{run_id}-{sha[:12]}"
        assert 'VERSION = "v2"' in (tree / ".sparkwing/pipelines/marker.py").read_text()
        assert 'VERSION = "v1"' in (image / ".sparkwing/pipelines/marker.py").read_text()

        from sparkwing_server.localws.serve import open_profile_stores

        with open_profile_stores(None, ctl.cwd) as stores:
            run = stores.state.get_run(run_id)
            assert run is not None and run.status == "success" and run.git_sha == sha, run
            assert {n.node_id: n.output for n in stores.state.list_nodes(run_id)} == {
                "say": {"version": "v2"}, "again": {"version": "v2"}}
            say_log = "\n".join(stores.logs.tail(run_id, "say", 200))
            assert f"running commit {sha} from the controller" in say_log, say_log[-2000:]
    finally:
        if runner is not None and runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
        fake.stop()


def test_a_laptop_run_on_a_controller_profile_sends_its_commit_for_the_pods(
        ctl: _Controller, tmp_path: Path) -> None:
    """``sparkwing run`` on a profile with a controller and the k8s executor: the commit the
    controller never saw is sent before the first Job, and the pods run it, not the image's."""
    admin = ctl.token("user", "root", "admin")
    ctl.start()
    project, _image, sha, pod_tmp, fake = _stale_image(tmp_path)
    try:
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        api = config.new_client_from_config(str(kubeconfig))
        client.CoreV1Api(api).create_namespaced_secret("ci", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sparkwing-token"},
            "stringData": {"token": admin}})
        api.close()
        profiles = tmp_path / "profiles.yaml"
        profiles.write_text(yaml.safe_dump({"profiles": {"cluster": {
            "controller": {"url": ctl.url, "token_env": "SPARKWING_TOKEN"},
            "executor": {"type": "k8s", "kubeconfig": str(kubeconfig), "namespace": "ci",
                         "image": "registry.example.com/sparkwing-project:1",
                         "env": {"SPARKWING_PROFILES": str(profiles)},
                         "secret_env": {"SPARKWING_TOKEN": "sparkwing-token/token"}}}}}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(SPARKWING_TOKEN=admin, SPARKWING_PROFILES=str(profiles))
        out = _cli(project, env, "run", "marker", "--profile", "cluster")
        assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
        text = out.stdout + out.stderr
        assert "marker: v2" in text and "marker: v1" not in text, text[-3000:]
        assert f"code: sent commit {sha[:12]} to the controller" in text, text[-3000:]
        (tree,) = (pod_tmp / "sparkwing-code").iterdir()
        assert tree.name.endswith(f"-{sha[:12]}")
    finally:
        fake.stop()

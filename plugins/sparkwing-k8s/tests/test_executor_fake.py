"""The ``k8s`` executor against the fake API server: Jobs, logs, results, failures, cancel.

The pod's command here is a shell script standing in for the image's
``sparkwing node exec`` (the executor's ``command`` setting is its argv
prefix); the end-to-end tests run the real ``node exec``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import pytest
from sparkwing_k8s import naming
from sparkwing_k8s.testing import ANNOTATION, ANNOTATION_AFTER, FakeKubernetes

from .conftest import wait_for
from .executor_harness import RUN_ID, Harness, run, shell


@pytest.fixture
def h(fake: FakeKubernetes, kubeconfig: Path, sparkwing_home: Path) -> Harness:
    return Harness(fake, kubeconfig, sparkwing_home)


def _record(msg: str) -> str:
    return json.dumps({"ts": "2026-01-01T00:00:00.000000Z", "level": "info", "node": "build",
                       "msg": msg}, separators=(",", ":"))


def test_result_and_output_come_from_the_attempt_finished_event(h: Harness,
                                                                tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    script = (f"echo '{_record('from node exec')}'; echo plain output line; "
              f"while [ ! -f {gate} ]; do sleep 0.05; done")
    attempt = h.attempt(settings=shell(script))
    executor = h.executor()

    async def go() -> object:
        task = asyncio.ensure_future(executor.run_attempt(attempt))
        # the lines reach the node's log while the pod still runs
        while "plain output line" not in h.messages():
            assert not task.done(), task.result()
            await asyncio.sleep(0.05)
        h.state.append_event(RUN_ID, "attempt_finished", {
            "attempt": 1, "outcome": "success", "executor": "k8s", "output": {"digest": "abc"}},
            node_id="build")
        gate.touch()
        try:
            return await task
        finally:
            await executor.close()

    result = asyncio.run(go())
    assert result.outcome == "success" and result.output == {"digest": "abc"}
    assert result.recorded  # node exec recorded it: the orchestrator must not record it again
    records = h.records()
    forwarded = [r for r in records if r.get("msg") == "from node exec"]
    assert len(forwarded) == 1 and "event" not in forwarded[0]  # copied as is, not re-framed
    assert any(r.get("msg") == "plain output line" and r.get("event") == "exec_line"
               for r in records)
    assert any("created Job sw-" in m for m in h.messages())


def test_exit_without_a_recorded_result_is_executor_lost(h: Harness) -> None:
    result = run(h.executor(), h.attempt(settings=shell("echo cannot open the store >&2; exit 3")))
    assert (result.outcome, result.failure_reason, result.exit_code) == ("failed",
                                                                         "executor_lost", 3)
    assert "exited with status 3 without recording a result: cannot open the store" in result.error
    assert result.error.startswith("build: ")


@pytest.mark.parametrize(("failure", "reason", "words"), [
    ("oom", "oom", "OOMKilled"),
    ("evicted", "evicted", "evicted: The node was low on resource: memory"),
    ("node-lost", "node_lost", "lost with its node"),
])
def test_pod_failures_map_to_reasons(h: Harness, failure: str, reason: str, words: str) -> None:
    settings = {**shell("sleep 30"), "annotations": {ANNOTATION: failure, ANNOTATION_AFTER: "0.2"}}
    result = run(h.executor(), h.attempt(settings=settings))
    assert (result.outcome, result.failure_reason) == ("failed", reason)
    assert words in result.error
    assert any(words in m for m in h.messages())  # the node's log says why too


def test_oom_from_the_memory_limit_names_the_limit(h: Harness) -> None:
    hog = "python3 -c \"b = bytearray(150 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); " \
          "import time; time.sleep(30)\""
    settings = {**shell(hog), "resources": {"limits": {"memory": "48Mi"},
                                            "requests": {"memory": "48Mi"}}}
    result = run(h.executor(), h.attempt(settings=settings))
    assert result.failure_reason == "oom" and result.exit_code == 137
    assert "memory limit 48Mi" in result.error


def test_deadline_exceeded(h: Harness) -> None:
    result = run(h.executor(), h.attempt(settings={**shell("sleep 30"), "active_deadline_s": 1}))
    assert result.failure_reason == "deadline"
    assert "activeDeadlineSeconds=1" in result.error


@pytest.mark.parametrize(("settings", "reason", "k8s_reason"), [
    ({"annotations": {ANNOTATION: "image-pull"}, "image_pull_grace_s": 0.3}, "image_pull",
     "ErrImagePull"),
    ({"image": "No Such::Image"}, "image_pull", "InvalidImageName"),
    # Long enough that a loaded machine's fake still creates the pod in time (else: NoPod).
    ({"annotations": {ANNOTATION: "unschedulable"}, "pending_timeout_s": 3}, "unschedulable",
     "Unschedulable"),
    ({"secret_env": {"TOKEN": "missing-secret/token"}, "config_error_grace_s": 0.3},
     "config_error", "CreateContainerConfigError"),
])
def test_pods_that_cannot_start_fail_and_their_job_is_deleted(h: Harness, settings: dict,
                                                              reason: str, k8s_reason: str) -> None:
    result = run(h.executor(), h.attempt(settings={**shell("true"), **settings}))
    assert (result.outcome, result.failure_reason) == ("failed", reason)
    assert k8s_reason in result.error
    wait_for(lambda: not h.live("jobs") and not h.live("pods"), "job and pod deleted")
    deletes = [c for c in h.fake.calls() if c["verb"] == "delete" and c["resource"] == "jobs"]
    assert deletes and "propagationPolicy=Foreground" in deletes[0]["query"]


def test_missing_executable_is_a_container_start_failure(h: Harness) -> None:
    result = run(h.executor(), h.attempt(settings={"command": ["no-such-sparkwing-binary"]}))
    assert result.failure_reason == "container_start"
    assert "executable file not found" in result.error


def test_cancel_deletes_the_job_in_the_foreground(h: Harness, tmp_path: Path) -> None:
    marker = tmp_path / "got-sigterm"
    ready = tmp_path / "trap-set"
    script = (f"trap 'echo term > {marker}; exit 143' TERM; touch {ready}; "
              "while true; do sleep 0.05; done")
    executor = h.executor()

    async def go() -> None:
        task = asyncio.ensure_future(executor.run_attempt(h.attempt(settings=shell(script))))
        while not ready.exists():
            assert not task.done()
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await executor.close()

    asyncio.run(go())
    wait_for(lambda: not h.live("jobs") and not h.live("pods"), "job and pod gone")
    assert marker.read_text().strip() == "term"
    deletes = [c for c in h.fake.calls() if c["verb"] == "delete" and c["resource"] == "jobs"]
    assert len(deletes) == 1 and "propagationPolicy=Foreground" in deletes[0]["query"]


def test_secrets_reach_the_pod_by_reference_only(h: Harness, image_root: Path) -> None:
    script = 'printf "%s %s" "$API_TOKEN" "$SPARKWING_SECRET_VALUES" > seen.txt'
    attempt = h.attempt(settings=shell(script), secret_values=["hunter2"],
                        env={"API_TOKEN": "hunter2", "PLAIN": "visible"})
    result = run(h.executor(), attempt)
    assert result.failure_reason == "executor_lost"  # the stand-in records no result
    token, values = (image_root / "seen.txt").read_text().split(" ", 1)
    assert token == "hunter2" and json.loads(values) == ["hunter2"]
    (job,) = h.jobs()
    assert "hunter2" not in json.dumps(job)
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PLAIN"]["value"] == "visible"
    assert env["API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == naming.secret_name(
        job["metadata"]["name"])
    owners = h.fake.run(lambda c: [ch.obj["metadata"].get("ownerReferences")
                                   for ch in c.store.history if ch.resource == "secrets"])
    assert any(o and o[0]["uid"] == job["metadata"]["uid"] for o in owners)
    assert h.live("secrets") == []  # deleted once the attempt ended


def test_the_job_spec(h: Harness) -> None:
    settings = {**shell("true"), "image": "registry.example/ci:7", "service_account": "builder",
                "node_selector": {"pool": "ci"}, "tolerations": ["dedicated=ci:NoSchedule"],
                "resources": {"requests": {"cpu": "500m", "memory": "4Gi"}},
                "labels": {"team": "web"}, "ttl_s": 120}
    attempt = h.attempt("Build Image!", settings=settings, timeout_s=90.5, no_progress_s=30)
    run(h.executor(), attempt)
    (job,) = h.jobs()
    name = job["metadata"]["name"]
    assert name == naming.job_name(RUN_ID, "Build Image!", 1) and len(name) <= 63
    spec = job["spec"]
    assert spec["backoffLimit"] == 0 and spec["ttlSecondsAfterFinished"] == 120
    assert spec["activeDeadlineSeconds"] == math.ceil(90.5 + 60)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "builder"
    assert pod["nodeSelector"] == {"pool": "ci"}
    assert pod["tolerations"][0] == {"key": "dedicated", "operator": "Equal", "value": "ci",
                                     "effect": "NoSchedule"}
    (c,) = pod["containers"]
    assert c["image"] == "registry.example/ci:7" and c["imagePullPolicy"] == "IfNotPresent"
    assert c["command"][4:] == ["node", "exec", "--run", RUN_ID, "--node", "Build Image!",
                                "--attempt", "1", "--log-to", "stdout", "--profile", "laptop",
                                "--timeout", "90.5", "--no-progress-timeout", "30"]
    # a request above the default limit raises that limit
    assert c["resources"] == {"requests": {"cpu": "500m", "memory": "4Gi"},
                              "limits": {"cpu": "2", "memory": "4Gi"}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels[naming.RUN_LABEL] == RUN_ID and labels[naming.NODE_LABEL] == "Build-Image"
    assert labels["team"] == "web" and labels[naming.MANAGED_BY] == "sparkwing"
    assert job["metadata"]["annotations"][naming.NODE_ANNOTATION] == "Build Image!"


def test_a_job_already_created_for_the_attempt_is_followed_not_duplicated(h: Harness) -> None:
    from kubernetes import client, config
    from sparkwing_k8s import manifests

    executor = h.executor()
    attempt = h.attempt(settings=shell("exit 4"))
    m = manifests.build(attempt, executor.settings_for(attempt))
    api = config.new_client_from_config(str(h.kubeconfig))
    client.BatchV1Api(api).create_namespaced_job("default", m.job)
    api.close()
    result = run(executor, attempt)
    assert result.failure_reason == "executor_lost" and result.exit_code == 4
    assert len(h.jobs()) == 1
    assert any("already exists for this attempt" in msg for msg in h.messages())


def test_a_name_clash_with_someone_elses_job_fails_clearly(h: Harness) -> None:
    from kubernetes import client, config

    attempt = h.attempt(settings=shell("true"))
    name = naming.job_name(RUN_ID, "build", 1)
    api = config.new_client_from_config(str(h.kubeconfig))
    client.BatchV1Api(api).create_namespaced_job("default", {
        "metadata": {"name": name}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "x", "image": "busybox",
                                                      "command": ["sleep", "5"]}]}}}})
    api.close()
    result = run(h.executor(), attempt)
    assert result.failure_reason == "k8s_api" and "already exists" in result.error


def test_bad_job_settings_fail_the_attempt_with_a_one_line_error(h: Harness) -> None:
    result = run(h.executor(), h.attempt(settings={"imagee": "x"}))
    assert result.failure_reason == "config_error"
    assert result.error.startswith('job "build": .executor("k8s"): unknown setting \'imagee\'')
    assert "\n" not in result.error and h.jobs() == []


def test_many_attempts_share_one_executor(h: Harness) -> None:
    executor = h.executor()

    async def go() -> list[object]:
        try:
            return list(await asyncio.gather(*(
                executor.run_attempt(h.attempt(f"job{i}", settings=shell(f"exit {i}")))
                for i in range(1, 6))))
        finally:
            await executor.close()

    results = asyncio.run(go())
    assert [r.exit_code for r in results] == [1, 2, 3, 4, 5]  # type: ignore[attr-defined]
    assert len({j["metadata"]["name"] for j in h.jobs()}) == 5


def test_watch_survives_the_server_closing_it(h: Harness, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    from sparkwing_k8s import monitor

    monkeypatch.setattr(monitor, "WATCH_S", 1)  # the server ends each watch after a second
    gate = tmp_path / "gate"
    executor = h.executor()

    async def go() -> object:
        task = asyncio.ensure_future(executor.run_attempt(h.attempt(
            settings=shell(f"while [ ! -f {gate} ]; do sleep 0.05; done; exit 6"))))
        start = time.monotonic()
        while sum(c["verb"] == "watch" for c in h.fake.calls()) < 5:
            assert time.monotonic() - start < 120
            await asyncio.sleep(0.1)
        gate.touch()
        try:
            return await task
        finally:
            await executor.close()

    result = asyncio.run(go())
    assert result.exit_code == 6  # type: ignore[attr-defined]
    resumed = [c for c in h.fake.calls() if c["verb"] == "watch" and "resourceVersion=" in c["query"]]
    assert resumed

"""The fake API server, driven with the real ``kubernetes`` client (which validates every object)."""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from sparkwing_k8s.testing import FakeKubernetes

from .conftest import job_condition, job_manifest, only_pod, wait_for


def test_version_is_complete(k8s: client.ApiClient) -> None:
    info = client.VersionApi(k8s).get_code()
    assert info.major == "1" and info.git_version.startswith("v1.")
    assert info.git_commit and info.build_date and info.go_version and info.platform


def test_job_runs_its_command_and_completes(k8s: client.ApiClient, image_root: Path) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    job = batch.create_namespaced_job("default", job_manifest(
        "hello", ["sh", "-c", "echo out-line; echo err-line >&2; pwd > where.txt"]))
    assert job.metadata.uid and job.spec.backoff_limit == 0
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": job.metadata.uid}
    phases: list[str] = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, "default", label_selector="job-name=hello",
                       resource_version=job.metadata.resource_version, timeout_seconds=30):
        pod = ev["object"]  # a V1Pod: the client validated it
        phases.append(pod.status.phase)
        if pod.status.phase in ("Succeeded", "Failed"):
            w.stop()
    assert phases[0] == "Pending" and "Running" in phases and phases[-1] == "Succeeded"
    cond = wait_for(lambda: job_condition(batch, "hello", "Complete"), "Complete")
    assert cond.reason == "CompletionsReached"
    pod = only_pod(core, "hello")
    term = pod.status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (0, "Completed")
    assert pod.metadata.owner_references[0].kind == "Job"
    assert pod.metadata.labels["batch.kubernetes.io/job-name"] == "hello"
    assert pod.spec.node_name and pod.status.pod_ip
    log = core.read_namespaced_pod_log(pod.metadata.name, "default")
    assert log == "out-line\nerr-line\n"
    assert (image_root / "where.txt").read_text().strip() == str(image_root)
    status = batch.read_namespaced_job("hello", "default").status
    assert status.succeeded == 1 and status.completion_time is not None


def test_failing_command_fails_the_job_with_its_exit_code(k8s: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job("default", job_manifest("bad", ["sh", "-c", "exit 3"]))
    cond = wait_for(lambda: job_condition(batch, "bad", "Failed"), "Failed")
    assert cond.reason == "BackoffLimitExceeded"
    assert job_condition(batch, "bad", "FailureTarget") is not None
    term = only_pod(core, "bad").status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (3, "Error")
    assert batch.read_namespaced_job("bad", "default").status.failed == 1


def test_missing_executable_is_a_start_error(k8s: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job("default", job_manifest("nope", ["no-such-binary-here"]))
    wait_for(lambda: job_condition(batch, "nope", "Failed"), "Failed")
    term = only_pod(core, "nope").status.container_statuses[0].state.terminated
    assert term.exit_code == 128 and term.reason == "StartError"
    assert "executable file not found" in term.message


def test_log_follow_streams_lines_while_the_container_runs(kubeconfig: Path,
                                                          k8s: client.ApiClient,
                                                          tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    script = f"echo first; while [ ! -f {gate} ]; do sleep 0.05; done; echo second"
    client.BatchV1Api(k8s).create_namespaced_job("default", job_manifest(
        "follow", ["sh", "-c", script]))
    core = client.CoreV1Api(k8s)
    pod = wait_for(lambda: (p := only_pod(core, "follow")) and p.status.phase == "Running" and p,
                   "running pod")

    async def follow() -> list[str]:
        from kubernetes.aio import client as aclient
        from kubernetes.aio import config as aconfig
        from kubernetes.aio import watch as awatch

        api = await aconfig.new_client_from_config(str(kubeconfig))
        lines: list[str] = []
        try:
            w = awatch.Watch(return_type="str")
            async for line in w.stream(aclient.CoreV1Api(api).read_namespaced_pod_log,
                                       pod.metadata.name, "default"):
                lines.append(line)
                if line.startswith("first"):
                    # the container is still running (waiting on the gate) when this arrives
                    assert only_pod(core, "follow").status.phase == "Running"
                    gate.touch()
            await w.close()
        finally:
            await api.close()
        return lines

    assert asyncio.run(follow()) == ["first\n", "second\n"]


def test_log_of_a_pod_that_has_not_started_is_a_400(k8s: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    batch.create_namespaced_job("default", job_manifest(
        "waiting", ["true"], template_meta={"annotations": {
            "fake.sparkwing.dev/simulate": "unschedulable"}}))
    pod = wait_for(lambda: only_pod(core, "waiting"), "pod")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log(pod.metadata.name, "default")
    assert err.value.status == 400 and "waiting to start" in err.value.body


def test_list_with_label_and_field_selectors(k8s: client.ApiClient) -> None:
    batch = client.BatchV1Api(k8s)
    for name, team in (("a1", "alpha"), ("b1", "beta"), ("c1", "gamma")):
        batch.create_namespaced_job("default", job_manifest(
            name, ["true"], metadata={"labels": {"team": team, "kind": "ci"}}))

    def names(**kw: str) -> list[str]:
        return sorted(j.metadata.name for j in batch.list_namespaced_job("default", **kw).items)

    assert names(label_selector="team=alpha") == ["a1"]
    assert names(label_selector="team!=alpha,kind=ci") == ["b1", "c1"]
    assert names(label_selector="team in (alpha, gamma)") == ["a1", "c1"]
    assert names(label_selector="team notin (alpha)") == ["b1", "c1"]
    assert names(label_selector="!team") == []
    assert names(field_selector="metadata.name=b1") == ["b1"]
    assert names(field_selector="metadata.name!=b1", label_selector="kind") == ["a1", "c1"]
    assert [j.metadata.name for j in client.BatchV1Api(k8s).list_job_for_all_namespaces(
        label_selector="team=beta").items] == ["b1"]
    page = batch.list_namespaced_job("default", limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = batch.list_namespaced_job("default", limit=2, _continue=page.metadata._continue)
    assert [j.metadata.name for j in rest.items] == ["c1"]
    with pytest.raises(ApiException) as err:
        batch.list_namespaced_job("default", field_selector="spec.nonsense=1")
    assert err.value.status == 400


def test_watch_resumes_from_a_resource_version_and_410_when_too_old(image_root: Path,
                                                                   sparkwing_home: Path,
                                                                   tmp_path: Path) -> None:
    with FakeKubernetes(image_root=image_root, history=40) as small:
        from kubernetes import config

        api = config.new_client_from_config(str(small.write_kubeconfig(tmp_path / "kc")))
        batch = client.BatchV1Api(api)
        first = batch.create_namespaced_job("default", job_manifest("w1", ["true"]))
        rv = first.metadata.resource_version
        batch.create_namespaced_job("default", job_manifest("w2", ["true"]))
        w = watch.Watch()
        seen = []
        for ev in w.stream(batch.list_namespaced_job, "default", resource_version=rv,
                           timeout_seconds=5):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ("ADDED", "w2") in seen:
                w.stop()
        assert ("ADDED", "w1") not in seen  # resumed after w1's creation
        for i in range(6):  # push w1's creation out of the server's history
            batch.create_namespaced_job("default", job_manifest(f"more{i}", ["true"]))
        for i in range(6):
            wait_for(lambda i=i: job_condition(batch, f"more{i}", "Complete"), "Complete")
        with pytest.raises(ApiException) as err:
            for _ in watch.Watch().stream(batch.list_namespaced_job, "default",
                                          resource_version=rv, timeout_seconds=5):
                pass
        assert err.value.status == 410
        api.close()


def test_watch_with_selector_sees_objects_leave_it(k8s: client.ApiClient,
                                                  tmp_path: Path) -> None:
    core = client.CoreV1Api(k8s)
    # The pod runs until the watch has seen it: a pod that ended before the watch started
    # would never be in the selection.
    go = tmp_path / "go"
    client.BatchV1Api(k8s).create_namespaced_job("default", job_manifest(
        "sel", ["sh", "-c", f"while [ ! -e {go} ]; do sleep 0.05; done"]))
    w = watch.Watch()
    kinds = []
    for ev in w.stream(core.list_namespaced_pod, "default", field_selector="status.phase=Running",
                       timeout_seconds=60):
        kinds.append(ev["type"])
        if ev["type"] == "ADDED":
            go.touch()
        if ev["type"] == "DELETED":  # Running -> Succeeded leaves the selection
            w.stop()
    assert kinds == ["ADDED", "DELETED"]


def _trap_script(marker: Path) -> list[str]:
    """Writes ``<marker>.ready`` once its TERM trap is set, and ``term`` to *marker* on SIGTERM."""
    return ["sh", "-c", f"trap 'echo term > {marker}; exit 143' TERM; touch {marker}.ready; "
                        "while true; do sleep 0.05; done"]


def _trap_ready(marker: Path) -> bool:
    return marker.with_name(marker.name + ".ready").exists()


def test_foreground_delete_keeps_the_job_until_its_pod_is_gone(k8s: client.ApiClient,
                                                              tmp_path: Path) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    marker = tmp_path / "terminated"
    batch.create_namespaced_job("default", job_manifest("fg", _trap_script(marker)))
    wait_for(lambda: _trap_ready(marker), "the pod's trap set")
    body = batch.delete_namespaced_job("fg", "default", propagation_policy="Foreground")
    assert isinstance(body, dict) and body["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert body["metadata"]["deletionTimestamp"]
    wait_for(lambda: not batch.list_namespaced_job("default").items, "job removed")
    assert marker.read_text().strip() == "term"  # the pod's process got SIGTERM
    assert only_pod(core, "fg") is None


def test_background_delete_removes_the_job_at_once(k8s: client.ApiClient, tmp_path: Path) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    marker = tmp_path / "terminated"
    batch.create_namespaced_job("default", job_manifest("bg", _trap_script(marker)))
    wait_for(lambda: _trap_ready(marker), "the pod's trap set")
    body = batch.delete_namespaced_job("bg", "default", propagation_policy="Background")
    assert body["kind"] == "Status" and body["status"] == "Success"
    assert batch.list_namespaced_job("default").items == []
    wait_for(lambda: only_pod(core, "bg") is None, "pod collected")
    assert marker.read_text().strip() == "term"


def test_delete_without_policy_orphans_the_pods(k8s: client.ApiClient, tmp_path: Path) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    marker = tmp_path / "terminated"
    batch.create_namespaced_job("default", job_manifest("orph", _trap_script(marker)))
    wait_for(lambda: _trap_ready(marker), "the pod's trap set")
    batch.delete_namespaced_job("orph", "default")
    pod = only_pod(core, "orph")
    assert pod.status.phase == "Running" and not pod.metadata.owner_references
    core.delete_namespaced_pod(pod.metadata.name, "default", grace_period_seconds=5)
    wait_for(lambda: only_pod(core, "orph") is None, "pod gone")
    assert marker.exists()


def test_secret_refs_reach_the_container_and_missing_ones_wait(k8s: client.ApiClient,
                                                              image_root: Path) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
           {"name": "PLAIN", "value": "p-$(TOKEN)"},
           {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    batch.create_namespaced_job("default", job_manifest(
        "sec", ["sh", "-c", "echo $TOKEN $PLAIN $POD > env.txt"], container={"env": env}))
    waiting = wait_for(
        lambda: (p := only_pod(core, "sec")) and p.status.container_statuses
        and p.status.container_statuses[0].state.waiting, "waiting on the secret")
    wait_for(lambda: only_pod(core, "sec").status.container_statuses[0].state.waiting.reason
             == "CreateContainerConfigError", "config error")
    del waiting
    core.create_namespaced_secret("default", {"metadata": {"name": "creds"},
                                              "stringData": {"token": "s3cr3t"}})
    secret = core.read_namespaced_secret("creds", "default")
    assert base64.b64decode(secret.data["token"]) == b"s3cr3t" and secret.type == "Opaque"
    wait_for(lambda: job_condition(batch, "sec", "Complete"), "Complete")
    pod_name = only_pod(core, "sec").metadata.name
    assert (image_root / "env.txt").read_text().split() == ["s3cr3t", "p-s3cr3t", pod_name]


def test_secret_patch_and_owner_garbage_collection(k8s: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    core.create_namespaced_secret("default", {"metadata": {"name": "owned"},
                                              "stringData": {"a": "1"}})
    job = batch.create_namespaced_job("default", job_manifest("owner", ["sleep", "30"]))
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "owner", "uid": job.metadata.uid}
    core.patch_namespaced_secret("owned", "default", {"metadata": {"ownerReferences": [owner]},
                                                      "stringData": {"b": "2"}})
    patched = core.read_namespaced_secret("owned", "default")
    assert patched.metadata.owner_references[0].uid == job.metadata.uid
    assert sorted(patched.data) == ["a", "b"]
    batch.delete_namespaced_job("owner", "default", propagation_policy="Background")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_secret("owned", "default")
    assert err.value.status == 404


def test_active_deadline_fails_the_job_and_stops_the_pod(k8s: client.ApiClient,
                                                        tmp_path: Path) -> None:
    batch, core = client.BatchV1Api(k8s), client.CoreV1Api(k8s)
    marker = tmp_path / "terminated"
    batch.create_namespaced_job("default", job_manifest(
        "slow", _trap_script(marker), activeDeadlineSeconds=3))
    cond = wait_for(lambda: job_condition(batch, "slow", "Failed"), "Failed")
    assert cond.reason == "DeadlineExceeded"
    assert cond.message == "Job was active longer than specified deadline"
    assert marker.read_text().strip() == "term"
    assert only_pod(core, "slow") is None


def test_ttl_deletes_a_finished_job(k8s: client.ApiClient) -> None:
    batch = client.BatchV1Api(k8s)
    batch.create_namespaced_job("default", job_manifest("ttl", ["true"], ttlSecondsAfterFinished=0))
    wait_for(lambda: not batch.list_namespaced_job("default").items, "job collected")


def test_api_errors_are_status_objects(k8s: client.ApiClient) -> None:
    batch = client.BatchV1Api(k8s)
    batch.create_namespaced_job("default", job_manifest("dup", ["true"]))
    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job("default", job_manifest("dup", ["true"]))
    assert err.value.status == 409 and "already exists" in err.value.body
    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job("default", job_manifest("x" * 64, ["true"]))
    assert err.value.status == 422 and "metadata.name" in err.value.body
    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job("default", job_manifest(
            "always", ["true"], pod={"restartPolicy": "Always"}))
    assert err.value.status == 422 and "restartPolicy" in err.value.body
    with pytest.raises(ApiException) as err:
        batch.read_namespaced_job("ghost", "default")
    assert err.value.status == 404 and 'jobs.batch \\"ghost\\" not found' in err.value.body


def test_a_wrong_token_is_refused(fake: FakeKubernetes, tmp_path: Path) -> None:
    from kubernetes import config
    from sparkwing_k8s.testing import kubeconfig_text

    (tmp_path / "bad").write_text(kubeconfig_text(fake.url, "not-the-token"))
    api = config.new_client_from_config(str(tmp_path / "bad"))
    with pytest.raises(ApiException) as err:
        client.BatchV1Api(api).list_namespaced_job("default")
    assert err.value.status == 401
    api.close()


def test_calls_are_recorded_in_rbac_terms(fake: FakeKubernetes, k8s: client.ApiClient) -> None:
    batch = client.BatchV1Api(k8s)
    batch.create_namespaced_job("default", job_manifest("rec", ["true"]))
    batch.read_namespaced_job("rec", "default")
    client.CoreV1Api(k8s).list_namespaced_pod("default")
    calls = {(c["verb"], c["group"], c["resource"], c["subresource"]) for c in fake.calls()}
    assert {("create", "batch", "jobs", ""), ("get", "batch", "jobs", ""),
            ("list", "", "pods", "")} <= calls


def test_serve_command_writes_a_kubeconfig_and_stops_on_sigterm(tmp_path: Path,
                                                                sparkwing_home: Path) -> None:
    import signal
    import subprocess

    from kubernetes import config

    kc = tmp_path / "kc.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparkwing_k8s.testing", "serve", "--port", "0", "--kubeconfig",
         str(kc), "--image-root", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        api = config.new_client_from_config(str(kc))
        batch = client.BatchV1Api(api)
        batch.create_namespaced_job("default", job_manifest("cli", ["sleep", "60"]))
        core = client.CoreV1Api(api)
        wait_for(lambda: (p := only_pod(core, "cli")) and p.status.phase == "Running", "running")
        api.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0

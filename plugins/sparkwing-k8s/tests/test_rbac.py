"""The runner's Role in ``deploy/k8s`` grants exactly the API calls the executor makes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from sparkwing_k8s import manifests
from sparkwing_k8s.testing import ANNOTATION, FakeKubernetes

from .executor_harness import Harness, run, shell

RBAC = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "runner-rbac.yaml"


def _documents() -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def _granted() -> set[tuple[str, str, str]]:
    role = _documents()["Role/sparkwing-runner-jobs"]
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def _used(fake: FakeKubernetes) -> set[tuple[str, str, str]]:
    out = set()
    for c in fake.calls():
        if not c["resource"]:
            continue  # /version and discovery: non-resource URLs
        resource = f"{c['resource']}/{c['subresource']}" if c["subresource"] else c["resource"]
        out.add((c["group"], resource, c["verb"]))
    return out


def test_the_manifests_hang_together() -> None:
    docs = _documents()
    binding = docs["RoleBinding/sparkwing-runner-jobs"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "sparkwing-runner-jobs"}
    (subject,) = binding["subjects"]
    assert f"ServiceAccount/{subject['name']}" in docs
    assert {d["metadata"]["namespace"] for d in docs.values()} == {subject["namespace"]}
    assert docs["ServiceAccount/sparkwing-job"]["automountServiceAccountToken"] is False


def test_role_verbs_equal_the_calls_the_executor_makes(h: Harness, tmp_path: Path) -> None:
    executor = h.executor
    # 1. an attempt with secret values that runs to its end
    run(executor(), h.attempt("one", settings=shell("exit 0"), secret_values=["v"],
                              env={"TOKEN": "v"}))
    # 2. a pod that cannot pull its image: the unfinished Job is deleted
    run(executor(), h.attempt("two", settings={**shell("true"), "image_pull_grace_s": 0,
                                               "annotations": {ANNOTATION: "image-pull"}}))
    # 3. a cancelled attempt
    ex = executor()

    async def cancel() -> None:
        task = asyncio.ensure_future(ex.run_attempt(h.attempt("three", settings=shell("sleep 30"))))
        while not any("running" in m for m in h.messages("three")):
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await ex.close()

    asyncio.run(cancel())
    # 4. a Job (and Secret) already created for the attempt: followed, not created twice
    before = _used(h.fake)
    ex = executor()
    attempt = h.attempt("four", settings=shell("exit 0"), secret_values=["w"], env={"K": "w"})
    m = manifests.build(attempt, ex.settings_for(attempt))
    assert m.secret is not None
    api = config.new_client_from_config(str(h.kubeconfig))
    client.CoreV1Api(api).create_namespaced_secret("default", m.secret)
    client.BatchV1Api(api).create_namespaced_job("default", m.job)
    api.close()
    h.fake.admin("DELETE", "/fake/v1/calls")  # the test's own calls are not the executor's
    run(ex, attempt)
    used = before | _used(h.fake)
    assert used == _granted()


@pytest.fixture
def h(fake: FakeKubernetes, kubeconfig: Path, sparkwing_home: Path) -> Harness:
    return Harness(fake, kubeconfig, sparkwing_home)

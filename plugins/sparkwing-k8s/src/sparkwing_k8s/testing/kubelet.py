"""The fake cluster's scheduler and kubelet: each pod's container runs as a local process.

A pod's single node is this machine. Its container's ``command`` + ``args``
run as a subprocess in a new session, with the "image's" environment (the
server's own, or what it was started with) plus the container's ``env``
(plain values, ``secretKeyRef`` resolved from Secrets created through the
API, ``fieldRef`` for the pod's name and namespace) and ``envFrom`` secrets.
Its working directory is the container's ``workingDir`` or the server's
image root. Stdout and stderr are captured line by line into the pod's log,
as a container runtime does.

Status moves as on a real node: ``Pending`` (``PodScheduled``, then a
``ContainerCreating`` wait), ``Running`` (the container ``running``), then
``Succeeded``/``Failed`` with the container ``terminated`` (exit code,
reason ``Completed``/``Error``/``OOMKilled``/``StartError``). A container
whose memory (summed over its process session) goes over
``resources.limits.memory`` is killed and reported ``OOMKilled``, as the
kernel's cgroup limit does. Simulated failures come from
:mod:`.simulate`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkwing.waiting import within

from ..quantities import parse_quantity
from .objects import NODE_IP, NODE_NAME, image_id, valid_image
from .simulate import Directive, Simulations
from .store import ObjectStore
from .timefmt import rfc3339

#: How often container memory is sampled against its limit.
MEMORY_POLL_S = 0.25
#: How often a failed image pull or a missing Secret is retried.
RETRY_S = 0.5
#: Seconds a termination waits for a container whose process is being started.
SPAWN_WAIT_S = 10.0
#: Read size for container output.
CHUNK = 1 << 16


@dataclass
class LogLine:
    """One line of a container's log."""

    ts: float
    text: bytes


@dataclass
class ContainerLog:
    """A container's captured output, followed by ``pods/{name}/log?follow=true``."""

    lines: list[LogLine] = field(default_factory=list)
    closed: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def append(self, text: bytes) -> None:
        """Add a line (without its newline)."""
        self.lines.append(LogLine(time.time(), text))
        self._wake()

    def close(self) -> None:
        """No more lines will come (the container terminated)."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


@dataclass
class Container:
    """The running state of one pod's container."""

    namespace: str
    pod: str
    directive: Directive
    log: ContainerLog = field(default_factory=ContainerLog)
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    #: True while its process is being started: it may already run before ``proc`` is set.
    spawning: bool = False
    memory_limit: int | None = None
    #: How the container ended when something other than its own exit decided it.
    killed_as: str = ""
    terminating: bool = False
    started_at: float = 0.0
    container_id: str = field(default_factory=lambda: f"containerd://{uuid.uuid4().hex}")


def _cond(ctype: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": ctype, "status": status, "lastProbeTime": None,
                           "lastTransitionTime": rfc3339(time.time())}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    """Replace the condition of the same type (keeping its transition time if unchanged)."""
    conds = status.setdefault("conditions", [])
    for i, old in enumerate(conds):
        if old["type"] == cond["type"]:
            if old.get("status") == cond["status"]:
                cond["lastTransitionTime"] = old.get("lastTransitionTime")
            conds[i] = cond
            return
    conds.append(cond)


def _container_status(spec: Mapping[str, Any], state: dict[str, Any], *, ready: bool = False,
                      started: bool = False, cid: str = "") -> dict[str, Any]:
    image = str(spec.get("image", ""))
    out: dict[str, Any] = {
        "name": spec["name"], "state": state, "lastState": {}, "ready": ready,
        "restartCount": 0, "image": image, "imageID": image_id(image) if started else "",
        "started": started,
    }
    if cid:
        out["containerID"] = cid
    return out


class Kubelet:
    """Schedules and runs pods of the fake cluster."""

    def __init__(self, store: ObjectStore, simulations: Simulations, *,
                 image_root: Path, image_env: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.simulations = simulations
        self.image_root = image_root
        self.image_env = dict(image_env if image_env is not None else os.environ)
        self.containers: dict[tuple[str, str], Container] = {}
        self._memory_task: asyncio.Task[None] | None = None

    # -- admission ----------------------------------------------------------------------
    def admit(self, pod: Mapping[str, Any], job: Mapping[str, Any] | None) -> None:
        """Start scheduling and running a pod that was just created."""
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        spec = pod["spec"]["containers"][0]
        limit = (spec.get("resources") or {}).get("limits", {}).get("memory")
        container = Container(key[0], key[1], self.simulations.for_pod(pod, job),
                              memory_limit=int(parse_quantity(limit)) if limit else None)
        self.containers[key] = container
        container.task = asyncio.ensure_future(self._lifecycle(container))
        if container.memory_limit and (self._memory_task is None or self._memory_task.done()):
            self._memory_task = asyncio.ensure_future(self._watch_memory())

    def log_of(self, namespace: str, name: str) -> ContainerLog | None:
        """The captured log of a pod's container, if it ever ran."""
        c = self.containers.get((namespace, name))
        return c.log if c is not None else None

    def _patch(self, c: Container, change: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
        return self.store.mutate("pods", c.namespace, c.pod, change)

    def _pod(self, c: Container) -> dict[str, Any] | None:
        return self.store.get("pods", c.namespace, c.pod)

    # -- lifecycle ----------------------------------------------------------------------
    async def _lifecycle(self, c: Container) -> None:
        try:
            await self._run(c)
        except asyncio.CancelledError:
            await self._kill(c, signal.SIGKILL)
            raise
        finally:
            c.log.close()

    async def _run(self, c: Container) -> None:
        d = c.directive
        if d.failure in ("slow-scheduling", "unschedulable"):
            msg = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are " \
                  "available: 1 No preemption victims found for incoming pod."
            self._patch(c, lambda p: set_condition(p["status"], _cond(
                "PodScheduled", "False", "Unschedulable", msg)))
            if d.failure == "unschedulable":
                await asyncio.Event().wait()
            await asyncio.sleep(d.after_s)
        pod = self._pod(c)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        spec = pod["spec"]["containers"][0]
        now = time.time()

        def bind(p: dict[str, Any]) -> None:
            p["spec"]["nodeName"] = NODE_NAME
            st = p["status"]
            st.update(hostIP=NODE_IP, hostIPs=[{"ip": NODE_IP}], startTime=rfc3339(now))
            set_condition(st, _cond("PodScheduled", "True"))
            set_condition(st, _cond("PodReadyToStartContainers", "False"))
            set_condition(st, _cond("Initialized", "True"))
            set_condition(st, _cond("Ready", "False", "ContainersNotReady",
                                    f"containers with unready status: [{spec['name']}]"))
            set_condition(st, _cond("ContainersReady", "False", "ContainersNotReady",
                                    f"containers with unready status: [{spec['name']}]"))
            st["containerStatuses"] = [_container_status(
                spec, {"waiting": {"reason": "ContainerCreating"}})]

        self._patch(c, bind)
        ip = f"10.244.0.{(hash(c.pod) % 250) + 2}"

        def network(p: dict[str, Any]) -> None:
            p["status"].update(podIP=ip, podIPs=[{"ip": ip}])
            set_condition(p["status"], _cond("PodReadyToStartContainers", "True"))

        self._patch(c, network)
        image = str(spec.get("image", ""))
        if not valid_image(image):
            self._waiting(c, spec, "InvalidImageName",
                          f'Failed to apply default image tag "{image}": couldn\'t parse image '
                          f'name "{image}": invalid reference format')
            await asyncio.Event().wait()
        if d.failure == "image-pull":
            await self._image_pull_loop(c, spec, image)
        if d.failure == "config-error":
            self._waiting(c, spec, "CreateContainerConfigError",
                          'couldn\'t find key missing in Secret default/simulated')
            await asyncio.Event().wait()
        env = await self._environment(c, pod, spec)
        if env is None:
            return
        await self._start(c, pod, spec, env)

    def _waiting(self, c: Container, spec: Mapping[str, Any], reason: str, message: str) -> None:
        def change(p: dict[str, Any]) -> None:
            p["status"]["containerStatuses"] = [_container_status(
                spec, {"waiting": {"reason": reason, "message": message}})]
        self._patch(c, change)

    async def _image_pull_loop(self, c: Container, spec: Mapping[str, Any], image: str) -> None:
        ref = image if "/" in image else f"docker.io/library/{image}"
        pull = (f'failed to pull and unpack image "{ref}": failed to resolve reference '
                f'"{ref}": {ref}: not found')
        self._waiting(c, spec, "ErrImagePull", pull)
        await asyncio.sleep(max(RETRY_S, 0.5))
        while True:
            self._waiting(c, spec, "ImagePullBackOff", f'Back-off pulling image "{image}": '
                          f"ErrImagePull: {pull}")
            await asyncio.sleep(5.0)
            self._waiting(c, spec, "ErrImagePull", pull)
            await asyncio.sleep(RETRY_S)

    async def _environment(self, c: Container, pod: Mapping[str, Any],
                           spec: Mapping[str, Any]) -> dict[str, str] | None:
        """The container's environment; waits (CreateContainerConfigError) for missing Secrets."""
        ns = c.namespace
        while True:
            env = dict(self.image_env)
            env["HOSTNAME"] = c.pod
            problem = ""
            for source in spec.get("envFrom") or []:
                ref = source.get("secretRef")
                if not ref:
                    continue
                secret = self.store.get("secrets", ns, ref["name"])
                if secret is None:
                    if not ref.get("optional"):
                        problem = f'secret "{ref["name"]}" not found'
                    continue
                prefix = source.get("prefix", "")
                for k, v in _secret_values(secret).items():
                    env[prefix + k] = v
            for var in spec.get("env") or []:
                name = var["name"]
                if "valueFrom" not in var:
                    env[name] = _expand(str(var.get("value", "")), env)
                    continue
                source = var["valueFrom"]
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    secret = self.store.get("secrets", ns, ref["name"])
                    values = _secret_values(secret) if secret is not None else None
                    if values is None or ref["key"] not in values:
                        if ref.get("optional"):
                            continue
                        problem = (f'secret "{ref["name"]}" not found' if values is None else
                                   f'couldn\'t find key {ref["key"]} in Secret {ns}/{ref["name"]}')
                        break
                    env[name] = values[ref["key"]]
                elif "fieldRef" in source:
                    path = source["fieldRef"].get("fieldPath", "")
                    env[name] = {"metadata.name": c.pod, "metadata.namespace": ns,
                                 "spec.nodeName": NODE_NAME, "status.hostIP": NODE_IP,
                                 "spec.serviceAccountName":
                                     str(pod["spec"].get("serviceAccountName", "default")),
                                 }.get(path, "")
            if not problem:
                return env
            self._waiting(c, spec, "CreateContainerConfigError", problem)
            await asyncio.sleep(RETRY_S)
            current = self._pod(c)
            if current is None or current["metadata"].get("deletionTimestamp"):
                return None

    async def _start(self, c: Container, pod: Mapping[str, Any], spec: Mapping[str, Any],
                     env: dict[str, str]) -> None:
        argv = [str(a) for a in [*(spec.get("command") or []), *(spec.get("args") or [])]]
        cwd = spec.get("workingDir") or str(self.image_root)
        exe = shutil.which(argv[0], path=env.get("PATH")) if argv and "/" not in argv[0] else (
            argv[0] if argv else None)
        started = time.time()
        if not argv or exe is None or not os.access(exe, os.X_OK):
            what = argv[0] if argv else ""
            self._terminated(c, spec, 128, "StartError",
                             f'failed to create containerd task: failed to create shim task: '
                             f'OCI runtime create failed: runc create failed: unable to start '
                             f'container process: exec: "{what}": executable file not found '
                             f'in $PATH', started, started)
            return
        c.spawning = True
        try:
            c.proc = await asyncio.create_subprocess_exec(
                exe, *argv[1:], cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            c.spawning = False
            self._terminated(c, spec, 128, "StartError", f"failed to start container: {exc}",
                             started, started)
            return
        c.spawning = False
        c.started_at = started

        def running(p: dict[str, Any]) -> None:
            st = p["status"]
            st["phase"] = "Running"
            st["containerStatuses"] = [_container_status(
                spec, {"running": {"startedAt": rfc3339(started)}}, ready=True, started=True,
                cid=c.container_id)]
            set_condition(st, _cond("Ready", "True"))
            set_condition(st, _cond("ContainersReady", "True"))

        self._patch(c, running)
        readers = [asyncio.ensure_future(self._read(c.proc.stdout, c.log)),
                   asyncio.ensure_future(self._read(c.proc.stderr, c.log))]
        strike = None
        if c.directive.failure in ("oom", "evicted", "node-lost"):
            strike = asyncio.ensure_future(self._strike(c, c.directive))
        code = await c.proc.wait()
        await asyncio.gather(*readers, return_exceptions=True)
        if strike is not None:
            strike.cancel()
        self._finish(c, spec, code, started)

    async def _read(self, stream: asyncio.StreamReader | None, log: ContainerLog) -> None:
        if stream is None:
            return
        pending = b""
        while True:
            data = await stream.read(CHUNK)
            if not data:
                break
            data = pending + data
            parts = data.split(b"\n")
            pending = parts.pop()
            for part in parts:
                log.append(part)
        if pending:
            log.append(pending)

    async def _strike(self, c: Container, d: Directive) -> None:
        await asyncio.sleep(d.after_s)
        if c.proc is None or c.proc.returncode is not None:
            return
        if d.failure == "oom":
            c.killed_as = "oom"
            await self._kill(c, signal.SIGKILL)
        elif d.failure == "evicted":
            c.killed_as = "evicted"
            await self._kill(c, signal.SIGKILL)
        elif d.failure == "node-lost":
            c.killed_as = "node-lost"
            await self._kill(c, signal.SIGKILL)

    def _finish(self, c: Container, spec: Mapping[str, Any], code: int, started: float) -> None:
        finished = time.time()
        exit_code = 128 - code if code < 0 else code
        if c.killed_as == "oom":
            self._terminated(c, spec, 137, "OOMKilled", "", started, finished)
        elif c.killed_as == "evicted":
            msg = ("The node was low on resource: memory. Threshold quantity: 100Mi, "
                   "available: 51200Ki. Container runner was using 1843200Ki, request is 0, "
                   "has larger consumption of memory.")

            def evicted(p: dict[str, Any]) -> None:
                st = p["status"]
                st.update(phase="Failed", reason="Evicted", message=msg)
                set_condition(st, _cond("DisruptionTarget", "True", "TerminationByKubelet", msg))
                _not_ready(st)
                st["containerStatuses"] = [_container_status(spec, {"terminated": {
                    "exitCode": 137, "reason": "Error", "startedAt": rfc3339(started),
                    "finishedAt": rfc3339(finished), "containerID": c.container_id}},
                    started=False, cid=c.container_id)]
            self._patch(c, evicted)
        elif c.killed_as == "node-lost":
            # The node is gone: nothing reports the container's end; the pod GC fails the pod.
            msg = "PodGC: node no longer exists"

            def lost(p: dict[str, Any]) -> None:
                st = p["status"]
                set_condition(st, _cond("Ready", "Unknown", "NodeStatusUnknown",
                                        "Kubelet stopped posting node status."))
                set_condition(st, _cond("DisruptionTarget", "True", "DeletionByPodGC", msg))
                st["phase"] = "Failed"
            self._patch(c, lost)
            asyncio.get_running_loop().call_later(
                0.2, lambda: self.store.remove("pods", c.namespace, c.pod))
        else:
            self._terminated(c, spec, exit_code, "Completed" if exit_code == 0 else "Error", "",
                             started, finished)

    def _terminated(self, c: Container, spec: Mapping[str, Any], code: int, reason: str,
                    message: str, started: float, finished: float) -> None:
        def change(p: dict[str, Any]) -> None:
            st = p["status"]
            st["phase"] = "Succeeded" if code == 0 else "Failed"
            term: dict[str, Any] = {"exitCode": code, "reason": reason,
                                    "startedAt": rfc3339(started), "finishedAt": rfc3339(finished),
                                    "containerID": c.container_id}
            if message:
                term["message"] = message
            st["containerStatuses"] = [_container_status(
                spec, {"terminated": term}, started=False, cid=c.container_id)]
            _not_ready(st, "PodCompleted")
            set_condition(st, _cond("PodReadyToStartContainers", "False"))
        self._patch(c, change)

    # -- termination ----------------------------------------------------------------------
    async def terminate(self, namespace: str, name: str, grace_s: float) -> None:
        """Stop a pod's container: SIGTERM, *grace_s* to exit, then SIGKILL; wait for its end."""
        c = self.containers.get((namespace, name))
        if c is None or c.task is None:
            return
        c.terminating = True
        # A process being started may already run its command: wait until it is known, so it
        # gets SIGTERM and its grace period (cancelling the start would leave it running).
        deadline = time.monotonic() + SPAWN_WAIT_S
        while c.proc is None and c.spawning and not c.task.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if c.proc is None or c.proc.returncode is not None:
            if not c.task.done():
                c.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await c.task
            return
        await self._kill(c, signal.SIGTERM)
        try:
            await within(asyncio.shield(c.task), grace_s)
        except TimeoutError:
            await self._kill(c, signal.SIGKILL)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await c.task
        except asyncio.CancelledError:
            raise
        except Exception:
            pass

    async def _kill(self, c: Container, sig: int) -> None:
        if c.proc is None or c.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(c.proc.pid, sig)

    async def shutdown(self) -> None:
        """Kill every container (the server is stopping)."""
        if self._memory_task is not None:
            self._memory_task.cancel()
        for c in list(self.containers.values()):
            if c.proc is not None and c.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(c.proc.pid, signal.SIGKILL)
        tasks = [c.task for c in self.containers.values() if c.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- memory limits ------------------------------------------------------------------
    async def _watch_memory(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            pending = [c for c in self.containers.values()
                       if c.memory_limit and c.task is not None and not c.task.done()]
            if not pending:
                return
            limited = {c.proc.pid: c for c in pending
                       if c.proc is not None and c.proc.returncode is None}
            usage = await asyncio.to_thread(_rss_by_session, set(limited), page)
            for sid, rss in usage.items():
                c = limited[sid]
                if c.memory_limit is not None and rss > c.memory_limit and not c.killed_as:
                    c.killed_as = "oom"
                    await self._kill(c, signal.SIGKILL)
            await asyncio.sleep(MEMORY_POLL_S)


def _not_ready(st: dict[str, Any], reason: str = "ContainersNotReady") -> None:
    set_condition(st, _cond("Ready", "False", reason))
    set_condition(st, _cond("ContainersReady", "False", reason))


def _rss_by_session(sessions: set[int], page: int) -> dict[int, int]:
    """Resident memory (bytes) summed over the processes of each session in *sessions*."""
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        try:
            sid = int(fields[3])
            rss = int(fields[21])
        except (IndexError, ValueError):
            continue
        if sid in sessions:
            out[sid] = out.get(sid, 0) + rss * page
    return out


def _secret_values(secret: Mapping[str, Any]) -> dict[str, str]:
    out = {k: base64.b64decode(v).decode("utf-8", "replace")
           for k, v in (secret.get("data") or {}).items()}
    return out


def _expand(value: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` references to earlier variables, as the kubelet expands them."""
    if "$(" not in value:
        return value
    out = ""
    i = 0
    while i < len(value):
        if value.startswith("$$(", i):
            out += "$("
            i += 3
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2:end]
            out += env.get(name, value[i:end + 1])
            i = end + 1
        else:
            out += value[i]
            i += 1
    return out

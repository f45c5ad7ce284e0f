"""Following one attempt's Job: watches on the Job and its pod, the pod's log, pending guards.

Two watches per namespace and run (:class:`WatchHub`: the run's Jobs and
pods, by their ``sparkwing.dev/run-id`` label) serve every attempt of the
run; each resumes from the last resource version it saw when the server
closes it, and starts over (synthetic ``ADDED`` events of the current state)
on ``410 Gone``. An attempt reads its Job once after a long quiet spell, in
case a restarted watch missed its deletion. The pod's log is followed from
the moment its container runs; lines go to the node's log as they arrive.

The attempt is over when the Job reports ``Complete`` or ``Failed``, when
the Job disappears, or when a pending guard fires: an image that cannot be
pulled (after ``image_pull_grace_s``; an invalid image name at once), a
container that cannot be configured (after ``config_error_grace_s``), a pod
that stays unschedulable or pending (after ``pending_timeout_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sparkwing.waiting import wait_event, within

from .api import KubeApi, KubeApiError
from .classify import Problem, job_finished, pending_problem, started
from .logs import LogSink
from .naming import JOB_NAME_LABEL

#: Server-side lifetime of one watch request (it is renewed from the last resource version).
WATCH_S = 120
#: How often pending guards are checked while nothing changes.
TICK_S = 0.5
#: Longest wait for a finished Job's pod to be reported finished too.
FINISH_WAIT_S = 10.0
#: After this long without news of a Job, read it once (a missed delete would hang the attempt).
RESYNC_S = 30.0
#: Longest wait for the log stream to drain after the Job finished.
LOG_DRAIN_S = 15.0
#: Read size for streamed responses.
CHUNK = 1 << 16

ListFn = Callable[..., Awaitable[Any]]


class WatchError(Exception):
    """The API server refused a watch (anything but a resumable break)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status


@dataclass
class Ending:
    """How the monitoring ended (the executor turns this into a result)."""

    job: dict[str, Any] | None
    pod: dict[str, Any] | None
    pod_deleted: bool
    job_deleted: bool
    problem: Problem | None = None


@dataclass
class _State:
    job: dict[str, Any] | None = None
    pod: dict[str, Any] | None = None
    pod_deleted: bool = False
    job_seen: bool = False
    job_deleted: bool = False
    #: When the Job was first seen finished while its pod's end was not yet known.
    finished_at: float = 0.0
    created: float = field(default_factory=time.monotonic)
    problem_since: dict[str, float] = field(default_factory=dict)
    waiting_noted: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


async def _batches(resp: Any) -> Any:
    """Yield the complete lines (bytes, no newline) of each read of a streamed response."""
    pending = b""
    while True:
        data = await resp.content.read(CHUNK)
        if not data:
            break
        data = pending + data
        parts = data.split(b"\n")
        pending = parts.pop()
        if parts:
            yield parts
    if pending:
        yield [pending]


class _Expired(Exception):
    """The watch's resource version is too old (410): start over."""


def _event(raw: bytes, on_event: Callable[[str, dict[str, Any]], None]) -> str | None:
    """Handle one watch line; return the object's resource version."""
    event = json.loads(raw)
    kind = event.get("type")
    obj = event.get("object") or {}
    if kind == "ERROR":
        if obj.get("code") == 410:
            raise _Expired
        raise WatchError(int(obj.get("code") or 500), str(obj.get("message")))
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    if kind != "BOOKMARK":
        on_event(str(kind), obj)
    return str(rv) if rv else None


async def watch(open_fn: ListFn, namespace: str, on_event: Callable[[str, dict[str, Any]], None],
                **selectors: str) -> None:
    """Watch a collection for ever, resuming after breaks; call ``on_event(type, object)``.

    Raises :class:`WatchError` when the server refuses the watch (401, 403,
    400, ...); transport errors and server errors are retried.
    """
    rv: str | None = None
    while True:
        kwargs: dict[str, Any] = {"timeoutSeconds": WATCH_S, "allowWatchBookmarks": True,
                                  **selectors}
        if rv:
            kwargs["resourceVersion"] = rv
        try:
            resp = await open_fn(namespace, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception:
            await asyncio.sleep(1.0)  # transport error: try again from where we were
            continue
        try:
            if resp.status != 200:
                text = (await resp.read()).decode("utf-8", "replace")
                if resp.status == 410:
                    rv = None
                elif resp.status in (429, 500, 502, 503, 504):
                    await asyncio.sleep(1.0)
                else:
                    raise WatchError(resp.status, " ".join(text.split())[:300])
                continue
            async for batch in _batches(resp):
                for raw in batch:
                    if raw.strip():
                        rv = _event(raw, on_event) or rv
        except _Expired:
            rv = None
        except (WatchError, asyncio.CancelledError):
            raise
        except Exception:  # the stream broke (transport, bad chunk): resume from rv
            await asyncio.sleep(0.2)
        finally:
            resp.release()


class WatchHub:
    """Shared watches of one run's Jobs and pods in one namespace, dispatched by Job name.

    One executor serves a whole run, so two watches (Jobs and pods labelled
    with the run's id) serve every attempt instead of two per attempt. The
    latest state of each object is kept, so an attempt that subscribes after
    its Job's first events still gets them.
    """

    def __init__(self, api: KubeApi, namespace: str, selector: str) -> None:
        self.namespace = namespace
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}
        self.subscribers: dict[str, set[AttemptMonitor]] = {}
        self.tasks = [
            asyncio.ensure_future(watch(api.watch_jobs, namespace, self._on_job,
                                        labelSelector=selector)),
            asyncio.ensure_future(watch(api.watch_pods, namespace, self._on_pod,
                                        labelSelector=selector)),
        ]

    def check(self) -> None:
        """Raise the error of a watch the server refused (a 403, say)."""
        for task in self.tasks:
            if task.done() and not task.cancelled():
                task.result()

    def subscribe(self, job_name: str, monitor: AttemptMonitor) -> None:
        """Send *job_name*'s events to *monitor*, starting with what is already known."""
        self.subscribers.setdefault(job_name, set()).add(monitor)
        if job_name in self.jobs:
            monitor.on_job("ADDED", self.jobs[job_name])
        for pod in list(self.pods.values()):
            if _job_of(pod) == job_name:
                monitor.on_pod("ADDED", pod)

    def unsubscribe(self, job_name: str, monitor: AttemptMonitor) -> None:
        """Stop sending *job_name*'s events to *monitor*; forget the Job once nobody follows it."""
        subs = self.subscribers.get(job_name)
        if subs is not None:
            subs.discard(monitor)
            if not subs:
                del self.subscribers[job_name]
                self.jobs.pop(job_name, None)
                for name in [n for n, p in self.pods.items() if _job_of(p) == job_name]:
                    del self.pods[name]

    def _on_job(self, kind: str, obj: dict[str, Any]) -> None:
        name = str(obj.get("metadata", {}).get("name", ""))
        if kind == "DELETED":
            self.jobs.pop(name, None)
        elif name in self.subscribers or kind == "ADDED":
            self.jobs[name] = obj
        for m in list(self.subscribers.get(name, ())):
            m.on_job(kind, obj)

    def _on_pod(self, kind: str, obj: dict[str, Any]) -> None:
        name = str(obj.get("metadata", {}).get("name", ""))
        job = _job_of(obj)
        if kind == "DELETED":
            self.pods.pop(name, None)
        else:
            self.pods[name] = obj
        for m in list(self.subscribers.get(job, ())):
            m.on_pod(kind, obj)

    async def close(self) -> None:
        """Stop the watches."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _job_of(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata", {}).get("labels") or {}).get(JOB_NAME_LABEL, ""))


class AttemptMonitor:
    """Follows one attempt's Job and pod until the attempt is over."""

    def __init__(self, *, api: KubeApi, hub: WatchHub, job_name: str, sink: LogSink,
                 image_pull_grace_s: float, config_error_grace_s: float,
                 pending_timeout_s: float, log_timeout_s: float,
                 note: Callable[[str, str], None] | None = None) -> None:
        self.hub = hub
        self.api = api
        self.namespace = hub.namespace
        self.job_name = job_name
        self.sink = sink
        self.graces = {"image_pull": image_pull_grace_s, "config_error": config_error_grace_s,
                       "container_start": config_error_grace_s,
                       "unschedulable": pending_timeout_s}
        self.pending_timeout_s = pending_timeout_s
        self.log_timeout_s = log_timeout_s
        self.note = note or (lambda level, text: None)
        self.state = _State()
        self._log_task: asyncio.Task[None] | None = None
        self._log_pod = ""

    # -- events ----------------------------------------------------------------------------
    def on_job(self, kind: str, obj: dict[str, Any]) -> None:
        """A watch event of the attempt's Job."""
        st = self.state
        if kind == "DELETED":
            st.job_deleted = True
        else:
            st.job = obj
            st.job_seen = True
        st.changed.set()

    def on_pod(self, kind: str, obj: dict[str, Any]) -> None:
        """A watch event of one of the Job's pods."""
        st = self.state
        if kind == "DELETED":
            current = (st.pod or {}).get("metadata", {}).get("name")
            if current in (None, obj.get("metadata", {}).get("name")):
                st.pod = obj
                st.pod_deleted = True
        else:
            st.pod = obj
            st.pod_deleted = False
        st.changed.set()

    # -- the loop ----------------------------------------------------------------------------
    async def run(self) -> Ending:
        """Follow the attempt until it is over; always stops the log follower."""
        st = self.state
        self.hub.subscribe(self.job_name, self)
        quiet_since = time.monotonic()
        try:
            while True:
                self.hub.check()
                ending = self._decide()
                if ending is not None:
                    await self._drain_logs(ending)
                    return ending
                if st.changed.is_set():
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= RESYNC_S:
                    quiet_since = time.monotonic()
                    await self._resync()
                st.changed.clear()
                await wait_event(st.changed, TICK_S)
        finally:
            self.hub.unsubscribe(self.job_name, self)
            if self._log_task is not None and not self._log_task.done():
                self._log_task.cancel()
                await asyncio.gather(self._log_task, return_exceptions=True)

    async def _resync(self) -> None:
        """After a long quiet spell, check the Job still exists (a watch restart can miss a delete)."""
        try:
            self.state.job = await self.api.read_job(self.namespace, self.job_name)
            self.state.job_seen = True
        except KubeApiError as exc:
            if exc.status == 404:
                self.state.job_deleted = True
        except asyncio.CancelledError:
            raise
        except Exception:
            return

    def _start_log(self) -> None:
        """Start following the pod's log once its container has run."""
        pod = self.state.pod
        if pod is None or not started(pod) or self._log_task is not None or \
                self.state.pod_deleted:
            return
        self._log_pod = pod["metadata"]["name"]
        self._log_task = asyncio.ensure_future(self._follow(self._log_pod))
        node = pod.get("spec", {}).get("nodeName", "")
        self.note("info", f"pod {self._log_pod} running" + (f" on node {node}" if node else ""))

    def _had_pod(self) -> bool:
        """True when the Job ran a pod (seen, or counted in the Job's status)."""
        st = self.state
        status = (st.job or {}).get("status") or {}
        return st.pod is not None or any(status.get(k) for k in ("active", "succeeded", "failed"))

    def _pod_settled(self) -> bool:
        """True when the pod's end (or its deletion) is known."""
        st = self.state
        phase = (st.pod or {}).get("status", {}).get("phase")
        return st.pod_deleted or phase in ("Succeeded", "Failed")

    def _decide(self) -> Ending | None:
        st = self.state
        pod = st.pod
        self._start_log()
        if st.job_deleted or (st.job_seen and job_finished(st.job)):
            # The Job can be reported finished just before its pod's last change arrives
            # (another watch): give that change a moment, so the exit code and log are known.
            if self._pod_settled() or not self._had_pod():
                return Ending(st.job, pod, st.pod_deleted, st.job_deleted)
            st.finished_at = st.finished_at or time.monotonic()
            if time.monotonic() - st.finished_at >= FINISH_WAIT_S:
                return Ending(st.job, pod, st.pod_deleted, st.job_deleted)
            return None
        now = time.monotonic()
        problem = pending_problem(pod) if not started(pod) and not st.pod_deleted else None
        if problem is None:
            st.problem_since.clear()
            if pod is None and now - st.created >= self.pending_timeout_s:
                return Ending(st.job, None, False, False, Problem(
                    "unschedulable", "NoPod", f"no pod was created within "
                    f"{self.pending_timeout_s:g}s"))
            return None
        since = st.problem_since.setdefault(problem.failure_reason, now)
        if problem.k8s_reason not in st.waiting_noted:
            st.waiting_noted.add(problem.k8s_reason)
            self.note("warn", f"pod waiting: {problem.k8s_reason}: {problem.message}")
        grace = self.graces.get(problem.failure_reason, self.pending_timeout_s)
        if problem.immediate or now - since >= grace:
            return Ending(st.job, pod, False, False, problem)
        return None

    # -- logs -----------------------------------------------------------------------------
    async def _follow(self, pod_name: str) -> None:
        """Stream the pod's log into the sink; after a break, resume past the lines already seen."""
        seen = 0
        while True:
            try:
                resp = await self.api.follow_log(self.namespace, pod_name, self.log_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._pod_done():
                    return
                await asyncio.sleep(0.5)
                continue
            try:
                if resp.status != 200:
                    if resp.status in (400, 404):
                        return  # gone, or never ran: nothing more to read
                    await asyncio.sleep(0.5)
                    continue
                index = 0
                async for batch in _batches(resp):
                    fresh = batch[max(0, seen - index):]
                    index += len(batch)
                    if fresh:
                        seen = index
                        self.sink.lines([b.decode("utf-8", "replace") for b in fresh])
                # The stream ends when the container does; the pod watch says so soon after.
                if await self._settles(2.0):
                    return
            except asyncio.CancelledError:
                raise
            except Exception:  # the stream broke: follow again, past the lines seen
                await asyncio.sleep(0.2)
            finally:
                resp.release()

    async def _settles(self, within_s: float) -> bool:
        """Wait up to *within_s* for the pod to be reported done; return whether it was."""
        end = time.monotonic() + within_s
        while not self._pod_done():
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.05)
        return True

    def _pod_done(self) -> bool:
        st = self.state
        state = ((st.pod or {}).get("status", {}).get("containerStatuses") or [{}])[0]
        return st.pod_deleted or "terminated" in (state.get("state") or {}) or bool(
            job_finished(st.job)) or st.job_deleted

    async def _drain_logs(self, ending: Ending) -> None:
        task = self._log_task
        if task is None or task.done():
            return
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await within(asyncio.shield(task), LOG_DRAIN_S)

"""The objects a job body receives: :class:`Context` (per node) and :class:`RunContext` (per run)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SparkwingError
from ..events import LOG_NODE_ANNOTATION, LOG_NODE_SUMMARY
from ..slotted import Slotted
from . import environ
from .git import GitInfo
from .nodelog import NodeLogger
from .processes import ProcessTracker
from .secrets import Masker, SecretProvider

if TYPE_CHECKING:
    from ..dsl.refs import Ref


class Trigger(Slotted):
    """What started the run (the run's :class:`~sparkwing.triggers.contracts.TriggerMeta`).

    ``source`` is the trigger source (``manual``, ``git-hook``, ``schedule``,
    ``retry``, ``github``, ...); ``user`` who started it (the source's actor);
    ``event`` the source's event name (``pre_push``, ``cron``, ``push``, ...);
    ``delivery_id`` the source's own delivery id, when it has one; ``extra``
    anything else the source recorded (a schedule's expression, a PR number, ...).
    """

    __slots__ = ("delivery_id", "event", "extra", "source", "user")

    def __init__(self, source: str = "manual", user: str = "", event: str = "",
                 delivery_id: str = "", extra: dict[str, Any] | None = None) -> None:
        self.source = source
        self.user = user
        self.event = event
        self.delivery_id = delivery_id
        self.extra: dict[str, Any] = {} if extra is None else extra

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {"source": self.source, "user": self.user, "event": self.event,
                "delivery_id": self.delivery_id, "extra": dict(self.extra)}


class RunContext(Slotted):
    """Facts about the run, available while planning and to every job."""

    __slots__ = (
        "args",
        "dry_run",
        "git",
        "pipeline",
        "profile",
        "run_id",
        "started_at",
        "trigger",
        "workdir",
    )

    def __init__(
        self,
        run_id: str,
        pipeline: str,
        workdir: Path,
        git: GitInfo | None = None,
        trigger: Trigger | None = None,
        started_at: float = 0.0,
        args: dict[str, Any] | None = None,
        dry_run: bool = False,
        profile: str = "laptop",
    ) -> None:
        self.run_id = run_id
        self.pipeline = pipeline
        self.workdir = workdir
        self.git = GitInfo() if git is None else git
        self.trigger = Trigger() if trigger is None else trigger
        self.started_at = started_at
        self.args: dict[str, Any] = {} if args is None else args
        self.dry_run = dry_run
        self.profile = profile


class OutputNotReady(SparkwingError):
    """A ref was read before its producer finished."""


class Context:
    """What a running job (or step) uses: logging, commands, secrets, outputs.

    Commands stream every output line into the job's log as it arrives and
    run in their own process group, so a timeout or cancel kills the whole
    tree. ``ctx.sh``/``ctx.exec`` block; in ``async def`` bodies use
    ``await ctx.sh_async(...)`` / ``await ctx.exec_async(...)``.
    """

    __slots__ = (
        "_env",
        "_node_env",
        "_outputs",
        "_spawner",
        "_step_outputs",
        "_store_note",
        "attempt",
        "inputs",
        "log",
        "masker",
        "node_id",
        "run",
        "secrets",
        "step_id",
        "tracker",
    )

    def __init__(
        self,
        run: RunContext,
        node_id: str,
        inputs: Any,
        log: NodeLogger,
        *,
        masker: Masker,
        secrets: SecretProvider,
        outputs: Mapping[str, Any],
        node_env: Mapping[str, str] | None = None,
        store_note: Callable[[str, str, str], None] | None = None,
        step_id: str = "",
        attempt: int = 1,
        spawner: Any = None,
    ) -> None:
        self.run = run
        self.node_id = node_id
        self.inputs = inputs
        self.log = log
        self.masker = masker
        self.secrets = secrets
        self._outputs = outputs
        self._step_outputs: dict[str, Any] = {}
        self._node_env = dict(node_env or {})
        self._env: dict[str, str] | None = None
        self._store_note = store_note
        self.step_id = step_id
        self.attempt = attempt
        self.tracker = ProcessTracker()
        self._spawner = spawner

    def for_step(self, step_id: str) -> Context:
        """A context for one step of this job (shares log, outputs and process tracking)."""
        c = Context.__new__(Context)
        for name in Context.__slots__:
            setattr(c, name, getattr(self, name))
        c.step_id = step_id
        c.tracker = self.tracker.child()
        return c

    # -- logging -------------------------------------------------------------------
    def info(self, msg: str, **attrs: Any) -> None:
        """Write an info record to the job's log."""
        self.log.record(str(msg), step=self.step_id, attrs=attrs or None)

    def warn(self, msg: str, **attrs: Any) -> None:
        """Write a warning record."""
        self.log.record(str(msg), level="warn", step=self.step_id, attrs=attrs or None)

    def error(self, msg: str, **attrs: Any) -> None:
        """Write an error record (does not fail the job by itself)."""
        self.log.record(str(msg), level="error", step=self.step_id, attrs=attrs or None)

    def debug(self, msg: str, **attrs: Any) -> None:
        """Write a debug record when ``SPARKWING_DEBUG=1``."""
        if os.environ.get("SPARKWING_DEBUG") == "1":
            self.log.record(str(msg), level="debug", step=self.step_id, attrs=attrs or None)

    def annotate(self, msg: str) -> None:
        """Add a persistent annotation to the job (shown in ``runs status`` and the dashboard)."""
        text = self.masker.mask(str(msg))
        self.log.record(text, event=LOG_NODE_ANNOTATION, step=self.step_id)
        if self._store_note is not None:
            self._store_note(self.node_id, "annotation", text)

    def summary(self, markdown: str) -> None:
        """Set the job's markdown summary (replacing an earlier one)."""
        text = self.masker.mask(str(markdown))
        self.log.record("summary updated", event=LOG_NODE_SUMMARY, step=self.step_id)
        if self._store_note is not None:
            self._store_note(self.node_id, "summary", text)

    # -- commands ---------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """The environment commands run with: the process's, the run's facts and the job's own."""
        if self._env is None:
            env = environ.snapshot()
            env.update(
                SPARKWING_RUN_ID=self.run.run_id,
                SPARKWING_NODE_ID=self.node_id,
                SPARKWING_PIPELINE=self.run.pipeline,
                SPARKWING_BRANCH=self.run.git.branch,
                SPARKWING_COMMIT=self.run.git.sha,
                SPARKWING_TRIGGER_SOURCE=self.run.trigger.source,
                SPARKWING_REPO=self.run.git.repo,
            )
            if self.run.dry_run:
                env["SPARKWING_DRY_RUN"] = "1"
            env.update(self._node_env)
            self._env = env
        return self._env

    def add_env(self, values: Mapping[str, str]) -> None:
        """Add variables to the environment the job's commands get (the executor's ``env``)."""
        if values:
            self._node_env.update(values)
            if self._env is not None:
                self._env.update(values)

    def _cwd(self, cwd: str | os.PathLike[str] | None) -> str:
        if cwd is None:
            return str(self.run.workdir)
        p = Path(cwd)
        return str(p if p.is_absolute() else self.run.workdir / p)

    def sh(
        self,
        command: str,
        *,
        capture: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        check: bool = True,
    ) -> Any:
        """Run *command* with ``bash -c`` in the repository root (or *cwd*).

        A line of plain words starts its program directly, as bash would exec
        it (see :mod:`sparkwing.runtime.directexec`).

        ``capture=None`` streams output and returns a :class:`CommandResult`;
        ``"text"``, ``"lines"`` or ``"json"`` return stdout in that shape. A
        non-zero exit raises :class:`~sparkwing.runtime.command.CommandError`
        (command, exit code, last lines) unless ``check=False``.
        """
        from .command import run_command  # only a job that runs commands loads them

        return run_command(
            command, shell=True, log=self.log, tracker=self.tracker, step=self.step_id,
            env={**self.env, **env} if env else self.env, cwd=self._cwd(cwd), capture=capture,
            check=check,
        )

    def exec(
        self,
        argv: Sequence[str],
        *,
        capture: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        check: bool = True,
    ) -> Any:
        """Run *argv* without a shell; otherwise like :meth:`sh`."""
        from .command import run_command

        return run_command(
            list(argv), shell=False, log=self.log, tracker=self.tracker, step=self.step_id,
            env={**self.env, **env} if env else self.env, cwd=self._cwd(cwd), capture=capture,
            check=check,
        )

    async def sh_async(self, command: str, **kwargs: Any) -> Any:
        """:meth:`sh` for ``async def`` bodies (runs in a worker thread)."""
        return await asyncio.to_thread(self.sh, command, **kwargs)

    async def exec_async(self, argv: Sequence[str], **kwargs: Any) -> Any:
        """:meth:`exec` for ``async def`` bodies (runs in a worker thread)."""
        return await asyncio.to_thread(self.exec, argv, **kwargs)

    # -- secrets and outputs -----------------------------------------------------------
    def secret(self, name: str) -> str:
        """Return a secret; its value is replaced by ``***`` in every log record from now on.

        A value the controller marks unmasked (plain configuration) is not hidden.
        """
        value, masked = self.secrets.lookup(name)
        if masked:
            self.masker.add(value)
        return value

    def read_ref(self, ref: Ref[Any]) -> Any:
        """Return the output a :class:`~sparkwing.dsl.refs.Ref` points at."""
        if ref.step_id is not None and ref.node_id in (None, self.node_id):
            if ref.step_id not in self._step_outputs:
                raise OutputNotReady(
                    f'step "{ref.step_id}" of job "{self.node_id}" has not produced an output yet; '
                    f'make the reading step .needs("{ref.step_id}")'
                )
            return self._step_outputs[ref.step_id]
        node_id = ref.node_id or ""
        if node_id not in self._outputs:
            raise OutputNotReady(
                f'output of job "{node_id}" is not available to job "{self.node_id}"; '
                f'add .needs("{node_id}") (and check "{node_id}" succeeded)'
            )
        return self._outputs[node_id]

    def step_output(self, step_id: str) -> Any:
        """Return a finished step's output (``None`` when it returned nothing)."""
        return self._step_outputs.get(step_id)

    def set_step_output(self, step_id: str, value: Any) -> None:
        """Record a finished step's output (used by the orchestrator)."""
        self._step_outputs[step_id] = value

    def spawn(self, child_id: str, body: Any) -> Any:
        """Run *body* now as a new job ``<this job>/<child_id>`` and return its output.

        The child gets its own node (logs, retries, status); this job waits for
        it in its own worker slot. Raises if the child does not succeed.
        """
        if self._spawner is None:
            raise SparkwingError("ctx.spawn() is only available inside a running job")
        loop = self._spawner.loop
        future = asyncio.run_coroutine_threadsafe(self._spawner.spawn(self, child_id, body), loop)
        return future.result()

    async def spawn_async(self, child_id: str, body: Any) -> Any:
        """:meth:`spawn` for ``async def`` bodies."""
        if self._spawner is None:
            raise SparkwingError("ctx.spawn_async() is only available inside a running job")
        return await self._spawner.spawn(self, child_id, body)

    def path(self, *parts: str) -> Path:
        """Return a path inside the repository root."""
        return self.run.workdir.joinpath(*parts)

"""Git hooks that run pipelines: ``on: pre_commit``, ``on: pre_push`` and ``on: post_commit``.

:func:`install_hooks` writes one small POSIX shell script per hook type
that some pipeline declares, in the repository's hooks directory (which
honours ``core.hooksPath``). The script runs ``sparkwing run PIPELINE``
for each of that hook's pipelines, in ``sparkwing.yaml`` order, with
``SPARKWING_TRIGGER_SOURCE=git-hook`` and ``SPARKWING_TRIGGER_EVENT`` set
to the trigger name: each run goes through
:func:`sparkwing.triggers.dispatch.dispatch` as a request of the built-in
``git-hook`` source (a ``triggers`` row with that source, and the run's
trigger records the hook as its event):

* ``pre-commit`` and ``pre-push`` run every pipeline and exit 1 when any
  failed, which makes git abort the commit or push (``--no-verify`` skips
  them, as for any hook);
* ``post-commit`` runs its pipelines after the commit exists and always
  exits 0 (a failure is reported, the commit stands).

Each script carries :data:`MARKER` on its second line; files with the
marker are *managed* and sparkwing rewrites or removes them freely. A
hook file without the marker is *unmanaged*: install and uninstall never
touch it, install reports it as skipped.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SparkwingError

#: Git hook file name -> the ``on:`` trigger that selects its pipelines.
HOOKS: dict[str, str] = {
    "pre-commit": "pre_commit",
    "pre-push": "pre_push",
    "post-commit": "post_commit",
}
#: The line that marks a hook file as written (and owned) by sparkwing.
MARKER = "# Installed by sparkwing"
_PIPELINES_TAG = "# sparkwing-pipelines:"
_BLOCKS = {"pre-commit": "commit", "pre-push": "push"}


@dataclass(slots=True)
class HookStatus:
    """One hook type of one repository: what is there and what sparkwing.yaml asks for."""

    hook: str
    trigger: str
    path: Path
    #: ``managed`` (written by sparkwing), ``unmanaged`` (someone else's file) or ``absent``.
    state: str
    #: Pipelines the managed file runs (empty unless managed).
    installed: list[str] = field(default_factory=list)
    #: Pipelines declaring this trigger in sparkwing.yaml.
    declared: list[str] = field(default_factory=list)
    #: For a managed file: whether it is exactly what install would write now.
    up_to_date: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "hook": self.hook,
            "trigger": self.trigger,
            "path": str(self.path),
            "state": self.state,
            "installed": list(self.installed),
            "declared": list(self.declared),
            "up_to_date": self.up_to_date,
        }


@dataclass(slots=True)
class HookChange:
    """What install or uninstall did to one hook type."""

    hook: str
    path: Path
    #: ``installed``, ``updated``, ``unchanged``, ``removed``, ``skipped`` (an
    #: unmanaged file is in the way), ``untouched`` (unmanaged, nothing asked)
    #: or ``none`` (no file and nothing to install).
    action: str
    pipelines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {"hook": self.hook, "path": str(self.path), "action": self.action,
                "pipelines": list(self.pipelines)}


@dataclass(slots=True)
class GitRepo:
    """Where a repository's work tree and hooks directory are."""

    toplevel: Path
    hooks_dir: Path


def find_git_repo(start: Path) -> GitRepo:
    """Return the git repository containing *start*, with its hooks directory.

    The hooks directory is what git itself uses (``core.hooksPath`` when
    set, else ``.git/hooks``, shared by linked worktrees). Raises a one-line
    :class:`SparkwingError` outside a work tree or when git is missing.
    """
    start = Path(start)
    try:
        proc = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel", "--git-path", "hooks"],
            capture_output=True, text=True, check=False,
        )
    except FileNotFoundError:
        raise SparkwingError("git is not installed (git hooks need it)") from None
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 2:
        raise SparkwingError(f"{start}: not inside a git work tree (git hooks need one)")
    toplevel = Path(lines[0])
    hooks = Path(lines[1])
    if not hooks.is_absolute():
        hooks = start.resolve() / hooks
    return GitRepo(toplevel, Path(os.path.normpath(hooks)))


def declared_hooks(project: Any) -> dict[str, list[str]]:
    """Hook name -> names of the pipelines of *project* declaring its trigger, in file order."""
    if project is None:
        return {hook: [] for hook in HOOKS}
    return {
        hook: [p.name for p in project.pipelines if trigger in (p.on or {})]
        for hook, trigger in HOOKS.items()
    }


def sparkwing_executable() -> str:
    """The absolute path of the running ``sparkwing`` command, else ``sparkwing`` from PATH.

    Tried in order: ``sys.argv[0]`` when it is the ``sparkwing`` script,
    ``sparkwing`` beside the running interpreter (a virtualenv's ``bin``),
    then ``sparkwing`` on PATH; the bare name when none is found.
    """
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "sparkwing" and os.access(argv0, os.X_OK):
        return os.path.abspath(argv0)
    beside = Path(sys.executable).parent / "sparkwing"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("sparkwing")
    return os.path.abspath(found) if found else "sparkwing"


def hook_script(hook: str, pipelines: list[str], *, sparkwing: str, project_dir: str) -> str:
    """The managed script for *hook* running *pipelines*.

    *sparkwing* is the command to try first (``sparkwing`` on PATH is the
    fallback); *project_dir* is the project's directory relative to the
    work tree's top, where git runs hooks (``.`` for the top itself).
    """
    trigger = HOOKS[hook]
    names = " ".join(pipelines)
    cd = "" if project_dir in ("", ".") else f" -C {shlex.quote(project_dir)}"
    blocks = _BLOCKS.get(hook)
    missing_exit = 1 if blocks else 0
    if blocks:
        verdict = (
            f'  echo "sparkwing: {hook} pipeline(s) failed:$failed; {blocks} blocked '
            f'(git {blocks} --no-verify skips this hook)" >&2\n'
            "  exit 1\n"
        )
    else:
        verdict = (
            f'  echo "sparkwing: {hook} pipeline(s) failed:$failed (the commit stands)" >&2\n'
        )
    return (
        "#!/bin/sh\n"
        f"{MARKER}: runs the pipelines declaring on: {trigger}.\n"
        "# Managed file: `sparkwing pipeline hooks install` rewrites it and\n"
        "# `sparkwing pipeline hooks uninstall` removes it.\n"
        f"# sparkwing-hook: {hook}\n"
        f"{_PIPELINES_TAG} {names}\n"
        f"SPARKWING={shlex.quote(sparkwing)}\n"
        'if [ ! -x "$SPARKWING" ]; then\n'
        "  SPARKWING=$(command -v sparkwing 2>/dev/null) || SPARKWING=\n"
        "fi\n"
        'if [ -z "$SPARKWING" ]; then\n'
        f'  echo "sparkwing: command not found; cannot run the {hook} pipelines ({names})" >&2\n'
        f"  exit {missing_exit}\n"
        "fi\n"
        "SPARKWING_TRIGGER_SOURCE=git-hook\n"
        f"SPARKWING_TRIGGER_EVENT={trigger}\n"
        "export SPARKWING_TRIGGER_SOURCE SPARKWING_TRIGGER_EVENT\n"
        "failed=\n"
        f"for pipeline in {names}; do\n"
        f'  if ! "$SPARKWING" run "$pipeline"{cd} </dev/null; then\n'
        '    failed="$failed $pipeline"\n'
        "  fi\n"
        "done\n"
        'if [ -n "$failed" ]; then\n'
        f"{verdict}"
        "fi\n"
        "exit 0\n"
    )


def is_managed(text: str) -> bool:
    """Whether a hook file's *text* carries the sparkwing marker."""
    return any(line.startswith(MARKER) for line in text.splitlines()[:10])


def installed_pipelines(text: str) -> list[str]:
    """The pipelines a managed hook file runs, read from its header."""
    for line in text.splitlines()[:10]:
        if line.startswith(_PIPELINES_TAG):
            return line[len(_PIPELINES_TAG):].split()
    return []


class HookManager:
    """Install, remove and inspect the managed hooks of one repository (and its project)."""

    def __init__(self, repo: GitRepo, project: Any = None, *, sparkwing: str | None = None) -> None:
        self.repo = repo
        self.project = project
        self.sparkwing = sparkwing or sparkwing_executable()
        self.declared = declared_hooks(project)

    @classmethod
    def at(cls, start: Path, project: Any = None, *, sparkwing: str | None = None) -> HookManager:
        """A manager for the repository holding *project* (or *start* when there is none)."""
        where = project.root if project is not None else start
        return cls(find_git_repo(where), project, sparkwing=sparkwing)

    def path(self, hook: str) -> Path:
        """The file git runs for *hook*."""
        return self.repo.hooks_dir / hook

    def _project_dir(self) -> str:
        if self.project is None:
            return "."
        rel = os.path.relpath(Path(self.project.root).resolve(), self.repo.toplevel.resolve())
        return "." if rel == "." else rel

    def script(self, hook: str) -> str:
        """The script install would write for *hook* now."""
        return hook_script(hook, self.declared[hook], sparkwing=self.sparkwing,
                           project_dir=self._project_dir())

    def _read(self, hook: str) -> str | None:
        path = self.path(hook)
        if not path.exists() and not path.is_symlink():
            return None
        try:
            return path.read_text(errors="replace")
        except (IsADirectoryError, FileNotFoundError):
            return ""  # a dangling symlink or a directory: someone else's
        except OSError as exc:
            raise SparkwingError(f"{path}: cannot read hook ({exc.strerror})") from None

    def status(self) -> list[HookStatus]:
        """The state of every hook type."""
        out = []
        for hook, trigger in HOOKS.items():
            text = self._read(hook)
            declared = list(self.declared[hook])
            st = HookStatus(hook, trigger, self.path(hook), "absent", declared=declared)
            if text is not None and is_managed(text):
                st.state = "managed"
                st.installed = installed_pipelines(text)
                st.up_to_date = bool(declared) and text == self.script(hook)
            elif text is not None:
                st.state = "unmanaged"
            out.append(st)
        return out

    def install(self) -> list[HookChange]:
        """Write (or refresh) every declared hook; remove managed hooks nothing declares now.

        Unmanaged files are never touched: a declared hook whose file is
        unmanaged comes back as ``skipped``.
        """
        changes = []
        for hook in HOOKS:
            path = self.path(hook)
            text = self._read(hook)
            names = list(self.declared[hook])
            managed = text is not None and is_managed(text)
            if not names:
                if managed:
                    _remove(path)
                    changes.append(HookChange(hook, path, "removed", installed_pipelines(text or "")))
                else:
                    action = "none" if text is None else "untouched"
                    changes.append(HookChange(hook, path, action))
                continue
            if text is not None and not managed:
                changes.append(HookChange(hook, path, "skipped", names))
                continue
            script = self.script(hook)
            if text == script and os.access(path, os.X_OK):
                changes.append(HookChange(hook, path, "unchanged", names))
                continue
            _write_executable(path, script)
            changes.append(HookChange(hook, path, "updated" if managed else "installed", names))
        return changes

    def uninstall(self) -> list[HookChange]:
        """Remove every managed hook; unmanaged files stay as they are."""
        changes = []
        for hook in HOOKS:
            path = self.path(hook)
            text = self._read(hook)
            if text is None:
                changes.append(HookChange(hook, path, "none"))
            elif is_managed(text):
                _remove(path)
                changes.append(HookChange(hook, path, "removed", installed_pipelines(text)))
            else:
                changes.append(HookChange(hook, path, "untouched"))
        return changes


def _write_executable(path: Path, text: str) -> None:
    """Write *text* to *path* atomically with mode 0755."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.sparkwing-{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise SparkwingError(f"{path}: cannot write hook ({exc.strerror})") from None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SparkwingError(f"{path}: cannot remove hook ({exc.strerror})") from None

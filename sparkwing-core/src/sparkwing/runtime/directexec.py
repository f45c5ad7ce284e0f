"""Running a plain shell command without the ``bash -c`` in front of it, when bash would only exec it.

``bash -c "make test"`` parses the string, finds ``make`` on ``PATH`` and
replaces itself with it (bash runs the last simple command of ``-c`` without
forking). Starting bash costs about a millisecond of CPU per command, so for a
command string that is only plain words :func:`direct_command` works out what
bash would have executed, with exactly the environment bash would have
handed it, and the command runner starts that program itself.

A command qualifies only when all of these hold (anything else goes through
``bash -c`` as before):

* the string is plain words separated by spaces or tabs, made only of
  ``A-Z a-z 0-9 _ . / - + , : @ % =`` (no quotes, ``$``, globs, ``~``,
  redirections, ``;``, ``&``, ``|``, parentheses, braces, ``#``, newlines);
  the first word has no ``=`` (an assignment) and does not start with ``%``;
* the first word is not a keyword or builtin of the bash that would run it
  (read from that bash once and remembered in ``$SPARKWING_HOME/cache/bash/``,
  keyed by the binary's path, inode, size and modification time, so a new or
  upgraded bash is asked again), except ``true`` and ``false`` with no
  arguments, whose standard utilities do the same thing (exit 0 or 1, print
  nothing);
* bash is found on the command's ``PATH`` (looked up once per process and
  ``PATH`` value) and is version 5.2 or newer (the environment rules below
  are bash 5.2's);
* the environment has no variable bash reads or rewrites at start-up:
  nothing starting with ``BASH`` (``BASH_ENV``, exported functions, ...)
  and none of :data:`BASH_READS`; ``PATH`` is set and every entry of it
  absolute; ``SHLVL`` is unset or a plain number below 999;
* a first word without ``/`` is found on ``PATH`` as an executable file.

The program then gets the environment bash 5.2 gives a command it execs:
``SHLVL`` unchanged (``0`` when unset), ``PWD`` kept when it is an absolute
path naming the working directory and otherwise the physical working
directory, ``OLDPWD`` dropped unless it names a directory, and ``_`` set to
the program's path as bash found it. If starting it fails all the same (not
executable, no ``#!`` line, ...), the runner falls back to ``bash -c`` so the
error and exit code are bash's own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Mapping

from ..slotted import Slotted
from . import environ

#: Variables bash reads or sets at start-up (besides every ``BASH*`` name); with any of
#: them in the environment a command always runs through bash.
BASH_READS = frozenset({
    "ENV", "EPOCHREALTIME", "EPOCHSECONDS", "EXECIGNORE", "GLOBIGNORE", "HISTCMD", "IFS",
    "LINENO", "OPTERR", "OPTIND", "POSIXLY_CORRECT", "PPID", "PS1", "PS2", "PS4", "RANDOM",
    "SHELLOPTS", "SRANDOM",
})
#: Builtins run directly when given no arguments: their standard utilities behave the same.
SAME_AS_UTILITY = frozenset({"true", "false"})
#: The oldest bash whose start-up environment rules :func:`bash_environment` follows.
MIN_BASH = (5, 2)

# Patterns compiled on first use (re caches them), not while ``sparkwing run`` starts.
_PLAIN = (r"[ \t]*([A-Za-z0-9_./+,:@-][A-Za-z0-9_./+,:@%=-]*)"
          r"((?:[ \t]+[A-Za-z0-9_./+,:@%=-]+)*)[ \t]*")
_LEVEL = r"0|[1-9][0-9]{0,2}"
_PROBE = 'echo "${BASH_VERSINFO[0]} ${BASH_VERSINFO[1]}"; enable -a; compgen -k'


class DirectCommand(Slotted):
    """A program to start instead of ``bash -c``: its path, argv and environment."""

    __slots__ = ("argv", "env", "executable")

    def __init__(self, executable: str, argv: list[str], env: dict[str, str]) -> None:
        self.executable = executable
        self.argv = argv
        self.env = env


class _Bash(Slotted):
    """What one bash binary is: whether it is new enough, and its builtins and keywords."""

    __slots__ = ("reserved", "usable")

    def __init__(self, usable: bool, reserved: frozenset[str]) -> None:
        self.usable = usable
        self.reserved = reserved


_bash_by_path: dict[str, _Bash] = {}
_bash_by_search_path: dict[str, _Bash | None] = {}
_lock = threading.Lock()


def direct_command(command: str, env: Mapping[str, str], cwd: str) -> DirectCommand | None:
    """What ``bash -c command`` would exec, with its environment; ``None`` when bash is needed."""
    m = re.fullmatch(_PLAIN, command)
    if m is None:
        return None
    name = m.group(1)
    if "=" in name or "%" in name[:1]:
        return None
    argv = [name, *m.group(2).split()]
    env, plain = _environment(env)
    if not plain:
        return None
    dirs = env["PATH"].split(":")
    if not all(d.startswith("/") for d in dirs):
        return None
    bash = _bash_on(env["PATH"], dirs)
    if bash is None or not bash.usable:
        return None
    if "/" in name:
        executable = name
    else:
        if name in bash.reserved and not (name in SAME_AS_UTILITY and len(argv) == 1):
            return None
        found = _find(dirs, name)
        if found is None:
            return None
        executable = found
    new_env = bash_environment(env, cwd, executable)
    if new_env is None:
        return None
    return DirectCommand(executable, argv, new_env)


def bash_environment(env: Mapping[str, str], cwd: str, program: str) -> dict[str, str] | None:
    """The environment bash 5.2 hands *program* when it execs it from ``-c`` in *cwd*.

    ``None`` when ``SHLVL`` holds something other than a plain number below 999.
    """
    out = dict(env)
    level = env.get("SHLVL")
    if level is None:
        out["SHLVL"] = "0"
    elif re.fullmatch(_LEVEL, level) is None or int(level) > 998:
        return None
    pwd = env.get("PWD")
    if not (pwd and pwd.startswith("/") and (pwd == cwd or _same_file(pwd, cwd))):
        # bash asks getcwd(), which is cwd resolved; this process's own needs no resolving
        out["PWD"] = cwd if cwd == os.getcwd() else os.path.realpath(cwd)
    old = env.get("OLDPWD")
    if old is not None and not (old and os.path.isdir(os.path.join(cwd, old))):
        del out["OLDPWD"]
    out["_"] = program
    return out


def _environment(env: Mapping[str, str]) -> tuple[Mapping[str, str], bool]:
    """*env* (``os.environ`` as a plain dict), and whether bash would take it as it is.

    See :func:`_plain_environment`; ``os.environ`` is read through
    :func:`~sparkwing.runtime.environ.current`, decoded only when it changed
    and not copied (:func:`bash_environment` makes the child's copy).
    """
    if env is os.environ:
        env = environ.current()
    return env, _plain_environment(env)


def _plain_environment(env: Mapping[str, str]) -> bool:
    if "PATH" not in env:
        return False
    return not any(key.startswith("BASH") or key in BASH_READS for key in env)


def _find(dirs: list[str], name: str) -> str | None:
    """The first executable regular file *name* in *dirs*, spelled as bash spells it."""
    for d in dirs:
        path = d + name if d.endswith("/") else f"{d}/{name}"
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_mode & 0o170000) == 0o100000 and os.access(path, os.X_OK):
            return path
    return None


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _bash_on(search_path: str, dirs: list[str]) -> _Bash | None:
    """The bash ``PATH`` *search_path* finds (looked up once per process and ``PATH``)."""
    try:
        return _bash_by_search_path[search_path]
    except KeyError:
        pass
    path = _find(dirs, "bash")
    bash = None if path is None else _bash(path)
    _bash_by_search_path[search_path] = bash
    return bash


def _bash(path: str) -> _Bash:
    """What the bash at *path* is: probed once per binary, remembered on disk and per process."""
    known = _bash_by_path.get(path)
    if known is not None:
        return known
    with _lock:
        known = _bash_by_path.get(path)
        if known is None:
            known = _remembered_probe(path)
            _bash_by_path[path] = known
    return known


#: Bumped whenever the remembered probe's shape or meaning changes.
_PROBE_FORMAT = "v1"


def _remembered_probe(path: str) -> _Bash:
    """:func:`_probe`, read back from ``$SPARKWING_HOME/cache/bash/`` while the binary is unchanged.

    Starting bash to ask it costs a couple of milliseconds on every
    ``sparkwing run`` that runs a command; the answer only changes when the
    binary does. The cache is an optimisation: any fault reading or writing
    it just probes again.
    """
    from ..digests import blake2b_hex
    from ..paths import make_private_dir, sparkwing_home, write_private_text

    try:
        st = os.stat(path)
    except OSError:
        return _probe(path)
    key = f"{_PROBE_FORMAT}\0{path}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}"
    cache = sparkwing_home() / "cache" / "bash" / f"{blake2b_hex(key.encode())}.json"
    try:
        raw = json.loads(cache.read_bytes())
        usable, reserved = raw["usable"], raw["reserved"]
        if type(usable) is bool and isinstance(reserved, list) and all(
            type(word) is str for word in reserved
        ):
            return _Bash(usable, frozenset(reserved))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    probed = _probe(path)
    if not probed.reserved:
        return probed  # the probe failed (a bash always has builtins): ask again next time
    try:
        make_private_dir(cache.parent)
        write_private_text(cache, json.dumps(
            {"path": path, "usable": probed.usable, "reserved": sorted(probed.reserved)}
        ))
    except OSError:
        pass  # an unwritable home only costs the probe next time
    return probed


def _probe(path: str) -> _Bash:
    try:
        out = subprocess.run(
            [path, "-c", _PROBE], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env={}, cwd="/", timeout=10, check=True,
        ).stdout.decode("utf-8", "replace").splitlines()
        major, minor = (int(x) for x in out[0].split())
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return _Bash(False, frozenset())
    reserved = set()
    for line in out[1:]:
        word = line.split()[-1] if line.split() else ""
        if word:
            reserved.add(word)
    return _Bash((major, minor) >= MIN_BASH, frozenset(reserved))

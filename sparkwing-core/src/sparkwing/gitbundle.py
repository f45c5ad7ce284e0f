"""Shipping a working tree's code as git bundles: what `pipeline trigger` sends and a runner applies.

The sender (:class:`Sender`) turns a checkout into one commit: ``HEAD``
itself when the tree is clean, else a *snapshot* commit on top of ``HEAD``
holding every tracked and untracked, not ignored file as it is on disk.
The snapshot is deterministic (author, committer and dates are taken from
``HEAD``), so triggering the same unchanged dirty tree twice names the same
commit. A bundle then carries only the commits the receiver lacks: the
sender lists ``HEAD``'s recent ancestors, the receiver answers which of
them it holds (:func:`parse_header` is all it needs to learn what a bundle
contains), and the bundle excludes those. When the receiver holds the
commit already, nothing is sent.

The receiver side (:class:`RepoCache`) keeps a bare repository, applies
bundles in order (prerequisites first) and exports one commit's tree into
a directory.

Only ``git`` subprocesses and the standard library are used.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SparkwingError, UsageError

#: How many of ``HEAD``'s ancestors the sender offers in the negotiation.
CANDIDATES = 256
#: Namespace of the temporary refs bundles are made from and fetched into.
REF_PREFIX = "refs/sparkwing/"
#: Message of a snapshot commit (uncommitted changes on top of ``HEAD``).
SNAPSHOT_MESSAGE = "sparkwing: uncommitted changes"
_SIGNATURES = (b"# v2 git bundle\n", b"# v3 git bundle\n")


class GitError(SparkwingError):
    """A git command failed (the message has git's own last line)."""

    exit_code = 1


def _git(args: list[str], cwd: Path, *, env: dict[str, str] | None = None,
         input: bytes | None = None) -> bytes:
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, env=full_env, input=input,
                              capture_output=True, check=False)
    except FileNotFoundError:
        raise UsageError("git is not installed (needed to send or receive code)") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["(no output)"]
        raise GitError(f"git {args[0]} failed in {cwd}: {lines[-1]}")
    return proc.stdout


def _text(out: bytes) -> str:
    return out.decode("utf-8", "replace").strip()


@dataclass(frozen=True, slots=True)
class BundleHeader:
    """What a bundle says about itself: the commits it needs and the refs it carries."""

    prerequisites: tuple[str, ...]
    refs: tuple[tuple[str, str], ...]  # (sha, ref name)

    @property
    def tips(self) -> list[str]:
        """The commits the bundle's refs point at, each once."""
        return list(dict.fromkeys(sha for sha, _ in self.refs))


def parse_header(data: bytes) -> BundleHeader:
    """Read a v2/v3 git bundle's header; raise :class:`UsageError` when *data* is not a bundle."""
    if not data.startswith(_SIGNATURES):
        raise UsageError("the body is not a git bundle (v2 or v3)")
    end = data.find(b"\n\n")
    if end < 0 or data[end + 2:end + 6] != b"PACK":
        raise UsageError("the git bundle has no pack after its header")
    prereq: list[str] = []
    refs: list[tuple[str, str]] = []
    for raw in data[:end].split(b"\n")[1:]:
        line = raw.decode("utf-8", "replace")
        if line.startswith("@"):  # v3 capability
            continue
        if line.startswith("-"):
            prereq.append(_sha(line[1:].split(" ", 1)[0]))
            continue
        sha, _, name = line.partition(" ")
        refs.append((_sha(sha), name))
    if not refs:
        raise UsageError("the git bundle carries no ref")
    return BundleHeader(tuple(prereq), tuple(refs))


def _sha(text: str) -> str:
    if len(text) not in (40, 64) or any(c not in "0123456789abcdef" for c in text):
        raise UsageError(f"the git bundle names {text[:80]!r}, not a commit id")
    return text


def is_sha(text: str) -> bool:
    """Whether *text* is a full lower-case hex commit id (sha1 or sha256)."""
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The commit that stands for a checkout, and how it was made."""

    root: Path
    sha: str
    head: str
    branch: str
    dirty: bool


@dataclass
class Sender:
    """Makes the commit a checkout stands for and bundles what a receiver lacks."""

    start: Path
    root: Path = field(init=False)

    def __post_init__(self) -> None:
        try:
            top = _text(_git(["rev-parse", "--show-toplevel"], self.start))
        except GitError:
            raise UsageError(f"{self.start} is not inside a git checkout; "
                             "`pipeline trigger` sends the checkout's code") from None
        self.root = Path(top)

    def snapshot(self) -> Snapshot:
        """``HEAD``, or a deterministic snapshot commit of the uncommitted changes on top of it."""
        try:
            head = _text(_git(["rev-parse", "--verify", "HEAD^{commit}"], self.root))
        except GitError:
            raise UsageError(f"{self.root} has no commit yet; commit once, then trigger") from None
        branch = _text(_git(["rev-parse", "--abbrev-ref", "HEAD"], self.root))
        branch = "" if branch == "HEAD" else branch
        status = _git(["status", "--porcelain", "-z", "--untracked-files=all"], self.root)
        if not status.strip(b"\0"):
            return Snapshot(self.root, head, head, branch, False)
        with tempfile.TemporaryDirectory(prefix="sw-snap-") as tmp:
            index = Path(tmp) / "index"
            env = {"GIT_INDEX_FILE": str(index)}
            _git(["read-tree", head], self.root, env=env)
            _git(["add", "-A", "--", "."], self.root, env=env)
            tree = _text(_git(["write-tree"], self.root, env=env))
        who = _text(_git(["log", "-1", "--format=%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd",
                          "--date=raw", head], self.root)).split("\0")
        sig = {"GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1], "GIT_AUTHOR_DATE": who[2],
               "GIT_COMMITTER_NAME": who[3], "GIT_COMMITTER_EMAIL": who[4],
               "GIT_COMMITTER_DATE": who[5]}
        sha = _text(_git(["commit-tree", tree, "-p", head, "-m", SNAPSHOT_MESSAGE],
                         self.root, env=sig))
        return Snapshot(self.root, sha, head, branch, True)

    def resolve(self, ref: str) -> str:
        """The commit a ref (branch, tag, sha) names; :class:`UsageError` when none."""
        try:
            return _text(_git(["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"],
                              self.root))
        except GitError:
            raise UsageError(f"--ref {ref}: no such commit, branch or tag in {self.root}") from None

    def candidates(self, sha: str, limit: int = CANDIDATES) -> list[str]:
        """*sha* and its newest ancestors (at most *limit*), newest first."""
        out = _text(_git(["rev-list", f"--max-count={limit}", sha], self.root))
        return out.split()

    def bundle(self, sha: str, known: list[str]) -> bytes:
        """A bundle of *sha* without what the receiver holds (*known*, ancestors of *sha*)."""
        ref = f"{REF_PREFIX}outgoing/{sha}"
        _git(["update-ref", ref, sha], self.root)
        try:
            with tempfile.TemporaryDirectory(prefix="sw-bundle-") as tmp:
                path = Path(tmp) / "code.bundle"
                _git(["bundle", "create", "--quiet", str(path), ref, *(f"^{k}" for k in known)],
                     self.root)
                return path.read_bytes()
        finally:
            _git(["update-ref", "-d", ref], self.root)


class RepoCache:
    """A bare repository that bundles are applied to and commits exported from."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ensure(self) -> RepoCache:
        """Create the repository if it does not exist yet."""
        if not (self.path / "HEAD").is_file():
            self.path.mkdir(parents=True, exist_ok=True)
            _git(["init", "--quiet", "--bare", str(self.path)], self.path)
        return self

    def has(self, sha: str) -> bool:
        """Whether the repository holds commit *sha*."""
        if not is_sha(sha):
            return False
        proc = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=self.path,
                              capture_output=True, check=False)
        return proc.returncode == 0

    def apply(self, data: bytes) -> list[str]:
        """Fetch a bundle's commits (its prerequisites must be here); return its tips."""
        header = parse_header(data)
        with tempfile.TemporaryDirectory(prefix="sw-bundle-") as tmp:
            path = Path(tmp) / "in.bundle"
            path.write_bytes(data)
            specs = [f"+{name}:{REF_PREFIX}in/{sha}" for sha, name in header.refs]
            _git(["fetch", "--quiet", "--no-tags", str(path), *specs], self.path)
        return header.tips

    def export(self, sha: str, dest: Path) -> Path:
        """Write commit *sha*'s tree into *dest* (created; must be empty or absent)."""
        import io
        import tarfile

        if not self.has(sha):
            raise UsageError(f"commit {sha} is not in {self.path}")
        dest.mkdir(parents=True, exist_ok=True)
        data = _git(["archive", "--format=tar", sha], self.path)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
        return dest

"""Git facts about the checkout a run starts in, read cheaply from ``.git`` files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..slotted import Slotted


class GitInfo(Slotted):
    """The commit, branch and repository of the checkout (empty strings outside git)."""

    __slots__ = ("_dirty", "branch", "repo", "root", "sha")

    def __init__(self, root: Path | None = None, sha: str = "", branch: str = "",
                 repo: str = "", _dirty: bool | None = None) -> None:
        self.root = root
        self.sha = sha
        self.branch = branch
        self.repo = repo
        self._dirty = _dirty

    @property
    def short_sha(self) -> str:
        """The first 12 characters of the commit sha."""
        return self.sha[:12]

    @property
    def dirty(self) -> bool:
        """True when the work tree has uncommitted changes (runs ``git status`` once)."""
        if self._dirty is None:
            if self.root is None:
                self._dirty = False
            else:
                out = subprocess.run(
                    ["git", "status", "--porcelain", "--untracked-files=no"], cwd=self.root,
                    capture_output=True, text=True,
                )
                self._dirty = bool(out.stdout.strip())
        return self._dirty

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable dict (without the dirty check)."""
        return {"sha": self.sha, "branch": self.branch, "repo": self.repo}


def _git_dir(start: Path) -> tuple[Path, Path] | None:
    for d in (start, *start.parents):
        g = d / ".git"
        if g.is_dir():
            return d, g
        if g.is_file():  # worktree / submodule: "gitdir: <path>"
            text = g.read_text().strip()
            if text.startswith("gitdir:"):
                p = Path(text[7:].strip())
                return d, (p if p.is_absolute() else (d / p).resolve())
    return None


def _read_ref(git_dir: Path, ref: str) -> str:
    candidates = [git_dir]
    common = git_dir / "commondir"
    if common.is_file():
        candidates.append((git_dir / common.read_text().strip()).resolve())
    for base in candidates:
        p = base / ref
        if p.is_file():
            return p.read_text().strip()
        packed = base / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0]
    return ""


def _repo_name(git_dir: Path) -> str:
    config = git_dir / "config"
    if not config.is_file():
        return ""
    in_origin = False
    for line in config.read_text(errors="replace").splitlines():
        s = line.strip()
        if s.startswith("["):
            in_origin = s == '[remote "origin"]'
        elif in_origin and s.startswith("url"):
            url = s.split("=", 1)[1].strip()
            tail = url.rstrip("/").removesuffix(".git")
            parts = tail.replace(":", "/").split("/")
            return "/".join(parts[-2:]) if len(parts) >= 2 else tail
    return ""


def read_git_info(start: Path) -> GitInfo:
    """Read sha, branch and ``owner/name`` of the checkout containing *start*."""
    found = _git_dir(start.resolve())
    if found is None:
        return GitInfo()
    root, git_dir = found
    head = (git_dir / "HEAD").read_text().strip() if (git_dir / "HEAD").is_file() else ""
    branch, sha = "", ""
    if head.startswith("ref:"):
        ref = head[4:].strip()
        branch = ref.removeprefix("refs/heads/")
        sha = _read_ref(git_dir, ref)
    else:
        sha = head
    return GitInfo(root=root, sha=sha, branch=branch, repo=_repo_name(git_dir))

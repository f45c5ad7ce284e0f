"""The controller's code store: git bundles sent by `pipeline trigger`, kept in the artifact store.

Nothing here runs git. A bundle's header (:func:`sparkwing.gitbundle.parse_header`)
names the commits it needs (prerequisites) and the commits its refs point
at (tips). The store keeps each bundle once as a content-addressed blob of
the profile's artifact (cache) store, and one small record per tip:

    code/tips/<sha>.json   {"bundle": <digest>, "prerequisites": [...], "created": <unix>}

So a controller on S3, GCS or Azure keeps code where it keeps everything
else, and several controllers over one store share it. A commit is
*known* when it is the tip of a stored bundle; a bundle is accepted only
when each prerequisite is known, so every known commit can be rebuilt by
applying the chain :meth:`CodeStore.chain` returns, prerequisites first.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparkwing.errors import NotFoundError, UsageError
from sparkwing.gitbundle import is_sha, parse_header

if TYPE_CHECKING:
    from sparkwing.storage.contracts import ArtifactStore

#: Key prefix of the tip records in the artifact store.
TIPS = "code/tips/"
#: Largest bundle accepted by default (bytes).
DEFAULT_MAX_BUNDLE = 256 * 1024 * 1024


class MissingPrerequisites(UsageError):
    """A bundle needs commits the store does not hold (the sender must include them)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"the bundle needs commits this controller lacks: {', '.join(missing)}; "
                         "send a bundle that includes them")
        self.missing = missing


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing one bundle did."""

    digest: str
    tips: list[str]
    size: int


class CodeStore:
    """Bundles and tip records over an :class:`~sparkwing.storage.contracts.ArtifactStore`."""

    def __init__(self, blobs: ArtifactStore) -> None:
        self.blobs = blobs

    def known(self, commits: list[str]) -> list[str]:
        """Those of *commits* that are tips of stored bundles, in the order given."""
        return [c for c in dict.fromkeys(commits) if is_sha(c) and self.blobs.exists(_key(c))]

    def store(self, data: bytes) -> Stored:
        """Keep a bundle and record its tips; raise :class:`MissingPrerequisites` if it cannot apply."""
        header = parse_header(data)
        missing = [p for p in header.prerequisites if not self.blobs.exists(_key(p))]
        if missing:
            raise MissingPrerequisites(missing)
        digest = self.blobs.put_blob(data)
        record = json.dumps({"bundle": digest, "prerequisites": list(header.prerequisites),
                             "created": time.time()}).encode()
        for tip in header.tips:
            if not self.blobs.exists(_key(tip)):  # the first bundle of a commit stays its source
                self.blobs.put(_key(tip), record)
        return Stored(digest, header.tips, len(data))

    def chain(self, sha: str) -> list[str]:
        """Digests of the bundles that rebuild commit *sha*, prerequisites first."""
        if not is_sha(sha):
            raise UsageError(f"{sha[:80]!r} is not a commit id (40 or 64 lower-case hex digits)")
        order: list[str] = []
        seen: set[str] = set()
        stack: list[tuple[str, bool]] = [(sha, False)]
        while stack:
            commit, expanded = stack.pop()
            bundle, prerequisites = self._record(commit)
            if expanded:
                if bundle not in order:
                    order.append(bundle)
                continue
            if commit in seen:
                continue
            seen.add(commit)
            stack.append((commit, True))
            stack.extend((p, False) for p in prerequisites if p not in seen)
        return order

    def bundle(self, digest: str) -> bytes:
        """The bytes of a stored bundle."""
        if not self.blobs.has_blob(digest):
            raise NotFoundError(f"no bundle {digest[:80]!r} on this controller")
        return self.blobs.get_blob(digest)

    def _record(self, sha: str) -> tuple[str, list[str]]:
        """The digest of the bundle a tip came in, and that bundle's prerequisites."""
        try:
            raw = self.blobs.get(_key(sha))
        except NotFoundError:
            raise NotFoundError(f"commit {sha} was never sent to this controller") from None
        record = json.loads(raw)
        bundle = record.get("bundle") if isinstance(record, dict) else None
        prereq = record.get("prerequisites") if isinstance(record, dict) else None
        if not isinstance(bundle, str) or not isinstance(prereq, list):
            raise NotFoundError(f"commit {sha}: its record in the code store is unreadable")
        return bundle, [str(p) for p in prereq]


def _key(sha: str) -> str:
    return f"{TIPS}{sha}.json"

"""Commit statuses (``POST /repos/{repo}/statuses/{sha}``), the report made with a token.

Any token with ``repo:status`` (classic) or *Commit statuses: write*
(fine-grained) may post them. Calls go through :class:`~.api.ApiClient`
(retries, rate limits); nothing here raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .api import ApiClient

#: GitHub caps a status description at 140 characters.
MAX_DESCRIPTION = 140


def clip(text: str, limit: int) -> str:
    """*text* cut to *limit* characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(slots=True)
class StatusClient:
    """Posts commit statuses with *token* through *client*."""

    token: str
    client: ApiClient = field(default_factory=ApiClient)

    @property
    def problems(self) -> list[str]:
        """Calls that did not succeed (one line each, for the caller to log)."""
        return self.client.problems

    def post_status(self, repo: str, sha: str, *, state: str, context: str,
                    description: str, target_url: str = "") -> bool:
        """Post one status; ``True`` once GitHub accepted it, ``False`` after giving up."""
        body: dict[str, Any] = {"state": state, "context": context,
                                "description": clip(description, MAX_DESCRIPTION)}
        if target_url:
            body["target_url"] = target_url
        resp = self.client.call("POST", f"/repos/{repo}/statuses/{sha}", f"Bearer {self.token}",
                                body)
        if resp.ok:
            return True
        self.client.problems.append(f"github status {state} for {repo}@{sha[:12]} not posted: "
                                    f"{resp.describe()}")
        return False

"""The node claim a process writes under: its environment variable and request header.

A runner starts ``sparkwing node exec`` for a node attempt it claimed with
``SPARKWING_CLAIM`` set to that claim, in one line of URL-encoded
``key=value`` pairs::

    run=RUN&node=NODE&attempt=K&seq=S&holder=HOLDER

The controller stores (:mod:`.client`) send the same text as the
``X-Sparkwing-Claim`` header on every write they make, and the controller
accepts such a write only while the node queue row ``(run, node, attempt)``
is still ``claimed`` by ``holder`` in claim ``seq``; otherwise it answers
409 ``claim_lost`` and the client raises :class:`ClaimLostError`. Without
the variable nothing is sent and nothing is checked. Standard library only
(on ``sparkwing run``'s start-up path).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from ...errors import StoreError

#: Environment variable a runner sets for ``node exec``: the claim its writes are fenced by.
CLAIM_ENV = "SPARKWING_CLAIM"
#: Request header carrying that claim on the store clients' writes.
CLAIM_HEADER = "X-Sparkwing-Claim"
#: Error code of a write refused because its claim is not current.
CLAIM_LOST = "claim_lost"
#: Longest header value accepted.
MAX_CLAIM_TEXT = 2000

_KEYS = ("run", "node", "attempt", "seq", "holder")


class ClaimLostError(StoreError):
    """A write fenced by a node claim that is no longer current: stop the attempt's work."""


@dataclass(frozen=True, slots=True)
class WriteClaim:
    """A node attempt's claim: the row ``(run_id, node_id, attempt)`` and its fence."""

    run_id: str
    node_id: str
    attempt: int
    seq: int
    holder: str

    def text(self) -> str:
        """The ``SPARKWING_CLAIM`` / ``X-Sparkwing-Claim`` form of the claim."""
        return urlencode({"run": self.run_id, "node": self.node_id, "attempt": self.attempt,
                          "seq": self.seq, "holder": self.holder})

    @classmethod
    def parse(cls, text: str) -> WriteClaim:
        """Read :meth:`text`'s form; :class:`ValueError` saying what is wrong."""
        if len(text) > MAX_CLAIM_TEXT:
            raise ValueError(f"longer than {MAX_CLAIM_TEXT} characters")
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise ValueError(f"expected {'&'.join(k + '=...' for k in _KEYS)}") from None
        values = dict(pairs)
        if len(values) != len(pairs) or sorted(values) != sorted(_KEYS):
            raise ValueError(f"expected exactly the keys {', '.join(_KEYS)}")
        numbers: dict[str, int] = {}
        for key in ("attempt", "seq"):
            raw = values[key]
            if not raw.isdigit() or int(raw) < 1:
                raise ValueError(f"{key} must be an integer of at least 1")
            numbers[key] = int(raw)
        for key in ("run", "node", "holder"):
            if not values[key]:
                raise ValueError(f"{key} is empty")
        return cls(values["run"], values["node"], numbers["attempt"], numbers["seq"],
                   values["holder"])

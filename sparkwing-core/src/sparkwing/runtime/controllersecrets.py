"""Secrets of a run on a ``controller:`` profile: the controller's runtime read route.

``ctx.secret(name)`` in a run whose profile has a ``controller:`` block
(a laptop's team profile, the profile a runner gives the runs it starts,
``node exec`` of the queue executor) reads ``GET /api/v1/secrets/{name}``
with the profile's token, which needs scope ``secrets.read`` (the
``runner`` bundle holds it). The value is kept in memory for the rest of
the process (one request per secret and run) and, when the controller
says it is masked, hidden from the run's logs like a local secret.

The client is the remote stores' (:class:`~sparkwing.storage.controller.client.ControllerClient`:
stdlib only, the same retries and one-line errors), opened on the first
secret read, so a run that reads none never talks to it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..errors import NotFoundError, SparkwingError
from .secrets import SecretMissing

if TYPE_CHECKING:
    from ..storage.controller.client import ControllerClient


class SecretUnavailable(SparkwingError):
    """The controller could not hand out a secret (refused token, missing scope, no key, down)."""


class ControllerSecretSource:
    """Secrets read from the controller at *url* with the profile's token (see the module)."""

    def __init__(self, url: str, *, token: str = "", token_env: str = "",
                 profile: str = "") -> None:
        self.url = url
        self.token = token
        self.token_env = token_env
        self.profile = profile
        self._client: ControllerClient | None = None
        self._values: dict[str, tuple[str, bool]] = {}
        self._lock = threading.Lock()

    def _open(self) -> ControllerClient:
        if self._client is None:
            from ..storage.controller.client import ControllerClient

            self._client = ControllerClient(self.url, token=self.token, token_env=self.token_env)
        return self._client

    def lookup(self, name: str) -> tuple[str, bool]:
        """``(value, masked)`` from the controller; :class:`SecretMissing` when it has none."""
        from urllib.parse import quote

        with self._lock:
            if name in self._values:
                return self._values[name]
            client = self._open()
        where = f'profile "{self.profile}"' if self.profile else "the profile"
        try:
            # a name may hold "/" (github/token): the route matches it unescaped
            answer = client.request("GET", f"/secrets/{quote(name, safe='/')}")
        except NotFoundError:
            raise SecretMissing(
                f'secret "{name}" is not set on controller {client.url} ({where}); set it '
                f"there with `sparkwing controller secret set {name}`") from None
        except SparkwingError as exc:
            raise SecretUnavailable(f'secret "{name}" ({where}): {exc}') from None
        if not isinstance(answer, dict) or not isinstance(answer.get("value"), str):
            raise SecretUnavailable(f'secret "{name}": controller {client.url} answered '
                                    "without a value")
        found = (str(answer["value"]), bool(answer.get("masked", True)))
        with self._lock:
            self._values[name] = found
        return found

    def close(self) -> None:
        """Close the client's connections (reads after this open a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

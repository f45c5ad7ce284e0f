"""The remote stores' client of the controller's JSON API (standard library only).

It sits on ``sparkwing run``'s start-up path when the profile's stores are
a controller; the connections, the bearer token, the retries and the
reading of error bodies are :mod:`sparkwing.controllerhttp`'s (the transport
the runners' queue client uses too). Connections are kept alive in a small
pool shared by the threads of the process.

Retries: a connection that cannot be opened is retried with backoff for
every call (nothing was sent), for up to :data:`CONNECT_RETRY_S` when it is
refused (a restarting controller refuses connections for a few seconds), as
is a request that could not be written to a reused connection (it never
reached a handler); a request that fails after it was sent
(reset, no answer, 502/503/504) is retried only when the call is
idempotent. Errors are one-line :class:`~sparkwing.errors.SparkwingError`
subclasses: the controller's ``not_found`` becomes
:class:`~sparkwing.errors.NotFoundError`, ``conflict``
:class:`~sparkwing.errors.ConflictError` (a ``StoreError``), ``invalid`` :class:`ValueError`,
``rejected`` :class:`~sparkwing.errors.UsageError`, ``claim_lost``
:class:`~.claim.ClaimLostError`; 401, 403 and an
unreachable controller are :class:`~sparkwing.errors.StoreError` naming the
URL and, for 403, the missing scope.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from ...controllerhttp import (
    Answer,
    ControllerURL,
    ErrorBody,
    Retry,
    Transport,
    Unreachable,
    error_body,
)
from ...controllerhttp import seg as seg
from ...errors import ConfigError, ConflictError, NotFoundError, StoreError, UsageError
from .claim import CLAIM_ENV, CLAIM_HEADER, CLAIM_LOST, ClaimLostError, WriteClaim

#: Environment variable holding the token when the profile names none.
DEFAULT_TOKEN_ENV = "SPARKWING_TOKEN"
#: Largest request body the controller accepts (bytes); bigger batches are split.
MAX_BODY = 1 << 20
#: Content type of raw byte bodies (artifact blobs and cache entries).
OCTETS = "application/octet-stream"
#: Seconds to wait for a connection or an answer.
TIMEOUT_S = 60.0
#: Attempts per call (the first included) and the first backoff (doubling).
ATTEMPTS = 5
BACKOFF_S = 0.1
#: Seconds a call keeps trying a connection that is refused (nothing listens: the controller
#: is restarting); other connection errors (a name that does not resolve, ...) get the
#: ATTEMPTS quick tries.
CONNECT_RETRY_S = 15.0


class ControllerClient:
    """JSON requests to one controller, with the profile's token.

    *token* wins over *token_env* (the name of an environment variable,
    default ``SPARKWING_TOKEN``, read once here). Raises
    :class:`~sparkwing.errors.ConfigError` for a URL that is not
    ``http(s)://HOST[:PORT][/PREFIX]``. *claim* fences every write (see
    :mod:`.claim`); by default the one ``$SPARKWING_CLAIM`` holds, if any
    (:class:`~sparkwing.errors.ConfigError` when it is malformed).
    """

    def __init__(self, url: str, *, token: str = "", token_env: str = "",
                 timeout: float = TIMEOUT_S, claim: WriteClaim | None = None) -> None:
        try:
            parsed = ControllerURL.parse(url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.url = parsed.base
        self.token_env = token_env or DEFAULT_TOKEN_ENV
        self.token = token or os.environ.get(self.token_env, "")
        self._token_source = "the profile" if token else f"${self.token_env}"
        self.timeout = timeout
        self.claim = claim if claim is not None else _claim_from_env()
        self._claim_headers = {CLAIM_HEADER: self.claim.text()} if self.claim else {}
        self._http = Transport(parsed, token=self.token, timeout=timeout, send_origin=True,
                               retry=Retry(ATTEMPTS, BACKOFF_S, CONNECT_RETRY_S))

    def close(self) -> None:
        """Close every kept-alive connection."""
        self._http.close()

    def request(self, method: str, path: str, body: Any = None, *,
                query: Mapping[str, Any] | None = None, idempotent: bool | None = None) -> Any:
        """Send one call and return its JSON answer (``None`` for an empty one).

        *path* is below ``/api/v1`` with segments already escaped (see :func:`seg`);
        *idempotent* defaults to true for GET, PUT and DELETE.
        """
        answer = self._call(method, path, query, idempotent, lambda target, idem, headers:
                            self._http.send_json(method, target, body, idempotent=idem,
                                                 headers=headers))
        if answer.ok:
            return answer.json()
        raise self._refused(method, path, error_body(answer))

    def request_bytes(self, method: str, path: str, body: bytes | None = None, *,
                      query: Mapping[str, Any] | None = None, idempotent: bool | None = None,
                      absent_ok: bool = False) -> Answer:
        """Send *body* as ``application/octet-stream``; return the answer (its bytes as sent).

        As :meth:`request` otherwise; with *absent_ok* a 404 is returned, not raised
        (a ``HEAD`` answer has no error body to tell it by).
        """
        answer = self._call(method, path, query, idempotent, lambda target, idem, headers:
                            self._http.send(method, target, body,
                                            content_type=OCTETS if body is not None else "",
                                            accept=f"{OCTETS}, application/json",
                                            idempotent=idem, headers=headers))
        if answer.ok or (absent_ok and answer.status == 404):
            return answer
        raise self._refused(method, path, error_body(answer))

    def _call(self, method: str, path: str, query: Mapping[str, Any] | None,
              idempotent: bool | None,
              send: Callable[[str, bool, Mapping[str, str] | None], Answer]) -> Answer:
        """Build the target, send through *send* with the claim header on writes; one line
        when the controller is unreachable."""
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        target = path
        if query:
            target += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        try:
            return send(target, idempotent,
                        self._claim_headers if method not in ("GET", "HEAD") else None)
        except Unreachable as exc:
            raise StoreError(f"controller {self.url} is unreachable ({exc.detail}) for {method} "
                             f"/api/v1{path}; is `sparkwing controller serve` running there?"
                             ) from None

    def _refused(self, method: str, path: str, err: ErrorBody) -> Exception:
        status, code, message = err.status, err.code, err.message
        where = f"{method} /api/v1{path}"
        if status == 401:
            if not self.token:
                return StoreError(f"controller {self.url} needs a token for {where}: set "
                                  f"${self.token_env} (or the profile's controller token_env)")
            return StoreError(f"controller {self.url} refused the token from "
                              f"{self._token_source}: {message}")
        if status == 403 and code == "missing_scope":
            return StoreError(
                f"controller {self.url}: the token from {self._token_source} "
                f"({err.fields.get('principal') or '?'}) lacks scope "
                f"{err.fields.get('missing_scope')!r}, needed by {where}")
        if code == CLAIM_LOST and status == 409:
            return ClaimLostError(f"controller {self.url} refused {where}: {message}")
        if code == "not_found" and status == 404:
            return NotFoundError(message)
        if code == "conflict":
            return ConflictError(message)
        if code == "invalid":
            return ValueError(message)
        if code == "rejected":
            return UsageError(message)
        return StoreError(f"controller {self.url}: {where} answered {status}: {message}")


def _claim_from_env() -> WriteClaim | None:
    """The claim ``$SPARKWING_CLAIM`` holds, ``None`` when unset or empty."""
    text = os.environ.get(CLAIM_ENV, "").strip()
    if not text:
        return None
    try:
        return WriteClaim.parse(text)
    except ValueError as exc:
        raise ConfigError(f"${CLAIM_ENV} is not a node claim: {exc} "
                          f"(expected run=R&node=N&attempt=K&seq=S&holder=H)") from None

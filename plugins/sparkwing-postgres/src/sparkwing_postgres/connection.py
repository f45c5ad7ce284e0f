"""Connecting to PostgreSQL: the engine and pool, the first-contact check, and retries.

* :func:`create_engine` builds the SQLAlchemy engine (psycopg 3, a
  ``QueuePool`` of ``pool_size`` connections plus as many overflow ones,
  the schema on every connection's ``search_path``).
* :func:`check_connection` is the first contact at profile load: a bad
  host, a refused password or a missing database becomes one line naming
  the host (never the password).
* :class:`Retrier` runs one transaction, retrying it with backoff while the
  database is unreachable or restarting (and on deadlocks and
  serialization failures), for at most ``retry_timeout`` seconds; then it
  fails with a :class:`~sparkwing.errors.StoreError` that says so.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sparkwing.errors import StoreError

from .settings import PgSettings

T = TypeVar("T")

#: SQLSTATEs worth retrying besides the whole ``08`` (connection exception) class:
#: serialization failure, deadlock, admin/crash shutdown, cannot connect now,
#: too many connections.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "53300"})

#: First and largest pause between retries, in seconds.
BACKOFF_FIRST, BACKOFF_MAX = 0.05, 2.0

#: Seconds a pooled connection lives before it is replaced.
POOL_RECYCLE_S = 300


def create_engine(settings: PgSettings) -> Any:
    """Return the SQLAlchemy engine for *settings* (nothing is connected yet)."""
    import sqlalchemy as sa

    return sa.create_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_recycle=POOL_RECYCLE_S,
        pool_timeout=max(30.0, settings.connect_timeout),
        connect_args=dict(settings.connect_args),
    )


def reason(exc: BaseException, settings: PgSettings | None = None) -> str:
    """One line describing a driver error, with any password scrubbed."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split()) or type(orig).__name__
    for prefix in ("(psycopg.OperationalError) ", "connection failed: "):
        text = text.removeprefix(prefix)
    text = text.split(" (Background on this error", 1)[0]
    if settings is not None:
        password = settings.url.password
        if password:
            text = text.replace(str(password), "***")
    return text


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of a driver error wrapped by SQLAlchemy (``""`` when there is none)."""
    orig = getattr(exc, "orig", None) or exc
    return str(getattr(orig, "sqlstate", "") or "")


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry of the whole transaction may cure.

    Lost or refused connections (no SQLSTATE, or class ``08``), a server
    shutting down or starting up, too many connections, deadlocks and
    serialization failures.
    """
    import sqlalchemy.exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    state = sqlstate(exc)
    if state:
        return state.startswith("08") or state in TRANSIENT_SQLSTATES
    import psycopg

    orig = getattr(exc, "orig", None) or exc
    return isinstance(orig, psycopg.OperationalError)


def check_connection(engine: Any, settings: PgSettings) -> None:
    """Connect once; a failure is a one-line :class:`StoreError` naming the host."""
    import sqlalchemy.exc as sa_exc

    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa_exc.DBAPIError as exc:
        raise StoreError(
            f"{settings.origin}: cannot connect to {settings.display}: {reason(exc, settings)}"
        ) from None


class Retrier:
    """Runs transactions on an engine, retrying transient failures for a bounded time.

    The time budget is per outage, not per call: once the database has
    been unreachable for ``retry_timeout`` seconds, every further call tries
    once and fails at once until one succeeds (so a run gives up in about
    ``retry_timeout``, however many writes it has queued).
    """

    def __init__(self, engine: Any, settings: PgSettings) -> None:
        self.engine = engine
        #: The same pool in autocommit mode: one round trip for a single statement.
        self.autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.settings = settings
        self._log: Any = None
        self._outage_since = 0.0  # time.monotonic() of the first failure; 0 when reachable

    def _warn(self, message: str, **attrs: Any) -> None:
        if self._log is None:
            from sparkwing.proglog import get_logger

            self._log = get_logger("sparkwing.postgres", store=self.settings.display)
        self._log.warning(message, **attrs)

    def run(self, body: Callable[[Any, int], T], *, autocommit: bool = False) -> T:
        """Run ``body(connection, attempt)`` in one transaction and commit; retry when transient.

        With *autocommit* there is no transaction around the body: each
        statement commits by itself (for bodies of one statement, or of
        statements that need not be atomic together), saving the ``BEGIN``
        and ``COMMIT`` round trips.

        *attempt* counts from 0; a body may use it to recognise its own
        earlier commit whose acknowledgement was lost. Errors that are not
        transient, and every :class:`~sparkwing.errors.SparkwingError` the
        body raises, propagate at once (a driver error as a
        :class:`StoreError`).
        """
        import sqlalchemy.exc as sa_exc

        attempt = 0
        delay = BACKOFF_FIRST
        while True:
            try:
                engine = self.autocommit_engine if autocommit else self.engine
                with engine.begin() as conn:
                    result = body(conn, attempt)
                if self._outage_since:
                    self._warn("state store reachable again",
                               after_s=round(time.monotonic() - self._outage_since, 2))
                    self._outage_since = 0.0
                return result
            except sa_exc.DBAPIError as exc:
                if not is_transient(exc):
                    raise StoreError(f"{self.settings.where}: {reason(exc, self.settings)}"
                                     ) from None
                now = time.monotonic()
                if not self._outage_since:
                    self._outage_since = now
                    self._warn("state store unreachable; retrying",
                               error=reason(exc, self.settings),
                               retry_timeout_s=self.settings.retry_timeout)
                deadline = self._outage_since + self.settings.retry_timeout
                if now >= deadline:
                    raise StoreError(
                        f"{self.settings.where} unreachable after "
                        f"{now - self._outage_since:.0f} s of retries "
                        f"(retry_timeout {self.settings.retry_timeout:g} s): "
                        f"{reason(exc, self.settings)}"
                    ) from None
                time.sleep(min(delay * (0.5 + random.random()), max(0.0, deadline - now)))
                delay = min(delay * 2, BACKOFF_MAX)
                attempt += 1
            except sa_exc.TimeoutError:
                raise StoreError(
                    f"{self.settings.where}: no free connection in the pool within "
                    f"{max(30.0, self.settings.connect_timeout):g} s (raise pool_size)"
                ) from None

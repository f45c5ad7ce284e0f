"""Change notifications: ``NOTIFY`` from writers, one ``LISTEN`` connection for readers.

Writers (the store) send ``pg_notify(<channel>, '<what>:<run id>')`` in the
same transaction as a write that a live view shows: a run created, a run
updated or reaped, an event appended. PostgreSQL delivers it on commit and
folds duplicates within one transaction. A notification is only a hint:
readers re-query the tables (payloads carry ids, never rows).

:class:`ChangeFeed` is the reader side (the dashboard uses it through
``PostgresStateStore.change_feed()``): a daemon thread holding one
dedicated connection outside the pool that ``LISTEN`` s on the schema's
channel and calls back for every notification. It checks the connection
with ``SELECT 1`` after 30 s of silence, reconnects with backoff (0.5 s
doubling up to 60 s) when it drops, and calls back with an empty payload
after every (re)connection, since notifications sent while it was away are
lost. :attr:`ChangeFeed.live` tells whether it is listening now; while it is
not, readers fall back to polling.

``notify: false`` in the profile (needed behind PgBouncer in transaction
mode) turns both sides off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .settings import PgSettings

#: Seconds between liveness checks of an idle listening connection.
IDLE_CHECK_S = 30.0
#: First and largest reconnection delay (seconds).
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.5, 60.0
#: How often the listening thread looks at its stop flag (seconds).
_WAKE_S = 0.5
#: ``application_name`` of the listening connection (seen in ``pg_stat_activity``).
LISTENER_NAME = "sparkwing-listen"


def channel_name(schema: str) -> str:
    """The notification channel of a schema's store (a valid identifier, at most 63 bytes)."""
    return f"sparkwing_{schema}"[:63]


def conninfo_kwargs(settings: PgSettings) -> dict[str, Any]:
    """libpq connection keywords for *settings* (for a connection outside SQLAlchemy)."""
    url = settings.url
    out: dict[str, Any] = {k: v for k, v in url.query.items()}
    for key, value in (("host", url.host), ("port", url.port), ("dbname", url.database),
                       ("user", url.username), ("password", url.password)):
        if value:
            out[key] = value
    out.update(settings.connect_args)
    out["application_name"] = LISTENER_NAME
    return out


class ChangeFeed:
    """Listens for a store's change notifications on a background thread."""

    def __init__(self, settings: PgSettings) -> None:
        self.settings = settings
        self.channel = channel_name(settings.schema)
        self.live = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self.reconnects = 0

    def start(self, on_change: Callable[[str], None]) -> None:
        """Start listening; *on_change(payload)* runs on the listening thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, args=(on_change,),
                                        name="sw-pg-listen", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening and close the connection (returns within about a second)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        self.live = False

    def _loop(self, on_change: Callable[[str], None]) -> None:
        import psycopg

        delay = RECONNECT_FIRST_S
        kwargs = conninfo_kwargs(self.settings)
        while not self._stop.is_set():
            conn = None
            try:
                conn = psycopg.connect(autocommit=True, **kwargs)
                conn.execute(f"LISTEN {self.channel}")
                self.live = True
                delay = RECONNECT_FIRST_S
                on_change("")  # anything sent while we were away is lost: readers re-query
                checked = time.monotonic()
                while not self._stop.is_set():
                    got = False
                    for note in conn.notifies(timeout=_WAKE_S):
                        got = True
                        on_change(note.payload)
                    now = time.monotonic()
                    if got:
                        checked = now
                    elif now - checked >= IDLE_CHECK_S:
                        conn.execute("SELECT 1")  # a dead socket raises here
                        checked = now
            except psycopg.Error:
                pass
            finally:
                self.live = False
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg.Error:
                        pass
            if self._stop.wait(delay):
                break
            self.reconnects += 1
            delay = min(delay * 2, RECONNECT_MAX_S)

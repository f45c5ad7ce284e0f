"""The state schema, described once as plain Python data.

Every table, column and index of the SQL state store is declared here with
the schema version that introduced it (``since``). From this one
description come:

* the SQLite DDL (:func:`sqlite_create_table`, :func:`sqlite_create_index`,
  :func:`sqlite_add_column`), generated without importing SQLAlchemy so the
  ``sparkwing run`` start-up path stays cheap;
* the SQLAlchemy Core ``MetaData`` (:func:`to_sqlalchemy`) used by the
  PostgreSQL store and the server;
* the migrations (:mod:`sparkwing.storage.sql.migrations`), derived from the
  ``since`` markers;
* the record <-> row mapping (:mod:`sparkwing.storage.sql.rows`), from each
  column's ``attr`` and ``codec``.

Column types are ``TEXT``, ``INTEGER`` (64-bit; ``BIGINT`` on PostgreSQL)
and ``REAL`` (double precision). Times are ``REAL`` seconds since the epoch;
JSON-valued fields are ``TEXT`` holding compact JSON.

Changing the schema: add the column/table/index with ``since=N+1`` and bump
nothing else; :data:`~sparkwing.storage.sql.migrations.SCHEMA_VERSION`
follows the highest ``since``. Changes that are not additions (renames,
drops, data rewrites) go into ``migrations.EXTRA_STEPS``.
"""

from __future__ import annotations

from typing import Any

from ...slotted import Slotted

#: The column types a description may use.
COLUMN_TYPES = ("TEXT", "INTEGER", "REAL")

#: Codecs: how a record attribute is stored. ``""`` = as is.
CODECS = ("", "json", "bool")


class Column:
    """One column: SQL name and type, nullability, default, and its record mapping.

    *attr* is the record attribute the column stores (``""`` for columns no
    record exposes, such as ordering keys); it defaults to the column name,
    without a ``_json`` suffix for JSON columns. (Plain classes rather than
    dataclasses or NamedTuples here: this module is imported on every ``sparkwing run``.)
    """

    __slots__ = ("attr", "codec", "default", "name", "nullable", "since", "type")

    def __init__(
        self, name: str, type: str, nullable: bool = False, default: Any = None,
        codec: str = "", attr: str | None = None, since: int = 1,
    ) -> None:
        if type not in COLUMN_TYPES:
            raise ValueError(f"column {name}: unknown type {type!r}")
        if codec not in CODECS:
            raise ValueError(f"column {name}: unknown codec {codec!r}")
        if attr is None:
            attr = name[:-5] if codec == "json" and name.endswith("_json") else name
        self.name = name
        self.type = type
        self.nullable = nullable
        self.default = default
        self.codec = codec
        self.attr: str = attr
        self.since = since

    def __repr__(self) -> str:
        return f"Column({self.name!r}, {self.type!r}, since={self.since})"


class ForeignKey(Slotted):
    """A foreign key from *columns* to *ref_columns* of *ref_table*."""

    __slots__ = ("columns", "on_delete", "ref_columns", "ref_table")

    def __init__(self, columns: tuple[str, ...], ref_table: str, ref_columns: tuple[str, ...],
                 on_delete: str = "CASCADE") -> None:
        self.columns = columns
        self.ref_table = ref_table
        self.ref_columns = ref_columns
        self.on_delete = on_delete


class Index(Slotted):
    """A (possibly unique) index over *columns*."""

    __slots__ = ("columns", "name", "since", "unique")

    def __init__(self, name: str, columns: tuple[str, ...], unique: bool = False,
                 since: int = 1) -> None:
        self.name = name
        self.columns = columns
        self.unique = unique
        self.since = since


class Table:
    """One table: columns in order, primary key, foreign keys and indexes.

    *without_rowid* is a SQLite storage hint (a clustered primary key) that
    other databases ignore.
    """

    __slots__ = (
        "_by_name", "columns", "foreign_keys", "indexes", "name", "primary_key", "since",
        "without_rowid",
    )

    def __init__(
        self, name: str, columns: tuple[Column, ...], primary_key: tuple[str, ...],
        foreign_keys: tuple[ForeignKey, ...] = (), indexes: tuple[Index, ...] = (),
        without_rowid: bool = False, since: int = 1,
    ) -> None:
        self.name = name
        self.columns = columns
        self.primary_key = primary_key
        self.foreign_keys = foreign_keys
        self.indexes = indexes
        self.without_rowid = without_rowid
        self.since = since
        self._by_name = {c.name: c for c in columns}
        for key in primary_key:
            if key not in self._by_name:
                raise ValueError(f"table {name}: primary key column {key} is not declared")

    def __repr__(self) -> str:
        return f"Table({self.name!r}, {len(self.columns)} columns)"

    def column(self, name: str) -> Column:
        """Return the column called *name* (``KeyError`` if absent)."""
        return self._by_name[name]

    def columns_at(self, version: int) -> tuple[Column, ...]:
        """Return the columns that exist at schema *version*."""
        return tuple(c for c in self.columns if c.since <= version)


# -- column shorthands -------------------------------------------------------


def _text(name: str, default: str = "", **kw: Any) -> Column:
    return Column(name, "TEXT", default=default, **kw)


def _key(name: str) -> Column:
    return Column(name, "TEXT")


def _int(name: str, default: int = 0, **kw: Any) -> Column:
    return Column(name, "INTEGER", default=default, **kw)


def _bool(name: str) -> Column:
    return Column(name, "INTEGER", default=0, codec="bool")


def _time(name: str) -> Column:
    return Column(name, "REAL", nullable=True)


def _real(name: str, default: float = 0.0) -> Column:
    return Column(name, "REAL", default=default)


def _json(name: str, default: str | None) -> Column:
    return Column(name, "TEXT", nullable=default is None, default=default, codec="json")


def _run_fk() -> ForeignKey:
    return ForeignKey(("run_id",), "runs", ("id",))


# -- the tables ----------------------------------------------------------------

RUNS = Table(
    "runs",
    (
        _key("id"),
        _key("pipeline"),
        _text("status", "pending"),
        _text("trigger_source", "manual"),
        _text("trigger_user"),
        _text("git_branch"),
        _text("git_sha"),
        _text("git_repo"),
        _bool("git_dirty"),
        _json("args_json", "{}"),
        _json("secret_args_json", "[]"),
        _text("error"),
        _real("created_at"),
        _time("started_at"),
        _time("finished_at"),
        _time("last_heartbeat_at"),
        _time("cancel_requested_at"),
        _text("retry_of"),
        _text("profile"),
        _text("host"),
        _int("pid"),
        _json("invocation_json", "{}"),
        _json("plan_json", None),  # the largest value of the row
        # the run's last event seq: appends increment it under the row's lock (gap-free)
        Column("event_seq", "INTEGER", default=0, attr="", since=3),
    ),
    primary_key=("id",),
    indexes=(
        Index("runs_pipeline_idx", ("pipeline", "id")),
        Index("runs_status_idx", ("status", "id")),
        Index("runs_created_idx", ("created_at",)),
    ),
)

NODES = Table(
    "nodes",
    (
        _key("run_id"),
        _key("node_id"),
        Column("position", "INTEGER", attr=""),
        _text("kind", "job"),
        _text("status", "pending"),
        _text("outcome"),
        _json("deps_json", "[]"),
        _json("groups_json", "[]"),
        _time("started_at"),
        _time("finished_at"),
        _text("error"),
        _bool("has_output"),
        _text("failure_reason"),
        Column("exit_code", "INTEGER", nullable=True),
        _text("status_detail"),
        _int("attempts"),
        _json("annotations_json", "[]"),
        _text("summary"),
        _time("last_heartbeat_at"),
        _json("output_json", None),
    ),
    primary_key=("run_id", "node_id"),
    foreign_keys=(_run_fk(),),
    indexes=(Index("nodes_run_position_idx", ("run_id", "position")),),
)

NODE_STEPS = Table(
    "node_steps",
    (
        _key("run_id"),
        _key("node_id"),
        _key("step_id"),
        Column("position", "INTEGER", attr=""),
        _text("status", "running"),
        _time("started_at"),
        _time("finished_at"),
        _text("error"),
        _bool("has_output"),
        _json("output_json", None),
    ),
    primary_key=("run_id", "node_id", "step_id"),
    foreign_keys=(ForeignKey(("run_id", "node_id"), "nodes", ("run_id", "node_id")),),
    indexes=(Index("node_steps_run_position_idx", ("run_id", "position")),),
)

EVENTS = Table(
    "events",
    (
        _key("run_id"),
        Column("seq", "INTEGER"),
        _text("node_id"),
        _text("kind"),
        _real("ts"),
        _json("payload_json", "{}"),
        # a token the writer chose for this append ("" when it chose none): a retried
        # append whose first try committed unseen finds its row by it instead of adding one
        Column("write_id", "TEXT", default="", attr="", since=4),
    ),
    primary_key=("run_id", "seq"),  # also the (run_id, seq) lookup index
    foreign_keys=(_run_fk(),),
    without_rowid=True,
)

APPROVALS = Table(
    "approvals",
    (
        _key("run_id"),
        _key("node_id"),
        _real("requested_at"),
        _text("message"),
        _real("timeout_s"),
        _text("on_expiry", "fail"),
        _text("resolution"),
        _text("approver"),
        _text("comment"),
        _time("resolved_at"),
    ),
    primary_key=("run_id", "node_id"),
    foreign_keys=(_run_fk(),),
    indexes=(Index("approvals_resolution_idx", ("resolution", "requested_at")),),
)

CACHE_ENTRIES = Table(
    "cache_entries",
    (
        _key("key"),
        _text("run_id"),
        _text("node_id"),
        _text("pipeline"),
        _real("created_at"),
        _real("expires_at"),  # 0 = never expires
        _time("last_hit_at"),
        _int("hits"),
        _json("output_json", None),
    ),
    primary_key=("key",),
    indexes=(
        Index("cache_entries_expires_idx", ("expires_at",)),
        Index("cache_entries_created_idx", ("created_at",)),
    ),
)

CONCURRENCY_HOLDERS = Table(
    "concurrency_holders",
    (
        _key("key"),
        _key("holder_id"),
        _text("run_id"),
        _text("node_id"),
        _int("cost", 1),
        _int("capacity", 1),
        _real("arrived_at"),
        _time("claimed_at"),
        _real("lease_expires_at"),
    ),
    primary_key=("key", "holder_id"),
    indexes=(Index("concurrency_holders_holder_idx", ("holder_id",)),),
)

CONCURRENCY_WAITERS = Table(
    "concurrency_waiters",
    (
        _key("key"),
        _key("holder_id"),
        _text("run_id"),
        _text("node_id"),
        _int("cost", 1),
        _int("capacity", 1),
        _real("arrived_at"),
        Column("ticket", "INTEGER", attr=""),  # arrival order among equal arrived_at
        _real("lease_expires_at"),
    ),
    primary_key=("key", "holder_id"),
    indexes=(
        Index("concurrency_waiters_holder_idx", ("holder_id",)),
        Index("concurrency_waiters_queue_idx", ("key", "arrived_at", "ticket")),
    ),
)

DEBUG_PAUSES = Table(
    "debug_pauses",
    (
        _key("run_id"),
        _key("node_id"),
        _text("reason"),
        _real("paused_at"),
        _real("expires_at"),
        _time("released_at"),
        _text("released_by"),
        _text("release_kind"),
    ),
    primary_key=("run_id", "node_id"),
    foreign_keys=(_run_fk(),),
)

TRIGGERS = Table(
    "triggers",
    (
        _key("id"),
        _key("idempotency_key"),
        _key("pipeline"),
        _text("source", "manual"),
        _text("status", "pending"),  # pending | claimed | done | failed
        _text("run_id"),
        _text("error"),
        _real("created_at"),
        _time("claimed_at"),
        _time("lease_expires_at"),
        _text("claimed_by"),
        _int("claims"),
        _time("finished_at"),
        _json("request_json", "{}"),  # the RunRequest as JSON
        # The claimer's request id of the current (or last finished) claim; NULL: none, or
        # requeued. A retry repeating it is answered with this claim.
        Column("claim_request", "TEXT", nullable=True, since=9),
    ),
    primary_key=("id",),
    indexes=(
        Index("triggers_key_idx", ("idempotency_key",), unique=True),
        Index("triggers_queue_idx", ("status", "created_at", "id")),
        Index("triggers_created_idx", ("created_at", "id")),
        Index("triggers_request_idx", ("claim_request",), unique=True, since=9),
    ),
    since=2,
)

API_TOKENS = Table(
    "api_tokens",
    (
        _key("prefix"),  # the token's non-secret id part (``swr_`` + 8 characters)
        _key("hash"),  # argon2id hash of the whole raw token (PHC string)
        _key("kind"),  # user | runner | service
        _key("name"),
        _json("scopes_json", "[]"),
        _real("created_at"),
        _time("expires_at"),
        _time("revoked_at"),
        _time("last_used_at"),
        _text("replaced_by"),  # prefix of the token a rotation replaced this one with
    ),
    primary_key=("prefix",),
    indexes=(Index("api_tokens_created_idx", ("created_at", "prefix")),),
    since=5,
)

USERS = Table(
    "users",
    (
        _key("name"),  # the login name
        _key("password_hash"),  # argon2id hash of the password (PHC string)
        _json("scopes_json", "[]"),
        _real("created_at"),
        _real("updated_at"),  # creation or the last password change
        _time("last_login_at"),
    ),
    primary_key=("name",),
    since=6,
)

USER_SESSIONS = Table(
    "user_sessions",
    (
        _key("id_hash"),  # SHA-256 (hex) of the session id; the id itself is never stored
        _key("user_name"),
        _real("created_at"),
        _real("expires_at"),
        _time("revoked_at"),
        _time("last_seen_at"),
        _text("client"),  # the address the login came from
    ),
    primary_key=("id_hash",),
    indexes=(Index("user_sessions_user_idx", ("user_name", "created_at")),),
    since=6,
)

NODE_QUEUE = Table(
    "node_queue",
    (
        _key("run_id"),
        _key("node_id"),
        _int("attempt", 1),
        _json("needs_labels_json", "[]"),  # the terms as given: ["os=linux", "arch=a,arch=b"]
        # The same terms parsed, for matching in SQL: [["os=linux"], ["arch=a", "arch=b"]].
        Column("needs_any_json", "TEXT", default="[]", codec="json", attr=""),
        _text("status", "ready"),  # ready | revoked | claimed | finished
        _real("queued_at"),  # first enqueue: the FIFO place, kept across revoke
        _time("ready_at"),  # when it last became ready: the queue timeout counts from here
        _text("claimed_by"),
        _int("claim_seq"),  # one more per claim: the fencing token
        _time("claimed_at"),
        _time("lease_expires_at"),
        _time("heartbeat_at"),
        _time("finished_at"),
        _text("outcome"),
        Column("exit_code", "INTEGER", nullable=True),
        _text("error"),
        _text("failure_reason"),  # agent_lost | queue_timeout | what the runner reported
        # The claimer's request id of the claim (NULL: none, or given back by a release): a
        # retry repeating it is answered with this claim instead of another attempt.
        Column("claim_request", "TEXT", nullable=True, since=9),
        # someone cancelled this attempt (POST /runs/{id}/nodes/{nid}/cancel): its holder's
        # heartbeat says so and the runner stops it
        Column("cancel_requested_at", "REAL", nullable=True, since=10),
    ),
    primary_key=("run_id", "node_id", "attempt"),
    indexes=(
        Index("node_queue_ready_idx", ("status", "queued_at", "run_id", "node_id", "attempt")),
        Index("node_queue_lease_idx", ("status", "lease_expires_at")),
        # One claim per request id: a retry racing its own first try cannot claim twice.
        Index("node_queue_request_idx", ("claim_request",), unique=True, since=9),
    ),
    since=7,
)

SECRETS = Table(
    "secrets",
    (
        _key("name"),
        _key("sealed"),  # base64 of nonce + AES-256-GCM ciphertext (never the plaintext)
        _key("key_id"),  # which key sealed it (a digest of the key, not the key)
        _bool("masked"),  # whether runs hide the value in their logs
        _text("principal"),  # who set it last (``kind:name`` of the token, or ``cli``)
        _real("created_at"),
        _real("updated_at"),
    ),
    primary_key=("name",),
    indexes=(Index("secrets_key_id_idx", ("key_id",)),),
    since=8,
)

SCHEMA_VERSION_TABLE = Table(
    "sparkwing_schema_version",
    (Column("version", "INTEGER"), _real("applied_at")),
    primary_key=("version",),
)

META = Table(
    "sparkwing_meta",
    (_key("key"), _text("value"), _real("updated_at")),
    primary_key=("key",),
)

#: Every table, parents before children (the order DDL must run in).
TABLES: tuple[Table, ...] = (
    SCHEMA_VERSION_TABLE,
    META,
    RUNS,
    NODES,
    NODE_STEPS,
    EVENTS,
    APPROVALS,
    CACHE_ENTRIES,
    CONCURRENCY_HOLDERS,
    CONCURRENCY_WAITERS,
    DEBUG_PAUSES,
    TRIGGERS,
    API_TOKENS,
    USERS,
    USER_SESSIONS,
    NODE_QUEUE,
    SECRETS,
)

_BY_NAME = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    """Return the table called *name* (``KeyError`` if absent)."""
    return _BY_NAME[name]


def latest_version() -> int:
    """Return the highest ``since`` in the description: the current schema version."""
    found = 1
    for t in TABLES:
        found = max(found, t.since, *(c.since for c in t.columns), *(i.since for i in t.indexes))
    return found


# -- SQLite DDL ------------------------------------------------------------------


def sql_literal(value: Any) -> str:
    """Render a default value as a SQL literal (strings quoted, numbers as is)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _sqlite_column(column: Column) -> str:
    parts = [column.name, column.type]
    if not column.nullable:
        parts.append("NOT NULL")
    if column.default is not None:
        parts.append("DEFAULT " + sql_literal(column.default))
    return " ".join(parts)


def sqlite_create_table(t: Table, version: int | None = None) -> str:
    """Return ``CREATE TABLE`` for *t* as it is at schema *version* (default: latest)."""
    cols = t.columns if version is None else t.columns_at(version)
    lines = [_sqlite_column(c) for c in cols]
    lines.append("PRIMARY KEY (" + ", ".join(t.primary_key) + ")")
    for fk in t.foreign_keys:
        lines.append(
            f"FOREIGN KEY ({', '.join(fk.columns)}) REFERENCES {fk.ref_table} "
            f"({', '.join(fk.ref_columns)}) ON DELETE {fk.on_delete}"
        )
    suffix = " WITHOUT ROWID" if t.without_rowid else ""
    return f"CREATE TABLE {t.name} (\n    " + ",\n    ".join(lines) + f"\n){suffix}"


def sqlite_create_index(t: Table, index: Index) -> str:
    """Return ``CREATE INDEX`` for one index of *t*."""
    unique = "UNIQUE " if index.unique else ""
    return f"CREATE {unique}INDEX {index.name} ON {t.name} ({', '.join(index.columns)})"


def sqlite_add_column(t: Table, column: Column) -> str:
    """Return ``ALTER TABLE ... ADD COLUMN`` for a column added after the table."""
    return f"ALTER TABLE {t.name} ADD COLUMN {_sqlite_column(column)}"


# -- SQLAlchemy --------------------------------------------------------------------


def to_sqlalchemy(metadata: Any = None, version: int | None = None) -> Any:
    """Return a SQLAlchemy ``MetaData`` holding every table (added to *metadata* if given).

    Types map to ``Text``, ``BigInteger`` (``INTEGER`` on SQLite) and double
    precision (``REAL`` on SQLite), so ``metadata.create_all()`` on SQLite
    yields the same tables as the stdlib path. On PostgreSQL text columns
    use the ``"C"`` collation, so text compares bytewise as on SQLite (run
    ids sort by time whatever the database's locale). With *version*, the
    tables, columns and indexes are those that exist at that schema version
    (the migrations build their DDL from it). SQLAlchemy is imported here
    only, never at module import.
    """
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    md = sa.MetaData() if metadata is None else metadata
    at = latest_version() if version is None else version
    types: dict[str, Any] = {
        "TEXT": sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql"),
        "INTEGER": sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        "REAL": sa.Double().with_variant(sa.REAL(), "sqlite"),
    }
    for t in TABLES:
        if t.since > at:
            continue
        items: list[Any] = []
        for c in t.columns_at(at):
            items.append(sqlalchemy_column(c, types))
        items.append(sa.PrimaryKeyConstraint(*t.primary_key, name=f"{t.name}_pkey"))
        for fk in t.foreign_keys:
            items.append(
                sa.ForeignKeyConstraint(
                    list(fk.columns),
                    [f"{fk.ref_table}.{c}" for c in fk.ref_columns],
                    ondelete=fk.on_delete,
                )
            )
        for ix in t.indexes:
            if ix.since <= at:
                items.append(sa.Index(ix.name, *ix.columns, unique=ix.unique))
        kwargs: dict[str, Any] = {}
        if t.without_rowid:
            kwargs["sqlite_with_rowid"] = False
        sa.Table(t.name, md, *items, **kwargs)
    return md


def sqlalchemy_column(c: Column, types: dict[str, Any]) -> Any:
    """Return the SQLAlchemy ``Column`` for *c* (*types* maps ``TEXT``/``INTEGER``/``REAL``)."""
    import sqlalchemy as sa

    default = None if c.default is None else sa.text(sql_literal(c.default))
    return sa.Column(
        c.name, types[c.type], nullable=c.nullable, server_default=default, autoincrement=False,
    )

"""The kinds of plugin ``sparkwing plugin new`` can write, and what differs between them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoreKind:
    """A store surface: the contract, its suite, and the reference backend the stub starts from."""

    #: The registry kind and profile surface (``state``, ``logs``, ``cache``).
    surface: str
    #: The typed registry method.
    add_method: str
    #: ``module:Class`` of the contract (a Protocol in sparkwing.storage.contracts).
    contract: str
    #: ``module:Class`` of the conformance suite the generated test subclasses.
    suite: str
    #: ``module:Class`` of the reference backend the stub passes calls through to.
    reference: str
    #: The distribution providing the reference backend when it is not sparkwing-core.
    reference_dist: str
    #: Suffix of the generated class name (``RedisStateStore``).
    class_suffix: str
    #: File or directory name of the store's default location under ``$SPARKWING_HOME``.
    default_path: str
    #: What the store holds, for docstrings and the README.
    holds: str

    @property
    def contract_name(self) -> str:
        """The contract's class name (``StateStore``)."""
        return self.contract.rpartition(":")[2]


STORE_KINDS: dict[str, StoreKind] = {
    "state": StoreKind(
        surface="state", add_method="add_state_store",
        contract="sparkwing.storage.contracts:StateStore",
        suite="sparkwing.testing.suites.state:StateStoreSuite",
        reference="sparkwing_sqlite.store:SqliteStateStore", reference_dist="sparkwing-sqlite",
        class_suffix="StateStore", default_path="state.db",
        holds="runs, nodes, events, approvals, the memo index, leases and pauses",
    ),
    "logs": StoreKind(
        surface="logs", add_method="add_log_store",
        contract="sparkwing.storage.contracts:LogStore",
        suite="sparkwing.testing.suites.logs:LogStoreSuite",
        reference="sparkwing.storage.fs_logs:FilesystemLogStore", reference_dist="",
        class_suffix="LogStore", default_path="logs",
        holds="the JSON-lines log records of every node of every run",
    ),
    "artifacts": StoreKind(
        surface="cache", add_method="add_cache_store",
        contract="sparkwing.storage.contracts:ArtifactStore",
        suite="sparkwing.testing.suites.artifacts:ArtifactStoreSuite",
        reference="sparkwing.storage.fs_artifacts:FilesystemArtifactStore", reference_dist="",
        class_suffix="ArtifactStore", default_path="artifacts",
        holds="content-addressed blobs and named keys (artifacts and memoized outputs)",
    ),
}

#: Every kind, in the order help text lists them.
KIND_NAMES = ("state", "logs", "artifacts", "executor", "trigger")

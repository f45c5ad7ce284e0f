"""The registry: typed registration, conflicts, lookups and profile-block validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sparkwing.errors import ConfigError, PluginError
from sparkwing.execution.contracts import ExecutorContext
from sparkwing.plugins.registry import KINDS, BackendContext, Registry
from sparkwing.storage.fs_logs import FilesystemLogStore
from sparkwing.triggers.contracts import TriggerContext


def _factory(config: Any, context: BackendContext) -> tuple[str, dict[str, Any], BackendContext]:
    return ("built", dict(config), context)


def add(registry: Registry, kind: str, type_name: str, **kwargs: Any) -> None:
    """Register *type_name* of *kind* through the typed method of that kind."""
    method = {
        "state": registry.add_state_store, "cache": registry.add_cache_store,
        "logs": registry.add_log_store, "executor": registry.add_executor,
        "trigger": registry.add_trigger_source,
    }[kind]
    method(type_name, _factory, **kwargs)


def _registry(*entries: tuple[str, str, str], **kwargs: Any) -> Registry:
    """A registry filled with ``(provider, kind, type)`` entries."""
    registry = Registry()
    for provider, kind, type_name in entries:
        registry.current_provider = provider
        add(registry, kind, type_name, **kwargs)
    registry.current_provider = ""
    return registry


def test_each_typed_method_registers_its_own_kind() -> None:
    registry = _registry(*(("p", kind, f"t-{kind}") for kind in KINDS), description="d")
    assert {(b.kind, b.type_name, b.provider, b.description)
            for b in registry.backends.values()} == {
        ("state", "t-state", "p", "d"), ("cache", "t-cache", "p", "d"),
        ("logs", "t-logs", "p", "d"), ("executor", "t-executor", "p", "d"),
        ("trigger", "t-trigger", "p", "d"),
    }
    assert registry.provided_by("p") == {kind: [f"t-{kind}"] for kind in KINDS}
    assert registry.provided_by("nobody") == {kind: [] for kind in KINDS}


def test_the_untyped_register_method_is_gone() -> None:
    assert not hasattr(Registry, "register")


def test_two_plugins_claiming_one_type_conflict() -> None:
    registry = _registry(("alpha", "logs", "shared"))
    registry.current_provider = "beta"
    with pytest.raises(PluginError) as info:
        registry.add_log_store("shared", _factory)
    msg = str(info.value)
    assert "'alpha'" in msg and "'beta'" in msg and "logs type 'shared'" in msg
    assert "SPARKWING_DISABLE_PLUGINS" in msg
    assert "\n" not in msg
    assert registry.get("logs", "shared").provider == "alpha"


def test_same_type_name_in_different_kinds_is_not_a_conflict() -> None:
    registry = _registry(("alpha", "logs", "s3"), ("beta", "state", "s3"), ("gamma", "cache", "s3"))
    assert {registry.get(k, "s3").provider for k in ("logs", "state", "cache")} == {
        "alpha", "beta", "gamma",
    }


def test_a_plugin_may_replace_its_own_registration() -> None:
    registry = _registry(("alpha", "logs", "mine"))
    registry.current_provider = "alpha"
    registry.add_log_store("mine", _factory, required=("path",))
    assert registry.get("logs", "mine").required == ("path",)


def test_unknown_first_party_type_names_installed_types_and_the_distribution() -> None:
    registry = _registry(("sqlite", "state", "sqlite"), ("builtin", "logs", "filesystem"))
    with pytest.raises(PluginError) as info:
        registry.get("state", "postgres")
    assert str(info.value) == (
        'no plugin provides state type "postgres"; installed: sqlite; install sparkwing-postgres'
    )
    assert info.value.exit_code == 2


def test_unknown_third_party_type_has_no_install_hint() -> None:
    registry = _registry(("a", "logs", "filesystem"), ("b", "logs", "example"))
    with pytest.raises(PluginError) as info:
        registry.get("logs", "elasticsearch")
    assert str(info.value) == (
        'no plugin provides logs type "elasticsearch"; installed: example, filesystem'
    )


def test_unknown_type_when_nothing_of_that_kind_is_installed() -> None:
    with pytest.raises(PluginError) as info:
        Registry().get("state", "s3")
    assert str(info.value) == (
        'no plugin provides state type "s3"; installed: none; install sparkwing-s3'
    )


def test_types_are_listed_sorted_per_kind() -> None:
    registry = _registry(("a", "logs", "zeta"), ("b", "logs", "alpha"), ("c", "state", "mid"))
    assert registry.types("logs") == ["alpha", "zeta"]
    assert registry.types("state") == ["mid"]
    assert registry.types("cache") == []


WHERE = 'profile "team" logs'


@pytest.fixture
def example_registry() -> Registry:
    """``logs: example`` with required ``path`` and optional ``compress``."""
    return _registry(("example", "logs", "example"), required=("path",), optional=("compress",))


def test_validate_accepts_required_and_optional_keys(example_registry: Registry) -> None:
    backend = example_registry.validate(
        "logs", {"type": "example", "path": "/x", "compress": True}, WHERE
    )
    assert backend.type_name == "example" and backend.provider == "example"


@pytest.mark.parametrize("block", [{"type": "example"}, {"type": "example", "path": ""},
                                   {"type": "example", "path": None}])
def test_validate_reports_a_missing_required_key(
    example_registry: Registry, block: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError) as info:
        example_registry.validate("logs", block, WHERE)
    assert str(info.value) == 'profile "team" logs: type=example requires path'
    assert info.value.exit_code == 2


def test_validate_reports_an_unknown_key_with_the_valid_ones(
    example_registry: Registry,
) -> None:
    with pytest.raises(ConfigError) as info:
        example_registry.validate("logs", {"type": "example", "path": "/x", "bucket": "b"}, WHERE)
    assert str(info.value) == (
        "profile \"team\" logs: unknown key 'bucket' for type=example; "
        "valid keys: compress, path, type"
    )


def test_validate_requires_a_type(example_registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r'^profile "team" logs: type is required$'):
        example_registry.validate("logs", {"path": "/x"}, WHERE)


def test_validate_refuses_a_block_that_is_not_a_mapping(
    example_registry: Registry,
) -> None:
    with pytest.raises(ConfigError, match=r'^profile "team" logs: expected a mapping'):
        example_registry.validate("logs", "example", WHERE)  # type: ignore[arg-type]


def test_validate_turns_an_unknown_type_into_a_config_error(
    example_registry: Registry,
) -> None:
    with pytest.raises(ConfigError) as info:
        example_registry.validate("logs", {"type": "gcs", "bucket": "b"}, WHERE)
    assert str(info.value) == (
        'profile "team" logs: no plugin provides logs type "gcs"; installed: example; '
        "install sparkwing-gcs"
    )


def test_create_validates_then_calls_the_factory_with_config_and_context(tmp_path: Path) -> None:
    calls: list[tuple[dict[str, Any], BackendContext]] = []

    def make(config: Any, context: BackendContext) -> FilesystemLogStore:
        calls.append((dict(config), context))
        return FilesystemLogStore(tmp_path / "logs")

    registry = Registry()
    registry.add_log_store("example", make, required=("path",))
    context = BackendContext(home=tmp_path, profile="team")
    built = registry.create("logs", {"type": "example", "path": "/x"}, context)
    assert isinstance(built, FilesystemLogStore)
    assert calls == [({"type": "example", "path": "/x"}, context)]
    with pytest.raises(ConfigError, match="requires path"):
        registry.create("logs", {"type": "example"}, context, where=WHERE)
    assert len(calls) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_factory_building_something_else_than_its_contract_is_refused(
    kind: str, tmp_path: Path,
) -> None:
    registry = _registry(("acme", kind, "odd"))  # its factory returns a tuple
    context: Any = {"executor": ExecutorContext(home=tmp_path),
                    "trigger": TriggerContext(home=tmp_path)}.get(kind, BackendContext(tmp_path))
    contract = {"state": "StateStore", "cache": "ArtifactStore", "logs": "LogStore",
                "executor": "Executor", "trigger": "TriggerSource"}[kind]
    with pytest.raises(PluginError) as info:
        registry.create(kind, {"type": "odd"}, context)
    assert str(info.value) == (
        f"{kind} type \"odd\" of plugin 'acme' built a tuple, which does not implement {contract}")


def test_executors_and_trigger_sources_are_built_against_their_contract(tmp_path: Path) -> None:
    registry = _registry(("acme", "executor", "odd"), ("acme", "trigger", "odd"))
    with pytest.raises(PluginError, match="which does not implement Executor"):
        registry.build_executor("odd", {"type": "odd"}, ExecutorContext(home=tmp_path))
    with pytest.raises(PluginError, match="which does not implement TriggerSource"):
        registry.build_trigger_source("odd", {}, TriggerContext(home=tmp_path))

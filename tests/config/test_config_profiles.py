"""profiles.yaml and project profiles: shape, surfaces checked by the backend registry, secrets."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
from sparkwing import hookimpl
from sparkwing.config import (
    laptop_profile,
    load_project,
    load_user_profiles,
    redact,
    resolve_profile,
)
from sparkwing.errors import ConfigError
from sparkwing.plugins import manager
from sparkwing.plugins.manager import PluginHost
from sparkwing.plugins.registry import BackendContext, Registry


class Dsn:
    """What the "dsnstore" test backend builds: it just keeps its block."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = dict(config)

    def close(self) -> None:
        """Nothing to release."""


def _make_dsn(config: Any, context: BackendContext) -> Dsn:
    return Dsn(config)


def _register(registry: Registry) -> None:
    registry.add_state_store("dsnstore", _make_dsn, required=("url",),
                             optional=("schema",))
    registry.add_cache_store("bucketstore", _make_dsn, required=("bucket",),
                             optional=("prefix",))


@pytest.fixture
def test_backends(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginHost]:
    """The process-wide plugin host, with a real extra plugin providing two test backends."""
    plugin = types.ModuleType("cfgtest_backends")
    plugin.sparkwing_register_backends = hookimpl(_register)  # type: ignore[attr-defined]
    host = PluginHost().load(extra=(plugin,))
    monkeypatch.setattr(manager, "_HOST", host)
    yield host


def test_missing_file_means_no_user_profiles(cfg) -> None:
    assert not cfg.profiles.exists()
    assert load_user_profiles() == {}


def test_profiles_path_follows_xdg_then_home(cfg, monkeypatch) -> None:
    monkeypatch.delenv("SPARKWING_PROFILES")
    (cfg.tmp / "xdg" / "sparkwing").mkdir()
    (cfg.tmp / "xdg" / "sparkwing" / "profiles.yaml").write_text(
        "profiles:\n  from-xdg: {}\n")
    assert set(load_user_profiles()) == {"from-xdg"}
    monkeypatch.delenv("XDG_CONFIG_HOME")
    (cfg.home / ".config" / "sparkwing").mkdir(parents=True)
    (cfg.home / ".config" / "sparkwing" / "profiles.yaml").write_text(
        "profiles:\n  from-home: {}\n")
    assert set(load_user_profiles()) == {"from-home"}


def test_user_profile_fields_and_laptop_fallback(cfg) -> None:
    cfg.write_profiles("""
        profiles:
          team:
            description: the team's database
            state: {type: sqlite, path: /srv/team.db}
            controller: {url: "https://ci.example.com", token: swu_abc}
          empty:
    """)
    profiles = load_user_profiles()
    team = profiles["team"]
    assert team.name == "team"
    assert team.description == "the team's database"
    assert team.state == {"type": "sqlite", "path": "/srv/team.db"}
    assert team.cache == {"type": "filesystem", "path": str(cfg.sw_home / "artifacts")}
    assert team.logs == {"type": "filesystem", "path": str(cfg.sw_home / "runs")}
    assert team.defaulted == ("cache", "logs")
    assert team.controller == {"url": "https://ci.example.com", "token": "swu_abc"}
    assert team.controller_token() == "swu_abc"
    assert team.source == str(cfg.profiles)
    assert team.line == 2
    assert profiles["empty"].defaulted == ("state", "cache", "logs")


def test_laptop_profile_lives_under_sparkwing_home(cfg) -> None:
    laptop = laptop_profile()
    assert laptop.name == "laptop" and laptop.source == "built-in"
    assert laptop.state == {"type": "sqlite", "path": str(cfg.sw_home / "state.db")}
    assert laptop.logs == {"type": "filesystem", "path": str(cfg.sw_home / "runs")}
    assert laptop.cache == {"type": "filesystem", "path": str(cfg.sw_home / "artifacts")}
    assert laptop.controller is None


def test_token_env_is_read_when_asked(cfg, monkeypatch) -> None:
    cfg.write_profiles("profiles:\n  ci:\n    controller: {url: 'http://c', token_env: CI_TOK}\n")
    ci = load_user_profiles()["ci"]
    assert ci.controller_token() is None
    monkeypatch.setenv("CI_TOK", "swu_from_env")
    assert ci.controller_token() == "swu_from_env"


def test_redact_masks_tokens_and_url_passwords() -> None:
    assert redact({
        "url": "postgresql://app:hunter2@db:5432/x",
        "token": "swu_1", "token_env": "TOK", "secret_access_key": "k", "password": "p",
        "url_source": "env:PG", "path": "/a", "nested": {"api_token": "t"},
    }) == {
        "url": "postgresql://app:***@db:5432/x",
        "token": "***", "token_env": "TOK", "secret_access_key": "***", "password": "***",
        "url_source": "env:PG", "path": "/a", "nested": {"api_token": "***"},
    }


BAD_USER: list[tuple[str, str, str]] = [
    ("top-unknown", "profile:\n  a: {}\n",
     '1: unknown key "profile" at the top level; valid keys: profiles'),
    ("top-retired-default", "default: team\nprofiles: {}\n",
     '1: retired key "default" at the top level: the default profile is chosen by '
     "defaults.profile in .sparkwing/sparkwing.yaml or --profile; remove it"),
    ("top-list", "- a\n", "1: the top level of profiles.yaml must be a mapping, got a list"),
    ("profiles-list", "profiles: [a]\n", "1: profiles must be a mapping, got a list"),
    ("profile-unknown-key", "profiles:\n  team:\n    stat: {type: sqlite}\n",
     '3: unknown key "stat" in profile "team"; valid keys: cache, controller, description, '
     "executor, logs, state"),
    ("profile-bad-name", "profiles:\n  'my team': {}\n",
     '2: bad profile name "my team": use letters, digits, ".", "_" and "-"'),
    ("profile-duplicate", "profiles:\n  a: {}\n  a: {}\n",
     '3: duplicate profile "a" (first on line 2)'),
    ("surface-no-type", "profiles:\n  team:\n    state: {path: /x}\n",
     '3: profile "team": state: type is required (a backend name such as sqlite, filesystem, s3)'),
    ("surface-not-mapping", "profiles:\n  team:\n    logs: s3\n",
     '3: profile "team": logs: must be a mapping with a type, got "s3"'),
    ("surface-duplicate-key", "profiles:\n  team:\n    state:\n      type: a\n      type: b\n",
     '5: profile "team": state: duplicate key "type" (first on line 4)'),
    ("url-and-url-source",
     "profiles:\n  team:\n    state: {type: postgres, url: 'x', url_source: 'env:PG'}\n",
     '3: profile "team": state: url and url_source are mutually exclusive; keep one'),
    ("bad-url-source", "profiles:\n  team:\n    state: {type: postgres, url_source: PG_URL}\n",
     '3: profile "team": state: url_source must look like env:VARIABLE, got "PG_URL"'),
    ("controller-unknown-key", "profiles:\n  c:\n    controller: {url: 'http://x', tokn: a}\n",
     '3: unknown key "tokn" in profile "c" controller; valid keys: token, token_env, url'),
    ("controller-no-url", "profiles:\n  c:\n    controller: {token: a}\n",
     '3: profile "c": controller requires url'),
    ("controller-bad-url", "profiles:\n  c:\n    controller: {url: ci.example.com}\n",
     '3: profile "c": controller url must start with http:// or https://'),
    ("controller-token-and-env",
     "profiles:\n  c:\n    controller:\n      url: http://x\n      token: a\n      token_env: B\n",
     '6: profile "c": controller token and token_env are mutually exclusive'),
    ("controller-bad-env", "profiles:\n  c:\n    controller: {url: 'http://x', token_env: 1A}\n",
     '3: profile "c": token_env must be an environment variable name, got "1A"'),
    ("description-not-string", "profiles:\n  c:\n    description: [a]\n",
     '3: description in profile "c" must be a string, got a list'),
    ("yaml-syntax", "profiles:\n  c: {state: \n", "3: invalid YAML: "),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BAD_USER],
                         ids=[c for c, _, _ in BAD_USER])
def test_bad_profiles_file(cfg, text: str, expected: str) -> None:
    cfg.profiles.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_user_profiles()
    message = str(err.value)
    assert "\n" not in message
    full = f"{cfg.profiles}:{expected}"
    if expected.endswith(": "):
        assert message.startswith(full), message
    else:
        assert message == full


def test_profiles_path_that_is_a_directory(cfg) -> None:
    cfg.profiles.mkdir()
    with pytest.raises(ConfigError) as err:
        load_user_profiles()
    assert str(err.value) == f"{cfg.profiles}: not a regular file"


def test_project_profiles_may_not_commit_a_token(cfg) -> None:
    cfg.write_project("""
        profiles:
          ci:
            controller: {url: "https://ci", token: swu_leak}
    """)
    with pytest.raises(ConfigError) as err:
        load_project(cfg.repo)
    assert str(err.value) == (
        '.sparkwing/sparkwing.yaml:3: profile "ci": a controller token must not be committed '
        "in sparkwing.yaml; use token_env: VARIABLE"
    )


def test_project_profiles_may_not_redefine_laptop(cfg) -> None:
    cfg.write_project("profiles:\n  laptop: {}\n")
    with pytest.raises(ConfigError) as err:
        load_project(cfg.repo)
    assert str(err.value) == (
        '.sparkwing/sparkwing.yaml:2: a project cannot redefine the "laptop" profile (only your '
        "own profiles.yaml can); give it another name"
    )


def test_project_profile_source_is_the_project_file(cfg) -> None:
    cfg.write_project("""
        profiles:
          ci:
            logs: {type: filesystem, path: /tmp/ci-logs}
    """)
    ci = load_project(cfg.repo).profiles["ci"]
    assert ci.source == ".sparkwing/sparkwing.yaml" and ci.line == 2
    assert ci.logs == {"type": "filesystem", "path": "/tmp/ci-logs"}
    assert ci.defaulted == ("state", "cache")


# -- surfaces checked against the backend registry at resolution ----------------------------


def test_unknown_backend_type_gives_the_registry_message(cfg) -> None:
    from sparkwing.plugins.manager import get_host

    cfg.write_profiles("profiles:\n  team:\n    state: {type: floppy, bucket: b}\n")
    installed = ", ".join(get_host().registry.types("state"))
    with pytest.raises(ConfigError) as err:
        resolve_profile(flag="team", pipeline=None, project=None)
    assert str(err.value) == (
        f'{cfg.profiles}:3: profile "team": state: no plugin provides state type "floppy"; '
        f"installed: {installed}"
    )


def test_unknown_backend_key_names_profile_and_surface(cfg) -> None:
    cfg.write_profiles("profiles:\n  team:\n    logs: {type: filesystem, bucket: b}\n")
    with pytest.raises(ConfigError) as err:
        resolve_profile(flag="team", pipeline=None, project=None)
    assert str(err.value) == (
        f"{cfg.profiles}:3: profile \"team\": logs: unknown key 'bucket' for type=filesystem; "
        "valid keys: path, type"
    )


def test_missing_required_key_names_profile_and_surface(cfg, test_backends) -> None:
    cfg.write_profiles("profiles:\n  team:\n    cache: {type: bucketstore, prefix: x/}\n")
    with pytest.raises(ConfigError) as err:
        resolve_profile(flag="team", pipeline=None, project=None)
    assert str(err.value) == (
        f'{cfg.profiles}:3: profile "team": cache: type=bucketstore requires bucket'
    )


def test_url_source_reads_the_dsn_from_the_environment(cfg, test_backends, monkeypatch) -> None:
    cfg.write_profiles("""
        profiles:
          team:
            state: {type: dsnstore, url_source: "env:TEAM_PG", schema: ci}
    """)
    monkeypatch.setenv("TEAM_PG", "postgresql://u:pw@db/ci")
    resolved = resolve_profile(flag="team", pipeline=None, project=None)
    assert resolved.blocks["state"] == {
        "type": "dsnstore", "url": "postgresql://u:pw@db/ci", "schema": "ci",
    }
    # the profile keeps what was written, so showing it never shows the DSN
    assert resolved.profile.state == {"type": "dsnstore", "url_source": "env:TEAM_PG",
                                      "schema": "ci"}


def test_url_source_variable_missing(cfg, test_backends, monkeypatch) -> None:
    monkeypatch.delenv("TEAM_PG", raising=False)
    cfg.write_profiles("profiles:\n  team:\n    state: {type: dsnstore, url_source: env:TEAM_PG}\n")
    with pytest.raises(ConfigError) as err:
        resolve_profile(flag="team", pipeline=None, project=None)
    assert str(err.value) == (
        f'{cfg.profiles}:3: profile "team": state: url_source is env:TEAM_PG but TEAM_PG is not set'
    )


def test_url_without_url_source_is_used_as_is(cfg, test_backends) -> None:
    cfg.write_profiles("profiles:\n  team:\n    state: {type: dsnstore, url: 'sqlite:///x'}\n")
    resolved = resolve_profile(flag="team", pipeline=None, project=None)
    assert resolved.blocks["state"] == {"type": "dsnstore", "url": "sqlite:///x"}

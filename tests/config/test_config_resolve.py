"""Which profile a command uses, and why; opening its stores."""

from __future__ import annotations

import pytest
from sparkwing.config import load_project, open_stores, resolve_profile
from sparkwing.errors import ConfigError

PROJECT = """
defaults:
  profile: proj-default
profiles:
  proj-default:
    logs: {type: filesystem, path: /tmp/proj-default-logs}
  proj-pipe:
    logs: {type: filesystem, path: /tmp/proj-pipe-logs}
  shared:
    logs: {type: filesystem, path: /tmp/project-shared-logs}
pipelines:
  - name: plain
    entrypoint: p:plain
  - name: pinned
    entrypoint: p:pinned
    profile: proj-pipe
  - name: local-one
    entrypoint: p:local_one
    profile: proj-pipe
    requires: [local]
  - name: typo
    entrypoint: p:typo
    profile: proj-pip
"""

USER = """
profiles:
  mine:
    logs: {type: filesystem, path: /tmp/mine-logs}
  shared:
    logs: {type: filesystem, path: /tmp/user-shared-logs}
"""


@pytest.fixture
def project(cfg):
    cfg.write_project(PROJECT)
    cfg.write_profiles(USER)
    return load_project(cfg.repo)


def test_flag_beats_pipeline_and_defaults(project) -> None:
    r = resolve_profile(flag="mine", pipeline=project.pipeline("pinned"), project=project)
    assert r.name == "mine"
    assert r.reason == "selected with --profile mine"
    assert not r.local_only


def test_flag_can_name_a_project_profile(project) -> None:
    r = resolve_profile(flag="proj-pipe", pipeline=None, project=project)
    assert r.profile.source == ".sparkwing/sparkwing.yaml"
    assert r.profile.logs["path"] == "/tmp/proj-pipe-logs"


def test_user_profile_wins_over_a_project_profile_of_the_same_name(project, cfg) -> None:
    r = resolve_profile(flag="shared", pipeline=None, project=project)
    assert r.profile.logs["path"] == "/tmp/user-shared-logs"
    assert r.profile.source == str(cfg.profiles)


def test_pipeline_profile_beats_defaults(project) -> None:
    r = resolve_profile(flag=None, pipeline=project.pipeline("pinned"), project=project)
    assert r.name == "proj-pipe"
    assert r.reason == (
        'set by pipeline "pinned" (profile: proj-pipe at .sparkwing/sparkwing.yaml:15)'
    )


def test_defaults_profile_applies_otherwise(project) -> None:
    r = resolve_profile(flag=None, pipeline=project.pipeline("plain"), project=project)
    assert r.name == "proj-default"
    assert r.reason == "set by defaults.profile at .sparkwing/sparkwing.yaml:2"
    assert resolve_profile(flag=None, pipeline=None, project=project).name == "proj-default"


def test_laptop_when_nothing_selects_a_profile(cfg) -> None:
    cfg.write_project("pipelines:\n  - {name: a, entrypoint: 'p:a'}\n")
    project = load_project(cfg.repo)
    r = resolve_profile(flag=None, pipeline=project.pipeline("a"), project=project)
    assert r.name == "laptop"
    assert r.profile.source == "built-in"
    assert r.reason == "no profile selected, so the laptop default applies"
    assert r.blocks["state"] == {"type": "sqlite", "path": str(cfg.sw_home / "state.db")}
    assert resolve_profile(flag=None, pipeline=None, project=None).name == "laptop"


def test_a_user_laptop_profile_overrides_the_built_in_one(cfg) -> None:
    cfg.write_profiles("profiles:\n  laptop:\n    logs: {type: filesystem, path: /tmp/my-logs}\n")
    r = resolve_profile(flag=None, pipeline=None, project=None)
    assert r.profile.logs["path"] == "/tmp/my-logs"
    assert r.reason == (
        f"no profile selected, so the laptop default applies (overridden in {cfg.profiles})"
    )


def test_local_only_flag_forces_the_built_in_laptop(project, cfg) -> None:
    cfg.write_profiles("profiles:\n  laptop:\n    logs: {type: filesystem, path: /tmp/x}\n")
    r = resolve_profile(flag="mine", pipeline=project.pipeline("pinned"), project=project,
                        local_only=True)
    assert r.name == "laptop" and r.profile.source == "built-in" and r.local_only
    assert r.reason == "--sw-local-only forces the built-in laptop profile (--profile mine ignored)"


def test_local_only_env(project, monkeypatch) -> None:
    monkeypatch.setenv("SPARKWING_LOCAL_ONLY", "1")
    r = resolve_profile(flag=None, pipeline=project.pipeline("pinned"), project=project)
    assert r.name == "laptop"
    assert r.reason == "SPARKWING_LOCAL_ONLY=1 forces the built-in laptop profile"
    monkeypatch.setenv("SPARKWING_LOCAL_ONLY", "0")
    assert resolve_profile(flag=None, pipeline=None, project=project).name == "proj-default"


def test_requires_local_forces_laptop(project) -> None:
    r = resolve_profile(flag=None, pipeline=project.pipeline("local-one"), project=project)
    assert r.name == "laptop"
    assert r.reason == (
        'pipeline "local-one" has requires: [local], which forces the built-in laptop profile'
    )


def test_defaults_requires_local_applies_unless_the_pipeline_sets_requires(cfg) -> None:
    cfg.write_project("""
        defaults:
          requires: [local]
        profiles:
          p: {}
        pipelines:
          - {name: a, entrypoint: "m:a", profile: p}
          - {name: b, entrypoint: "m:b", profile: p, requires: [docker]}
    """)
    project = load_project(cfg.repo)
    a = resolve_profile(flag=None, pipeline=project.pipeline("a"), project=project)
    assert (a.name, a.reason) == (
        "laptop", "defaults.requires has local, which forces the built-in laptop profile")
    assert resolve_profile(flag=None, pipeline=project.pipeline("b"), project=project).name == "p"


def test_unknown_flag_profile_lists_known_profiles(project) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_profile(flag="nobody", pipeline=None, project=project)
    assert str(err.value) == (
        '--profile: unknown profile "nobody"; known profiles: laptop, mine, proj-default, '
        "proj-pipe, shared"
    )
    with pytest.raises(ConfigError) as err:
        resolve_profile(flag="mien", pipeline=None, project=project)
    assert str(err.value) == (
        '--profile: unknown profile "mien"; did you mean "mine"? (known profiles: laptop, mine, '
        "proj-default, proj-pipe, shared)"
    )


def test_pipeline_profile_naming_no_profile(project) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_profile(flag=None, pipeline=project.pipeline("typo"), project=project)
    assert str(err.value) == (
        '.sparkwing/sparkwing.yaml:22: profile of pipeline "typo": unknown profile "proj-pip"; '
        'did you mean "proj-pipe"? (known profiles: laptop, mine, proj-default, proj-pipe, '
        "shared)"
    )


def test_defaults_profile_naming_no_profile(cfg) -> None:
    cfg.write_project("defaults:\n  profile: gone\n")
    project = load_project(cfg.repo)
    with pytest.raises(ConfigError) as err:
        resolve_profile(flag=None, pipeline=None, project=project)
    assert str(err.value) == (
        '.sparkwing/sparkwing.yaml:2: defaults.profile: unknown profile "gone"; '
        "known profiles: laptop"
    )


def test_a_broken_unused_profile_does_not_matter(cfg) -> None:
    # only the chosen profile is checked against the registry
    cfg.write_profiles("profiles:\n  broken:\n    state: {type: floppy}\n  ok: {}\n")
    assert resolve_profile(flag="ok", pipeline=None, project=None).name == "ok"


def test_open_stores_builds_the_laptop_stores(cfg) -> None:
    from sparkwing.storage.fs_artifacts import FilesystemArtifactStore
    from sparkwing.storage.fs_logs import FilesystemLogStore
    from sparkwing_sqlite.store import SqliteStateStore

    resolved = resolve_profile(flag=None, pipeline=None, project=None)
    stores = open_stores(resolved)
    try:
        assert isinstance(stores.state, SqliteStateStore)
        assert isinstance(stores.logs, FilesystemLogStore)
        assert isinstance(stores.cache, FilesystemArtifactStore)
        assert stores.resolved is resolved
        assert (cfg.sw_home / "state.db").exists()
    finally:
        stores.close()


def test_open_stores_uses_the_profile_paths(cfg, tmp_path) -> None:
    db = tmp_path / "team" / "team.db"
    db.parent.mkdir()
    cfg.write_profiles(f"""
        profiles:
          team:
            state: {{type: sqlite, path: "{db}"}}
            logs: {{type: filesystem, path: "{tmp_path / 'team-logs'}"}}
    """)
    with open_stores(resolve_profile(flag="team", pipeline=None, project=None)) as stores:
        assert stores.state is not None
    assert db.exists()
    assert not (cfg.sw_home / "state.db").exists()

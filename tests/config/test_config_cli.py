"""`sparkwing profile` through the real CLI: output, JSON, secrets, and one-line errors."""

from __future__ import annotations

import json

import pytest


def assert_one_line_error(proc, expected: str) -> None:
    """Exit 2, nothing on stdout, exactly ``error: <expected>`` on stderr, no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [f"error: {expected}"]


def test_laptop_outside_a_project(cfg) -> None:
    proc = cfg.cli("profile", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["name"] == "laptop"
    assert out["reason"] == "no profile selected, so the laptop default applies"
    assert out["source"] == "built-in"
    assert out["state"] == {"type": "sqlite", "path": str(cfg.sw_home / "state.db")}
    assert out["logs"] == {"type": "filesystem", "path": str(cfg.sw_home / "runs")}
    assert out["cache"] == {"type": "filesystem", "path": str(cfg.sw_home / "artifacts")}
    assert out["controller"] is None
    assert {"name", "reason", "source", "state", "cache", "logs", "controller"} <= set(out)


def test_pretty_output_says_what_and_why(cfg) -> None:
    cfg.write_project("""
        defaults:
          profile: team
        profiles:
          team:
            description: team logs
            logs: {type: filesystem, path: /tmp/team-logs}
    """)
    proc = cfg.cli("profile")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "profile:     team",
        "why:         set by defaults.profile at .sparkwing/sparkwing.yaml:2",
        "source:      .sparkwing/sparkwing.yaml:4",
        "description: team logs",
        f"state:       sqlite  path={cfg.sw_home / 'state.db'}  (laptop default)",
        f"cache:       filesystem  path={cfg.sw_home / 'artifacts'}  (laptop default)",
        "logs:        filesystem  path=/tmp/team-logs",
        "controller:  none",
    ]


def test_pipeline_and_profile_flags(cfg) -> None:
    cfg.write_project("""
        profiles:
          pipe: {}
          flag: {}
        pipelines:
          - {name: deploy, entrypoint: "p:deploy", profile: pipe}
          - {name: quick, entrypoint: "p:quick", profile: pipe, requires: [local]}
    """)
    out = json.loads(cfg.cli("profile", "--pipeline", "deploy", "-o", "json").stdout)
    assert (out["name"], out["reason"]) == (
        "pipe", 'set by pipeline "deploy" (profile: pipe at .sparkwing/sparkwing.yaml:5)')
    out = json.loads(cfg.cli("profile", "--pipeline", "deploy", "--profile", "flag",
                             "-o", "json").stdout)
    assert (out["name"], out["reason"]) == ("flag", "selected with --profile flag")
    out = json.loads(cfg.cli("profile", "--pipeline", "quick", "-o", "json").stdout)
    assert out["name"] == "laptop" and out["local_only"] is True
    out = json.loads(cfg.cli("profile", "--pipeline", "deploy", "-o", "json",
                             env={"SPARKWING_LOCAL_ONLY": "1"}).stdout)
    assert out["reason"] == "SPARKWING_LOCAL_ONLY=1 forces the built-in laptop profile"
    out = json.loads(cfg.cli("profile", "--pipeline", "deploy", "--sw-local-only",
                             "-o", "json").stdout)
    assert out["reason"] == "--sw-local-only forces the built-in laptop profile"


def test_dash_c_finds_the_project_from_elsewhere(cfg) -> None:
    cfg.write_project("defaults:\n  profile: p\nprofiles:\n  p: {}\n")
    proc = cfg.cli("profile", "-C", str(cfg.repo), "-o", "json", cwd=cfg.tmp)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["name"] == "p"
    assert out["reason"] == "set by defaults.profile at repo/.sparkwing/sparkwing.yaml:2"


@pytest.mark.parametrize("fmt", ["pretty", "json"])
def test_tokens_are_never_printed(cfg, fmt: str) -> None:
    cfg.write_profiles("""
        profiles:
          team:
            controller: {url: "https://ci.example.com", token: swu_SECRET_123}
            state: {type: sqlite, path: /tmp/t.db, password: hunter2}
          viaenv:
            controller: {url: "https://ci.example.com", token_env: TEAM_TOKEN}
    """)
    env = {"TEAM_TOKEN": "swu_ENV_SECRET"}
    team = cfg.cli("profile", "--profile", "team", "-o", fmt, env=env)
    viaenv = cfg.cli("profile", "--profile", "viaenv", "-o", fmt, env=env)
    # sqlite rejects the unknown "password" key: the error must not leak it either
    assert team.returncode == 2
    assert "hunter2" not in team.stderr and "swu_SECRET_123" not in team.stderr
    assert viaenv.returncode == 0, viaenv.stderr
    assert "swu_ENV_SECRET" not in viaenv.stdout
    if fmt == "json":
        assert json.loads(viaenv.stdout)["controller"] == {
            "url": "https://ci.example.com", "token_env": "TEAM_TOKEN"}
    else:
        assert ("controller:  https://ci.example.com  token_env: TEAM_TOKEN (set)"
                in viaenv.stdout.splitlines())


@pytest.mark.parametrize("fmt", ["pretty", "json"])
def test_literal_token_is_masked(cfg, fmt: str) -> None:
    cfg.write_profiles("""
        profiles:
          team:
            controller: {url: "https://ci.example.com", token: swu_SECRET_123}
    """)
    proc = cfg.cli("profile", "--profile", "team", "-o", fmt)
    assert proc.returncode == 0, proc.stderr
    assert "swu_SECRET_123" not in proc.stdout + proc.stderr
    if fmt == "json":
        assert json.loads(proc.stdout)["controller"] == {
            "url": "https://ci.example.com", "token": "***"}
    else:
        assert "controller:  https://ci.example.com  token: ***" in proc.stdout.splitlines()


def test_url_source_variable_missing(cfg) -> None:
    cfg.write_profiles("profiles:\n  team:\n    state: {type: sqlite, url_source: env:PG_DSN}\n")
    proc = cfg.cli("profile", "--profile", "team", env={"PG_DSN": ""})
    assert_one_line_error(
        proc, f'{cfg.profiles}:3: profile "team": state: url_source is env:PG_DSN but PG_DSN '
              "is not set")


def test_unknown_key_in_project_file(cfg) -> None:
    cfg.write_project("pipelines:\n  - name: release\n    entrypoint: p:plan\n    entrypiont: x\n")
    assert_one_line_error(
        cfg.cli("profile"),
        '.sparkwing/sparkwing.yaml:4: unknown key "entrypiont" in pipeline "release"; valid keys: '
        "args, description, entrypoint, guards, hidden, name, on, profile, requires")


def test_yaml_syntax_error(cfg) -> None:
    cfg.write_project("pipelines:\n  - name: a\n    entrypoint: [b\n")
    assert_one_line_error(
        cfg.cli("profile"),
        ".sparkwing/sparkwing.yaml:4: invalid YAML: did not find expected ',' or ']' "
        "(while parsing a flow sequence started on line 3)")


def test_retired_file(cfg) -> None:
    cfg.write_project("pipelines: []\n")
    (cfg.repo / ".sparkwing" / "backends.yaml").write_text("{}\n")
    assert_one_line_error(
        cfg.cli("profile"),
        ".sparkwing/backends.yaml: this file is retired; storage is set by profiles now "
        "(profiles.yaml or profiles: in sparkwing.yaml); delete it")


def test_unknown_profile_flag(cfg) -> None:
    cfg.write_profiles("profiles:\n  team: {}\n")
    assert_one_line_error(cfg.cli("profile", "--profile", "taem"),
                          '--profile: unknown profile "taem"; did you mean "team"? '
                          "(known profiles: laptop, team)")


def test_unknown_pipeline(cfg) -> None:
    cfg.write_project("pipelines:\n  - {name: release, entrypoint: 'p:plan'}\n")
    assert_one_line_error(cfg.cli("profile", "--pipeline", "relaese"),
                          'unknown pipeline "relaese"; did you mean "release"?')


def test_pipeline_outside_a_project(cfg) -> None:
    proc = cfg.cli("profile", "--pipeline", "x", cwd=cfg.home)
    assert_one_line_error(
        proc, f"no .sparkwing/sparkwing.yaml found in {cfg.home} or any parent directory; "
              "create one with: sparkwing pipeline new --name NAME")


def test_unknown_backend_type(cfg) -> None:
    cfg.write_profiles("profiles:\n  team:\n    cache: {type: floppy}\n")
    proc = cfg.cli("profile", "--profile", "team")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(
        f'error: {cfg.profiles}:3: profile "team": cache: no plugin provides cache type "floppy"; '
        "installed: ")


def test_bad_profiles_file(cfg) -> None:
    cfg.write_profiles("profiles:\n  team:\n    state: {type: sqlite}\n    colour: blue\n")
    assert_one_line_error(
        cfg.cli("profile"),
        f'{cfg.profiles}:4: unknown key "colour" in profile "team"; valid keys: cache, '
        "controller, description, executor, logs, state")


def test_missing_dash_c_directory(cfg) -> None:
    assert_one_line_error(cfg.cli("profile", "-C", str(cfg.tmp / "nope")),
                          f'-C: "{cfg.tmp / "nope"}" is not a directory')

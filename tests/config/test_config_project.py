"""Loading .sparkwing/sparkwing.yaml: the happy path and every way it can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from sparkwing.config import find_project, load_project
from sparkwing.errors import ConfigError, UsageError

FILE = ".sparkwing/sparkwing.yaml"
PIPELINE_KEYS = "args, description, entrypoint, guards, hidden, name, on, profile, requires"

GOOD = """
defaults:
  profile: team
  args: {env: dev, region: eu}
  guards: {reject: [profile:controller]}
  requires: [docker]
profiles:
  team:
    description: shared
    state: {type: sqlite, path: /tmp/team.db}
pipelines:
  - name: release
    entrypoint: pipelines.release:plan
    description: Ship a release
    on:
      push: {branches: [main, "release/*"], paths: ["src/**"]}
      pull_request: {actions: [opened, synchronize], branches: [main]}
      schedule: [{cron: "0 3 * * 1-5"}, {cron: "30  12 * * 6"}]
      webhook: {path: /deploy}
      pre_commit:
      pre_push: {}
    args: {version: 1.10, dry: true, count: 3, env: prod}
    profile: team
    guards: {require: ["git:branch=default"]}
    requires: [local]
  - name: lint
    entrypoint: checks.style.lint:run
    hidden: true
"""


def test_good_file_loads_every_field(cfg) -> None:
    cfg.write_project(GOOD)
    project = load_project(cfg.repo)
    assert project.root == cfg.repo.resolve()
    assert project.dir == cfg.repo.resolve() / ".sparkwing"
    assert project.file == project.dir / "sparkwing.yaml"
    assert project.defaults.profile == "team"
    assert project.defaults.args == {"env": "dev", "region": "eu"}
    assert project.defaults.guards.reject == ["profile:controller"]
    assert project.defaults.requires == ["docker"]
    assert set(project.profiles) == {"team"}
    release, lint = project.pipelines
    assert release.name == "release"
    assert release.entrypoint == "pipelines.release:plan"
    assert (release.module, release.function) == ("pipelines.release", "plan")
    assert release.module_file(project.dir) == project.dir / "pipelines" / "release.py"
    assert release.description == "Ship a release"
    assert release.on == {
        "push": {"branches": ["main", "release/*"], "paths": ["src/**"]},
        "pull_request": {"actions": ["opened", "synchronize"], "branches": ["main"]},
        "schedule": [{"cron": "0 3 * * 1-5"}, {"cron": "30 12 * * 6"}],
        "webhook": {"path": "/deploy"},
        "pre_commit": {},
        "pre_push": {},
    }
    # scalar args keep their source text: 1.10 is not turned into 1.1
    assert release.args == {"version": "1.10", "dry": "true", "count": "3", "env": "prod"}
    assert release.profile == "team"
    assert release.guards.require == ["git:branch=default"]
    assert release.requires == ["local"]
    assert release.line == 11
    assert lint.hidden is True
    assert lint.module_file(project.dir) == project.dir / "checks" / "style" / "lint.py"
    assert [p.name for p in project.visible_pipelines()] == ["release"]
    # pipeline args win per key over defaults.args; guards/requires replace wholesale
    assert project.args_for(release) == {
        "env": "prod", "region": "eu", "version": "1.10", "dry": "true", "count": "3",
    }
    assert project.guards_for(release).to_dict() == {"require": ["git:branch=default"],
                                                     "reject": []}
    assert project.guards_for(lint).to_dict() == {"require": [], "reject": ["profile:controller"]}
    assert project.requires_for(release) == ["local"]
    assert project.requires_for(lint) == ["docker"]


def test_module_file_prefers_a_package(cfg) -> None:
    cfg.write_project("pipelines:\n  - {name: a, entrypoint: 'pipes.a:plan'}\n")
    pkg = cfg.repo / ".sparkwing" / "pipes" / "a"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    project = load_project(cfg.repo)
    assert project.pipelines[0].module_file(project.dir) == pkg / "__init__.py"


def test_empty_file_is_an_empty_project(cfg) -> None:
    cfg.write_project("")
    project = load_project(cfg.repo)
    assert project.pipelines == [] and project.profiles == {}


def test_find_project_walks_up_from_a_subdirectory(cfg) -> None:
    cfg.write_project(GOOD)
    deep = cfg.repo / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_project(deep) == cfg.repo.resolve()
    assert load_project(deep).root == cfg.repo.resolve()


def test_find_project_skips_the_state_home(cfg, monkeypatch) -> None:
    # ~/.sparkwing is where runs are recorded, not a project
    state_home = cfg.home / ".sparkwing"
    state_home.mkdir()
    (state_home / "state.db").write_text("")
    monkeypatch.delenv("SPARKWING_HOME")
    work = cfg.home / "code" / "app"
    work.mkdir(parents=True)
    assert find_project(work) is None


def test_no_project_says_how_to_create_one(cfg, tmp_path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    with pytest.raises(ConfigError) as err:
        load_project(lonely)
    assert str(err.value) == (
        f"no .sparkwing/sparkwing.yaml found in {lonely} or any parent directory; "
        "create one with: sparkwing pipeline new --name NAME"
    )


def test_message_is_relative_from_a_subdirectory(cfg, monkeypatch) -> None:
    cfg.write_project("pipelines:\n  - name: a\n    entrypoint: p:f\n    hiden: true\n")
    sub = cfg.repo / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    with pytest.raises(ConfigError) as err:
        load_project(sub)
    assert str(err.value).startswith('../.sparkwing/sparkwing.yaml:4: unknown key "hiden"')


def test_unknown_pipeline_suggests_the_nearest_name(cfg) -> None:
    cfg.write_project(GOOD)
    project = load_project(cfg.repo)
    with pytest.raises(UsageError) as err:
        project.pipeline("relase")
    assert str(err.value) == 'unknown pipeline "relase"; did you mean "release"?'
    with pytest.raises(UsageError) as err:
        project.pipeline("deploy-everything")
    assert str(err.value) == 'unknown pipeline "deploy-everything"; available: release'
    assert err.value.exit_code == 2
    assert project.pipeline("lint").hidden  # hidden pipelines still resolve


def test_unknown_pipeline_in_an_empty_project(cfg) -> None:
    cfg.write_project("pipelines: []\n")
    with pytest.raises(UsageError) as err:
        load_project(cfg.repo).pipeline("x")
    assert str(err.value) == (
        'unknown pipeline "x"; .sparkwing/sparkwing.yaml defines no pipelines '
        "(add one with: sparkwing pipeline new --name NAME)"
    )


P = "pipelines:\n  - name: release\n    entrypoint: pipelines.release:plan\n"

BAD: list[tuple[str, str, str]] = [
    ("unknown-pipeline-key", P + "    entrypiont: x\n",
     f'4: unknown key "entrypiont" in pipeline "release"; valid keys: {PIPELINE_KEYS}'),
    ("unknown-top-key", "pipeline: []\n",
     '1: unknown key "pipeline" at the top level; valid keys: defaults, pipelines, plugins, profiles'),
    ("unknown-defaults-key", "defaults:\n  profil: x\n",
     '2: unknown key "profil" in defaults; valid keys: args, guards, profile, requires'),
    ("retired-targets", "targets: {prod: {}}\n",
     '1: retired key "targets" at the top level: pass values with pipeline args: instead; '
     "remove it"),
    ("retired-runners", P + "    runners: [big]\n",
     '4: retired key "runners" in pipeline "release": jobs run where sparkwing runs; remove it'),
    ("retired-values", P + "    values: {a: 1}\n",
     '4: retired key "values" in pipeline "release": use args: instead'),
    ("retired-secrets", P + "    secrets: [TOKEN]\n",
     '4: retired key "secrets" in pipeline "release": declare secrets in the pipeline code; '
     "remove it"),
    ("retired-group", P + "    group: ci\n",
     '4: retired key "group" in pipeline "release": remove it'),
    ("top-not-mapping", "- a\n- b\n",
     "1: the top level of sparkwing.yaml must be a mapping, got a list"),
    ("pipelines-not-list", "pipelines: {release: {}}\n",
     "1: pipelines must be a list of pipeline entries, got a mapping"),
    ("pipeline-not-mapping", "pipelines:\n  - release\n",
     '2: pipeline #1 must be a mapping, got "release"'),
    ("missing-name", "pipelines:\n  - entrypoint: a:b\n",
     "2: pipeline #1 has no name; every pipeline needs name: and entrypoint:"),
    ("name-not-string", "pipelines:\n  - name: [a]\n    entrypoint: a:b\n",
     "2: name of pipeline #1 must be a string, got a list"),
    ("bad-name", "pipelines:\n  - name: Release_1\n    entrypoint: a:b\n",
     '2: bad pipeline name "Release_1": use kebab-case (lowercase letters and digits joined '
     'by "-", e.g. build-test)'),
    ("bad-name-trailing-dash", "pipelines:\n  - name: build-\n    entrypoint: a:b\n",
     '2: bad pipeline name "build-": use kebab-case (lowercase letters and digits joined '
     'by "-", e.g. build-test)'),
    ("missing-entrypoint", "pipelines:\n  - name: release\n",
     '2: pipeline "release" has no entrypoint; add entrypoint: MODULE:FUNCTION '
     "(e.g. pipelines.release:plan)"),
    ("bad-entrypoint", "pipelines:\n  - name: release\n    entrypoint: pipelines/release.py\n",
     '3: bad entrypoint "pipelines/release.py" in pipeline "release": use MODULE:FUNCTION, '
     "a dotted module path inside .sparkwing/ and a function name (e.g. pipelines.release:plan)"),
    ("entrypoint-no-function", "pipelines:\n  - name: release\n    entrypoint: 'pipelines.release:'\n",
     '3: bad entrypoint "pipelines.release:" in pipeline "release": use MODULE:FUNCTION, '
     "a dotted module path inside .sparkwing/ and a function name (e.g. pipelines.release:plan)"),
    ("duplicate-pipeline",
     P + "  - name: release\n    entrypoint: other:plan\n",
     '4: duplicate pipeline name "release" (first on line 2)'),
    ("duplicate-key", P + "    description: a\n    description: b\n",
     '5: duplicate key "description" in pipeline "release" (first on line 4)'),
    ("hidden-not-bool", P + "    hidden: maybe\n",
     '4: hidden in pipeline "release" must be true or false, got "maybe"'),
    ("description-not-string", P + "    description: [a]\n",
     '4: description in pipeline "release" must be a string, got a list'),
    ("profile-not-string", P + "    profile: 3\n",
     '4: profile in pipeline "release" must be a string, got int 3'),
    ("args-not-mapping", P + "    args: [a]\n",
     '4: args in pipeline "release" must be a mapping, got a list'),
    ("args-null-value", P + "    args:\n      version:\n",
     '5: args.version in pipeline "release" has no value; write "" for an empty string'),
    ("args-nested-value", P + "    args:\n      version: {a: 1}\n",
     '5: args.version in pipeline "release" must be a string, number or boolean, got a mapping'),
    ("args-bad-name", P + "    args:\n      'bad name': x\n",
     '5: bad arg name "bad name" in args in pipeline "release": use letters, digits, "_" and "-",'
     " starting with a letter"),
    ("requires-not-list", P + "    requires: local\n",
     '4: requires in pipeline "release" must be a list of strings, got "local"'),
    ("requires-bad-item", P + "    requires: [[a]]\n",
     '4: requires in pipeline "release" must be a list of strings, got an item that is a list'),
    ("requires-empty-item", P + "    requires: ['']\n",
     '4: requires in pipeline "release" must not contain empty strings'),
    ("requires-bad-label", P + "    requires: ['needs gpu']\n",
     '4: bad label "needs gpu" in requires in pipeline "release": use letters, digits and '
     '"_.:=-"'),
    ("guards-unknown-key", P + "    guards: {allow: [profile:local]}\n",
     '4: unknown key "allow" in guards in pipeline "release"; valid keys: reject, require'),
    ("guards-bad-token", P + "    guards:\n      require:\n        - branch=main\n",
     '6: bad guard token "branch=main" in guards.require in pipeline "release"; valid forms: '
     "profile:local, profile:controller, profile:name=NAME, arg:FLAG=VALUE, git:branch=NAME, "
     "git:branch=default"),
    ("defaults-guards-bad-token", "defaults:\n  guards: {reject: ['profile:remote']}\n",
     '2: bad guard token "profile:remote" in guards.reject in defaults; valid forms: '
     "profile:local, profile:controller, profile:name=NAME, arg:FLAG=VALUE, git:branch=NAME, "
     "git:branch=default"),
    ("on-unknown-trigger", P + "    on:\n      push_tag: {}\n",
     '5: unknown key "push_tag" in on in pipeline "release"; valid keys: post_commit, pre_commit,'
     " pre_push, pull_request, push, schedule, webhook, workflow_dispatch"),
    ("on-not-mapping", P + "    on: push\n",
     '4: on in pipeline "release" must be a mapping, got "push"'),
    ("push-unknown-key", P + "    on:\n      push: {branch: [main]}\n",
     '5: unknown key "branch" in on.push in pipeline "release"; valid keys: branches, paths, tags'),
    ("push-branches-not-list", P + "    on:\n      push: {branches: main}\n",
     '5: on.push.branches in pipeline "release" must be a list of strings, got "main"'),
    ("pr-bad-action", P + "    on:\n      pull_request: {actions: [opened, pushed]}\n",
     '5: unknown action "pushed" in on.pull_request in pipeline "release"; valid actions: '
     "assigned, auto_merge_disabled, auto_merge_enabled, closed, converted_to_draft, "
     "demilestoned, dequeued, edited, enqueued, labeled, locked, milestoned, opened, "
     "ready_for_review, reopened, review_request_removed, review_requested, synchronize, "
     "unassigned, unlabeled, unlocked"),
    ("cron-fields", P + "    on:\n      schedule: '0 3 * *'\n",
     '5: bad cron expression "0 3 * *" in on.schedule in pipeline "release": a cron expression '
     "has 5 fields (minute hour day-of-month month day-of-week), got 4"),
    ("cron-seconds", P + "    on:\n      schedule: [{cron: '0 0 3 * * *'}]\n",
     '5: bad cron expression "0 0 3 * * *" in on.schedule[0].cron in pipeline "release": a cron '
     "expression has 5 fields (minute hour day-of-month month day-of-week), got 6"),
    ("cron-range", P + "    on:\n      schedule:\n        - cron: '0 24 * * *'\n",
     '6: bad cron expression "0 24 * * *" in on.schedule[0].cron in pipeline "release": hour '
     'field "24": out of range (valid: 0-23)'),
    ("cron-name", P + "    on:\n      schedule: '0 3 * * funday'\n",
     '5: bad cron expression "0 3 * * funday" in on.schedule in pipeline "release": day of week '
     'field "funday": not valid (valid: 0-7 or sun-sat)'),
    ("cron-step", P + "    on:\n      schedule: [{cron: '*/0 * * * *'}]\n",
     '5: bad cron expression "*/0 * * * *" in on.schedule[0].cron in pipeline "release": minute '
     "field \"*/0\": step '0' not valid (valid: 0-59)"),
    ("cron-shorthand", P + "    on:\n      schedule: '@sometimes'\n",
     '5: bad cron expression "@sometimes" in on.schedule in pipeline "release": unknown '
     "shorthand; use one of @annually, @daily, @hourly, @midnight, @monthly, @weekly, @yearly"),
    ("schedule-item-not-mapping", P + "    on:\n      schedule: [daily]\n",
     '5: on.schedule[0] in pipeline "release" must be a mapping like {cron: "0 3 * * *"}, '
     'got "daily"'),
    ("schedule-no-cron", P + "    on:\n      schedule: [{at: 3am}]\n",
     '5: unknown key "at" in on.schedule[0] in pipeline "release"; valid keys: cron'),
    ("schedule-empty", P + "    on:\n      schedule: []\n",
     '5: on.schedule in pipeline "release" must list at least one {cron: EXPR} entry'),
    ("schedule-mapping", P + "    on:\n      schedule: {cron: '0 3 * * *'}\n",
     '5: on.schedule in pipeline "release" must be a list of {cron: EXPR} entries (or one cron '
     "string), got a mapping"),
    ("schedule-duplicate", P + "    on:\n      schedule:\n        - cron: '0 3 * * *'\n"
     "        - cron: '0  3 * * *'\n",
     '7: duplicate cron expression "0 3 * * *" in on.schedule in pipeline "release" (first on '
     "line 6)"),
    ("webhook-no-path", P + "    on:\n      webhook: {}\n",
     '5: on.webhook in pipeline "release" requires path (e.g. path: /deploy)'),
    ("webhook-relative-path", P + "    on:\n      webhook: {path: deploy}\n",
     '5: on.webhook.path in pipeline "release" must start with "/", got "deploy"'),
    ("git-hook-with-keys", P + "    on:\n      pre_commit: {fast: true}\n",
     '5: unknown key "fast" in on.pre_commit in pipeline "release"; valid keys: '),
    ("git-hook-scalar", P + "    on:\n      post_commit: yes\n",
     '5: on.post_commit in pipeline "release" must be a mapping, got bool yes'),
    ("yaml-syntax", "pipelines:\n  - name: a\n   entrypoint: b\n",
     "3: invalid YAML: "),
    ("yaml-tab", "pipelines:\n\t- name: a\n",
     "2: invalid YAML: a tab character cannot indent or start a value; use spaces"),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BAD],
                         ids=[case for case, _, _ in BAD])
def test_bad_project_file_is_one_line_with_file_and_line(cfg, text: str, expected: str) -> None:
    cfg.write_project(text)
    with pytest.raises(ConfigError) as err:
        load_project(cfg.repo)
    message = str(err.value)
    assert "\n" not in message
    assert err.value.exit_code == 2
    full = f"{FILE}:{expected}"
    if expected.endswith(": ") or expected.endswith("valid keys: "):
        assert message.startswith(full), message
    else:
        assert message == full


@pytest.mark.parametrize("retired", ["pipelines.yaml", "backends.yaml", "runners.yaml",
                                     "sources.yaml"])
def test_retired_files_are_refused_by_name(cfg, retired: str) -> None:
    cfg.write_project(P)
    (cfg.repo / ".sparkwing" / retired).write_text("x: 1\n")
    with pytest.raises(ConfigError) as err:
        load_project(cfg.repo)
    assert str(err.value).startswith(f".sparkwing/{retired}: this file is retired; ")
    assert "\n" not in str(err.value)


def test_sparkwing_dir_without_yaml(cfg) -> None:
    (cfg.repo / ".sparkwing").mkdir()
    with pytest.raises(ConfigError) as err:
        load_project(cfg.repo)
    assert str(err.value) == (
        ".sparkwing has no sparkwing.yaml; create one with: sparkwing pipeline new --name NAME"
    )


def test_yaml_syntax_error_names_the_line_and_context(cfg) -> None:
    cfg.write_project("pipelines:\n  - name: a\n    entrypoint: [b\n")
    with pytest.raises(ConfigError) as err:
        load_project(cfg.repo)
    assert str(err.value) == (
        ".sparkwing/sparkwing.yaml:4: invalid YAML: did not find expected ',' or ']' "
        "(while parsing a flow sequence started on line 3)"
    )


def test_not_utf8(cfg) -> None:
    file = cfg.write_project("pipelines: []\n")
    file.write_bytes(b"pipelines: []\n# caf\xe9\n")
    with pytest.raises(ConfigError) as err:
        load_project(cfg.repo)
    assert str(err.value) == ".sparkwing/sparkwing.yaml:2: not valid UTF-8"


def test_the_on_key_is_not_read_as_a_boolean(cfg) -> None:
    # YAML 1.1 reads a bare `on` as true; the loader keeps key text as written
    cfg.write_project(P + "    on: {pre_push: {}}\n")
    assert load_project(cfg.repo).pipelines[0].on == {"pre_push": {}}


def test_cron_shorthand_and_lists(cfg) -> None:
    cfg.write_project(P + "    on:\n      schedule: '@daily'\n")
    assert load_project(cfg.repo).pipelines[0].on["schedule"] == [{"cron": "@daily"}]
    cfg.write_project(P + "    on:\n      schedule: [{cron: '*/15 0-6,22 1 jan-mar mon-fri'}]\n")
    assert load_project(cfg.repo).pipelines[0].on["schedule"] == [
        {"cron": "*/15 0-6,22 1 jan-mar mon-fri"}]


def test_run_path_checks_only_the_shape_of_cron_expressions(cfg) -> None:
    """`sparkwing run` loads the project with check_schedules=False: no croniter import."""
    cfg.write_project(P + "    on:\n      schedule: [{cron: '0 24 * * *'}]\n")
    project = load_project(cfg.repo, check_schedules=False)
    assert project.pipelines[0].on["schedule"] == [{"cron": "0 24 * * *"}]
    cfg.write_project(P + "    on:\n      schedule: [{cron: '0 3 * *'}]\n")
    with pytest.raises(ConfigError, match="has 5 fields"):
        load_project(cfg.repo, check_schedules=False)


def test_loading_does_not_check_that_the_module_exists(cfg) -> None:
    # the entrypoint's module is imported when the pipeline runs, not when the file is read
    cfg.write_project(P)
    entry = load_project(cfg.repo).pipeline("release")
    assert not entry.module_file(cfg.repo / ".sparkwing").exists()


def test_project_relative_display_uses_cwd(cfg, monkeypatch, tmp_path: Path) -> None:
    cfg.write_project("pipelines: 3\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_project(cfg.repo)
    assert str(err.value) == "repo/.sparkwing/sparkwing.yaml:1: pipelines must be a list of " \
                             "pipeline entries, got int 3"

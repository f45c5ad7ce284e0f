"""Guard tokens: syntax checked at load, evaluated per dispatch; cron syntax."""

from __future__ import annotations

import pytest
from sparkwing.config import Guards, cron_problem, evaluate_guards, load_project, token_problem

FACTS = {
    "profile_name": "laptop",
    "has_controller": False,
    "args": {"env": "dev"},
    "branch": "feature/x",
    "default_branch": "main",
}


@pytest.mark.parametrize("token", [
    "profile:local", "profile:controller", "profile:name=team", "profile:name=ci.prod",
    "arg:env=prod", "arg:dry-run=", "git:branch=main", "git:branch=release/1.2",
    "git:branch=default",
])
def test_valid_tokens(token: str) -> None:
    assert token_problem(token) is None


@pytest.mark.parametrize("token", [
    "profile", "profile:", "profile:remote", "profile:name=", "arg:env", "arg:=x", "arg:1x=y",
    "git:branch", "git:branch=", "git:tag=v1", "branch=main", "env:CI=1", "",
])
def test_invalid_tokens(token: str) -> None:
    assert token_problem(token) == (
        "valid forms: profile:local, profile:controller, profile:name=NAME, arg:FLAG=VALUE, "
        "git:branch=NAME, git:branch=default"
    )


def test_no_guards_allow() -> None:
    assert evaluate_guards(Guards(), **FACTS) is None


def test_reject_fires_when_any_token_matches() -> None:
    guards = Guards(reject=["profile:controller", "profile:local"])
    assert evaluate_guards(guards, **FACTS) == (
        'dispatch rejected by guard "profile:local" (profile is "laptop", without a controller)'
    )
    assert evaluate_guards(guards, **{**FACTS, "profile_name": "team"}) is None
    assert evaluate_guards(
        guards, **{**FACTS, "profile_name": "team", "has_controller": True}
    ) == ('dispatch rejected by guard "profile:controller" '
          '(profile is "team", with a controller)')


def test_require_needs_every_token() -> None:
    guards = Guards(require=["arg:env=dev", "git:branch=main"])
    assert evaluate_guards(guards, **FACTS) == (
        'dispatch requires "git:branch=main" (branch is "feature/x")'
    )
    assert evaluate_guards(guards, **{**FACTS, "branch": "main"}) is None
    assert evaluate_guards(guards, **{**FACTS, "branch": "main", "args": {}}) == (
        'dispatch requires "arg:env=dev" (env is not set)'
    )
    assert evaluate_guards(guards, **{**FACTS, "branch": "main", "args": {"env": "prod"}}) == (
        'dispatch requires "arg:env=dev" (env is "prod")'
    )


def test_default_branch_and_profile_name() -> None:
    guards = Guards(require=["git:branch=default", "profile:name=laptop"])
    assert evaluate_guards(guards, **{**FACTS, "branch": "main"}) is None
    assert evaluate_guards(guards, **FACTS) == (
        'dispatch requires "git:branch=default" (branch is "feature/x", default branch is "main")'
    )
    assert evaluate_guards(guards, **{**FACTS, "branch": "main", "default_branch": None}) == (
        'dispatch requires "git:branch=default" (branch is "main", default branch is unknown)'
    )
    assert evaluate_guards(guards, **{**FACTS, "branch": None}) == (
        'dispatch requires "git:branch=default" (not on a git branch)'
    )
    assert evaluate_guards(
        Guards(require=["profile:name=team"]), **FACTS
    ) == 'dispatch requires "profile:name=team" (profile is "laptop", without a controller)'


def test_reject_is_checked_before_require() -> None:
    guards = Guards(require=["git:branch=main"], reject=["arg:env=dev"])
    assert evaluate_guards(guards, **FACTS) == (
        'dispatch rejected by guard "arg:env=dev" (env is "dev")'
    )


def test_pipeline_guards_replace_defaults_wholesale(cfg) -> None:
    cfg.write_project("""
        defaults:
          guards: {require: ["arg:env=prod"], reject: [profile:local]}
        pipelines:
          - name: own
            entrypoint: p:own
            guards: {require: ["git:branch=main"]}
          - name: inherits
            entrypoint: p:inherits
          - name: empty
            entrypoint: p:empty
            guards: {}
    """)
    project = load_project(cfg.repo)
    own = project.guards_for(project.pipeline("own"))
    assert own.to_dict() == {"require": ["git:branch=main"], "reject": []}
    # the defaults' reject is gone for "own": laptop + branch main passes
    assert evaluate_guards(own, **{**FACTS, "branch": "main"}) is None
    inherited = project.guards_for(project.pipeline("inherits"))
    assert inherited.reject == ["profile:local"]
    assert evaluate_guards(inherited, **FACTS) is not None
    # an empty guards block is "not set", so the defaults apply
    assert project.guards_for(project.pipeline("empty")).reject == ["profile:local"]


@pytest.mark.parametrize("expr", [
    "* * * * *", "0 3 * * 1-5", "*/5 * * * *", "0 0 1,15 * *", "30 2 * jan,jul sun",
    "0 12 * * 7", "0-30/10 8-18 * * mon-fri", "@hourly", "@weekly", "  0 3 * * *  ",
])
def test_valid_cron(expr: str) -> None:
    assert cron_problem(expr) is None


@pytest.mark.parametrize(("expr", "problem"), [
    ("* * * *", "a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
                "got 4"),
    ("* * * * * *", "a cron expression has 5 fields (minute hour day-of-month month "
                    "day-of-week), got 6"),
    ("60 * * * *", 'minute field "60": out of range (valid: 0-59)'),
    ("* * 0 * *", 'day of month field "0": out of range (valid: 1-31)'),
    ("* * * 13 *", 'month field "13": out of range (valid: 1-12 or jan-dec)'),
    ("* * * foo *", 'month field "foo": not valid (valid: 1-12 or jan-dec)'),
    ("*/0 * * * *", "minute field \"*/0\": step '0' not valid (valid: 0-59)"),
    ("*-5 * * * *", 'minute field "*-5": not valid (valid: 0-59)'),
    ("1,,2 * * * *", 'minute field "1,,2": not valid (valid: 0-59)'),
    ("* * * * funday", 'day of week field "funday": not valid (valid: 0-7 or sun-sat)'),
    ("@often", "unknown shorthand; use one of @annually, @daily, @hourly, @midnight, "
               "@monthly, @weekly, @yearly"),
])
def test_invalid_cron(expr: str, problem: str) -> None:
    assert cron_problem(expr) == problem

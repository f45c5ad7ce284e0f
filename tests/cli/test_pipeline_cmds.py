"""`sparkwing pipeline new|list|describe|explain` through the real CLI."""

from __future__ import annotations

import json
import textwrap

import pytest

from .test_runs_read import one_line_error


@pytest.fixture
def empty(clienv):
    """A directory with no .sparkwing/ (and the clienv machine)."""
    d = clienv.tmp / "fresh"
    d.mkdir()
    return clienv, d


@pytest.mark.parametrize("template", ["minimal", "build-test-deploy"])
def test_new_creates_a_project_that_runs_green(empty, template) -> None:
    env, d = empty
    proc = env.cli("pipeline", "new", "--name", "my-first", "--template", template, cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "created .sparkwing/pipelines/__init__.py",
        "created .sparkwing/.gitignore",
        "created .sparkwing/pipelines/my_first.py",
        'created .sparkwing/sparkwing.yaml (pipeline "my-first", entrypoint '
        "pipelines.my_first:plan)",
        "next: sparkwing run my-first",
    ]
    yaml = (d / ".sparkwing" / "sparkwing.yaml").read_text()
    assert "  - name: my-first\n    entrypoint: pipelines.my_first:plan\n" in yaml
    run = env.cli("run", "my-first", "-o", "json", cwd=d)
    assert run.returncode == 0, run.stdout + run.stderr
    with env.state() as st:
        runs = st.list_runs()
        assert [(r.pipeline, r.status) for r in runs] == [("my-first", "success")]
        outcomes = {n.outcome for n in st.list_nodes(runs[0].id)}
    assert outcomes == {"success"}


def test_build_test_deploy_takes_its_target_input(empty) -> None:
    env, d = empty
    env.cli("pipeline", "new", "--name", "ship", "--template", "build-test-deploy", cwd=d)
    run = env.cli("run", "ship", "--target", "production", "-o", "json", cwd=d)
    assert run.returncode == 0, run.stderr
    assert "deploying dist/app.tar.gz to production" in run.stdout
    bad = env.cli("run", "ship", "--target", "moon", cwd=d)
    assert bad.returncode == 2


def test_new_appends_and_keeps_existing_text(clienv) -> None:
    yaml = clienv.repo / ".sparkwing" / "sparkwing.yaml"
    original = ("# team pipelines -- keep this comment\n"
                + yaml.read_text()
                + "  # a trailing comment inside the list\n"
                "\n"
                "# profiles follow\n"
                "profiles:\n"
                "  spare: {}\n")
    yaml.write_text(original)
    proc = clienv.cli("pipeline", "new", "--name", "added", "--description", "Added: one")
    assert proc.returncode == 0, proc.stderr
    text = yaml.read_text()
    assert text.startswith(original.split("  # a trailing")[0])
    assert "# profiles follow\nprofiles:\n  spare: {}\n" in text
    assert '  - name: added\n    entrypoint: pipelines.added:plan\n    description: "Added: one"\n' in text
    listed = [json.loads(ln)["name"] for ln in
              clienv.cli("pipeline", "list", "-o", "json").stdout.splitlines()]
    assert listed == ["ok", "broken", "slow", "added"]
    assert clienv.cli("run", "added", "-o", "json").returncode == 0


def test_new_into_empty_pipelines_list_and_indentless_style(empty) -> None:
    env, d = empty
    sw = d / ".sparkwing"
    sw.mkdir()
    (sw / "sparkwing.yaml").write_text("pipelines: []  # none yet\n")
    assert env.cli("pipeline", "new", "--name", "one", cwd=d).returncode == 0
    assert env.cli("pipeline", "new", "--name", "two", cwd=d).returncode == 0
    names = [json.loads(ln)["name"] for ln in
             env.cli("pipeline", "list", "-o", "json", cwd=d).stdout.splitlines()]
    assert names == ["one", "two"]
    other = env.tmp / "indentless"
    (other / ".sparkwing").mkdir(parents=True)
    env.add_pipeline("zero", "def plan(plan):\n    pass\n", repo=other)
    text = (other / ".sparkwing" / "sparkwing.yaml").read_text().replace("  - name", "- name")
    text = text.replace("    entrypoint", "  entrypoint")
    (other / ".sparkwing" / "sparkwing.yaml").write_text(text + "defaults:\n  args: {}\n")
    assert env.cli("pipeline", "new", "--name", "three", cwd=other).returncode == 0
    text = (other / ".sparkwing" / "sparkwing.yaml").read_text()
    assert "- name: three\n  entrypoint: pipelines.three:plan\n" in text
    assert text.endswith("defaults:\n  args: {}\n")


def test_new_refuses_bad_and_taken_names(clienv) -> None:
    msg = one_line_error(clienv.cli("pipeline", "new", "--name", "ok"), 2)
    assert msg == 'pipeline "ok" already exists (.sparkwing/sparkwing.yaml:2); choose another name'
    for bad in ("Build", "build_test", "-x", "a--b"):
        msg = one_line_error(clienv.cli("pipeline", "new", "--name", bad), 2)
        assert msg.startswith(f'bad pipeline name "{bad}": use kebab-case')
    msg = one_line_error(clienv.cli("pipeline", "new", "--name", "x", "--template", "fancy"), 2)
    assert "minimal" in msg
    (clienv.repo / ".sparkwing" / "pipelines" / "taken.py").write_text("")
    msg = one_line_error(clienv.cli("pipeline", "new", "--name", "taken"), 2)
    assert msg.startswith(".sparkwing/pipelines/taken.py already exists")
    one_line_error(clienv.cli("pipeline", "new"), 2)


def test_new_with_C_and_name_needing_a_safe_module(empty) -> None:
    env, d = empty
    proc = env.cli("pipeline", "new", "--name", "2fa", "-C", str(d), cwd=env.tmp)
    assert proc.returncode == 0, proc.stderr
    assert (d / ".sparkwing" / "pipelines" / "pipeline_2fa.py").is_file()
    assert env.cli("run", "2fa", "-o", "json", cwd=d).returncode == 0


def test_new_refuses_the_sparkwing_home(clienv) -> None:
    home_env = {"SPARKWING_HOME": str(clienv.home / ".sparkwing")}
    (clienv.home / ".sparkwing").mkdir()
    msg = one_line_error(clienv.cli("pipeline", "new", "--name", "x", cwd=clienv.home,
                                    env=home_env), 2)
    assert "sparkwing's home" in msg
    assert not (clienv.home / ".sparkwing" / "sparkwing.yaml").exists()


def test_list_and_hidden(clienv) -> None:
    clienv.add_pipeline("secret-one", "def plan(plan):\n    pass\n",
                        extra_yaml="hidden: true\ndescription: not shown\non:\n  push: {}\n")
    pretty = clienv.cli("pipeline", "list").stdout.splitlines()
    assert pretty[0].split() == ["NAME", "DESCRIPTION", "ENTRYPOINT", "TRIGGERS"]
    assert [ln.split()[0] for ln in pretty[1:]] == ["ok", "broken", "slow"]
    rows = [json.loads(ln) for ln in
            clienv.cli("pipeline", "list", "--all", "-o", "json").stdout.splitlines()]
    assert rows[-1] == {"name": "secret-one", "description": "not shown",
                        "entrypoint": "pipelines.secret_one:plan", "triggers": ["push"],
                        "hidden": True}
    outside = clienv.tmp / "nowhere"
    outside.mkdir()
    msg = one_line_error(clienv.cli("pipeline", "list", cwd=outside), 2)
    assert "sparkwing pipeline new" in msg


RELEASE = '''
    from dataclasses import dataclass
    from typing import Literal

    import sparkwing as sw

    @dataclass
    class Inputs:
        version: str = sw.arg(help="what to release", short="v")
        count: int = sw.arg(help="how many")
        channel: Literal["stable", "beta"] = "stable"
        dry: bool = False
        token: str = sw.arg(default="t0", secret=True, help="registry token")

    class Package(sw.Job):
        def work(self, w):
            a = w.step("compile", lambda ctx: None)
            return w.step("zip", lambda ctx: "pkg.zip").needs(a)

    def plan(plan, inputs: Inputs, run):
        check = plan.job("check", sw.sh(f"echo {inputs.version}"))
        pkg = plan.job("package", Package()).needs(check).retry(2).timeout("5m")
        if inputs.channel == "beta":
            plan.job("announce-beta", sw.sh("echo beta")).needs(pkg)
        plan.job("publish", lambda ctx: None).needs(pkg, check)
'''


def test_describe(clienv) -> None:
    clienv.add_pipeline("release", RELEASE, extra_yaml="description: Ship a version\n")
    data = json.loads(clienv.cli("pipeline", "describe", "--name", "release", "-o", "json").stdout)
    assert data["name"] == "release" and data["description"] == "Ship a version"
    assert data["entrypoint"] == "pipelines.release:plan"
    assert data["file"] == ".sparkwing/pipelines/release.py"
    inputs = {i["name"]: i for i in data["inputs"]}
    assert list(inputs) == ["version", "count", "channel", "dry", "token"]
    assert inputs["version"]["required"] and inputs["version"]["short"] == "v"
    assert inputs["channel"]["choices"] == ["stable", "beta"]
    assert inputs["channel"]["default"] == "stable"
    assert inputs["dry"]["type"] == "bool" and not inputs["dry"]["required"]
    assert inputs["token"]["secret"]
    pretty = clienv.cli("pipeline", "describe", "--name", "release").stdout
    assert "-v, --version str  what to release (required)" in pretty
    assert "--token str  registry token (default ***, secret)" in pretty
    assert "t0" not in pretty
    msg = one_line_error(clienv.cli("pipeline", "describe", "--name", "relase"), 2)
    assert msg == 'unknown pipeline "relase"; did you mean "release"?'


def test_explain_builds_without_running(clienv) -> None:
    clienv.add_pipeline("release", RELEASE)
    proc = clienv.cli("pipeline", "explain", "--name", "release")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == ("pipeline release: 3 jobs  (placeholders for missing inputs: "
                        "--version=<version>, --count=0)")
    assert lines[1] == "check  $ echo <version>"
    assert lines[2].startswith("└─ package  Package()  ·  needs: check  ·  retry 2")
    assert "timeout 5m00s" in lines[2]
    assert lines[3].strip() == "│  · step compile"
    assert lines[4].strip() == "│  · step zip  needs: compile  result"
    assert lines[5].strip() == "└─ publish  plan.<locals>.<lambda>(ctx)  ·  needs: package, check"
    with clienv.state() as st:
        assert st.list_runs() == []  # nothing ran, nothing was recorded
    # pipeline flags are used as `sparkwing run` would use them
    beta = clienv.cli("pipeline", "explain", "--name", "release", "-o", "json",
                      "--version", "1.2.3", "--count=2", "--channel", "beta")
    assert beta.returncode == 0, beta.stderr
    plan = json.loads(beta.stdout)
    assert plan["pipeline"] == "release"
    assert [n["id"] for n in plan["nodes"]] == ["check", "package", "announce-beta", "publish"]
    assert plan["nodes"][0]["describe"] == "$ echo 1.2.3"
    assert [s["id"] for s in plan["nodes"][1]["steps"]] == ["compile", "zip"]
    bad = clienv.cli("pipeline", "explain", "--name", "release", "--channel", "alpha")
    assert one_line_error(bad, 2).startswith('--channel="alpha" not allowed')


def test_explain_reports_plan_errors(clienv) -> None:
    clienv.add_pipeline("cyclic", textwrap.dedent('''
        import sparkwing as sw

        def plan(plan):
            plan.job("a", sw.sh("true")).needs("b")
            plan.job("b", sw.sh("true")).needs("a")
    '''))
    msg = one_line_error(clienv.cli("pipeline", "explain", "--name", "cyclic"), 2)
    assert "cycle" in msg


def test_pipeline_run_alias_and_hooks_lazy(clienv) -> None:
    run = clienv.cli("pipeline", "run", "ok", "-o", "json")
    assert run.returncode == 0, run.stderr
    help_text = clienv.cli("pipeline", "--help")
    assert help_text.returncode == 0, help_text.stderr
    for verb in ("new", "list", "describe", "explain", "run"):
        assert f"  {verb} " in help_text.stdout

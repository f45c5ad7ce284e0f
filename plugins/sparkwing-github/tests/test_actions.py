"""Inside GitHub Actions: annotations on standard output and the step summary file.

The failing case is a real ``sparkwing run`` with ``GITHUB_ACTIONS=true`` and
``GITHUB_STEP_SUMMARY`` set, as a workflow step runs it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sparkwing.storage.records import Run
from sparkwing_github.actions import Failure, error_command, report

from .conftest import Project

FAILING = """
    import sparkwing as sw

    def plan(plan, inputs, run):
        plan.job("lint", sw.sh("echo lint"))
        plan.job("unit-tests", sw.sh("echo boom; exit 3"))
"""


def test_error_commands_escape_their_properties_and_message() -> None:
    cmd = error_command("ci", Failure("a,b", "line one\nline: two 100%", "src/x.py", 12))
    assert cmd == ("::error title=sparkwing ci/a%2Cb,file=src/x.py,line=12::"
                   "line one%0Aline: two 100%25")
    assert error_command("ci", Failure("t", "m")) == "::error title=sparkwing ci/t::m"


def test_outside_actions_nothing_is_written(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = tmp_path / "summary.md"
    report(Run(id="r1", pipeline="ci", status="failed"), [Failure("t", "m")], "",
           env={"GITHUB_STEP_SUMMARY": str(summary)}, out=out)
    assert out.getvalue() == "" and not summary.exists()


def test_a_failed_run_in_actions_annotates_and_summarises(
    project: Project, tmp_path: Path,
) -> None:
    project.add("ci", source=FAILING)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    env = dict(os.environ)
    env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary),
               GITHUB_REPOSITORY="octo/app", SPARKWING_GITHUB_DASHBOARD_URL="http://dash:1")
    env.pop("SPARKWING_GITHUB_TOKEN", None)  # no statuses: only the Actions output
    proc = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "run", "ci"],
                          cwd=project.root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1, proc.stdout
    # the job's own error (from the node_finished hook), not a generic line
    assert errors[0].startswith("::error title=sparkwing ci/unit-tests::")
    assert "command exited with code 3" in errors[0]
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, not replaced
    assert "### ❌ sparkwing `ci`: failed" in text
    assert "| `unit-tests` |" in text and "`lint`" not in text
    assert "](http://dash:1/#/runs/" in text


def test_a_run_recorded_inside_another_ci_vendor_names_no_github_repository(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from sparkwing_github.observer import repository_of

    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)

    def run(source: str, **extra: str) -> SimpleNamespace:
        return SimpleNamespace(invocation={"trigger": {"source": source, "extra": extra}})

    assert repository_of(run("ci-embedded", vendor="gitlab-ci", repository="group/app")) == ""
    assert repository_of(run("ci-embedded", vendor="buildkite", repository="git@x:a/b.git")) == ""
    assert repository_of(run("ci-embedded", vendor="github-actions",
                             repository="acme/widgets")) == "acme/widgets"
    assert repository_of(run("github", repository="acme/widgets")) == "acme/widgets"

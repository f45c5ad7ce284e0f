"""Pipeline "ci": lint, test, build and smoke-test the textstats package.

Every command comes with Python itself (compileall, tabnanny, unittest,
zipapp), so the pipeline runs offline and needs nothing installed:

    lint ──┐
           ├── build ── smoke
    test ──┘

Try:  sparkwing run ci
      sparkwing pipeline explain --name ci
      sparkwing runs status --run latest
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from pathlib import Path

import sparkwing as sw

#: The interpreter running sparkwing runs the checks too (quoted for the shell).
PY = shlex.quote(sys.executable)
MAX_LINE = 100
ARTIFACT = "dist/textstats.pyz"


def check_style(ctx: sw.Context) -> int:
    """Fail on lines longer than MAX_LINE or with trailing whitespace; return files checked."""
    problems: list[str] = []
    files = sorted(ctx.path("src").rglob("*.py")) + sorted(ctx.path("tests").rglob("*.py"))
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{file.relative_to(ctx.path())}:{number}"
            if len(line) > MAX_LINE:
                problems.append(f"{where}: line longer than {MAX_LINE} characters")
            if line != line.rstrip():
                problems.append(f"{where}: trailing whitespace")
    for problem in problems:
        ctx.error(problem)
    if problems:
        raise RuntimeError(f"{len(problems)} style problem(s)")
    ctx.info(f"style ok in {len(files)} files")
    return len(files)


class Lint(sw.Job):
    """Three independent checks, run as steps of one job (they share its workspace)."""

    def work(self, w: sw.Work) -> sw.StepNode:
        w.step("compile", lambda ctx: ctx.sh(f"{PY} -m compileall -q src tests"))
        w.step("tabs", lambda ctx: ctx.sh(f"{PY} -m tabnanny src tests"))
        return w.step("style", check_style)


def build(ctx: sw.Context) -> dict[str, object]:
    """Bundle the package into one runnable file; its path and digest are the job's output."""
    Path(ctx.path("dist")).mkdir(exist_ok=True)
    ctx.exec([sys.executable, "-m", "zipapp", "src", "-m", "textstats.__main__:main",
              "-o", ARTIFACT, "-p", "/usr/bin/env python3"])
    data = ctx.path(ARTIFACT).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    ctx.summary(f"built `{ARTIFACT}` ({len(data)} bytes, sha256 `{digest[:12]}`)")
    return {"artifact": ARTIFACT, "sha256": digest, "bytes": len(data)}


def plan(plan: sw.Plan, inputs: sw.NoInputs, run: sw.RunContext) -> None:
    """Register the jobs (nothing runs here)."""
    lint = plan.job("lint", Lint())
    test = plan.job("test", sw.sh(f"{PY} -m unittest discover -s tests -v"))
    test.env(PYTHONPATH="src").retry(1)
    built = plan.job("build", build).needs(lint, test)

    def smoke(ctx: sw.Context) -> dict[str, object]:
        """Run the built artifact on a sample file and check what it prints."""
        out = built.output.get(ctx)
        if hashlib.sha256(ctx.path(out["artifact"]).read_bytes()).hexdigest() != out["sha256"]:
            raise RuntimeError(f"{out['artifact']} changed after the build")
        text = ctx.exec([sys.executable, out["artifact"], "sample.txt"], capture="text")
        ctx.info(text)
        if "words: 21" not in text:
            raise RuntimeError(f"unexpected output from the artifact: {text!r}")
        ctx.annotate(f"smoke test passed on {out['artifact']}")
        return {"checked": out["artifact"]}

    plan.job("smoke", smoke).needs(built).timeout("1m")

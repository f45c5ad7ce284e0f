"""``sparkwing pipeline new``: create ``.sparkwing/`` and add a pipeline from a template.

The registry file is edited as text (the new entry is inserted at the end
of the ``pipelines:`` block), so its existing content and comments stay as
they were; the result is then validated with the real loader and restored
if it does not load.
"""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sparkwing.errors import ConfigError, UsageError

#: Templates ``pipeline new --template`` offers, with their default description.
TEMPLATES = {
    "minimal": "A minimal pipeline: one shell job and one Python job",
    "build-test-deploy": "Build, lint and test, then deploy",
}

NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

NEW_PROJECT_FILE = """\
# The pipelines of this repository. Each entry names a pipeline and its plan
# function (MODULE:FUNCTION, a module under .sparkwing/). Run one with:
#   sparkwing run NAME
pipelines:
"""

PACKAGE_INIT = '"""Pipeline modules of this repository (see ../sparkwing.yaml)."""\n'
GITIGNORE = "__pycache__/\n"

_TOP_PIPELINES = re.compile(r"^pipelines\s*:(?P<rest>.*)$")
_ITEM = re.compile(r"^(?P<indent>[ \t]*)-(\s|$)")


@dataclass
class Scaffolded:
    """What ``pipeline new`` created or changed."""

    root: Path
    name: str
    module_file: Path
    project_file: Path
    created: list[Path] = field(default_factory=list)
    entrypoint: str = ""


def check_name(name: str) -> str:
    """Return *name* if it is kebab-case, else raise a one-line :class:`UsageError`."""
    if not NAME_RE.fullmatch(name or ""):
        raise UsageError(
            f'bad pipeline name "{name}": use kebab-case (lowercase letters and digits joined '
            'by "-", e.g. build-test)'
        )
    return name


def module_name(name: str) -> str:
    """The Python module name of a pipeline (``build-test`` -> ``build_test``)."""
    mod = name.replace("-", "_")
    if mod[0].isdigit():
        mod = "pipeline_" + mod
    if keyword.iskeyword(mod):
        mod += "_pipeline"
    return mod


def render_template(template: str, name: str, description: str) -> str:
    """The module text of *template* for pipeline *name*."""
    text = resources.files("sparkwing_cli.templates").joinpath(f"{template}.py.tmpl").read_text()
    safe = description.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return text.replace("{{name}}", name).replace("{{description}}", safe)


def entry_lines(name: str, entrypoint: str, description: str, indent: str) -> list[str]:
    """The YAML lines of one ``pipelines:`` entry."""
    lines = [f"{indent}- name: {name}\n", f"{indent}  entrypoint: {entrypoint}\n"]
    if description:
        lines.append(f"{indent}  description: {json.dumps(description, ensure_ascii=False)}\n")
    return lines


def add_entry(text: str, name: str, entrypoint: str, description: str) -> str:
    """Return sparkwing.yaml *text* with a new pipeline entry appended to ``pipelines:``."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    found = next(((i, m) for i, ln in enumerate(lines)
                  if (m := _TOP_PIPELINES.match(ln.rstrip("\r\n")))), None)
    if found is None:
        return "".join(lines) + "pipelines:\n" + "".join(
            entry_lines(name, entrypoint, description, "  "))
    start, top = found
    rest = top.group("rest")
    value = rest.split("#", 1)[0].strip()
    if value in ("[]", "null", "~"):
        lines[start] = "pipelines:\n"
        value = ""
    if value:
        raise ConfigError(
            "sparkwing.yaml: pipelines: is written in flow style on one line; rewrite it as a "
            "block list (one '- name: ...' entry per item) and run pipeline new again"
        )
    end = start + 1  # one past the last line with content in the block
    indent = None
    for i in range(start + 1, len(lines)):
        ln = lines[i]
        stripped = ln.strip()
        if not stripped or stripped.startswith("#"):
            continue
        item = _ITEM.match(ln)
        if not ln[0].isspace() and item is None:
            break
        if item is not None and indent is None:
            indent = item.group("indent")
        end = i + 1
    new = entry_lines(name, entrypoint, description, "  " if indent is None else indent)
    return "".join(lines[:end] + new + lines[end:])


def scaffold(start: Path, name: str, template: str, description: str) -> Scaffolded:
    """Create ``.sparkwing/`` if needed and add pipeline *name* from *template*.

    Raises :class:`UsageError` (exit 2) for a bad or taken name, an unknown
    template, or a module file that already exists.
    """
    from sparkwing.config import PROJECT_DIR, PROJECT_FILE, find_project, load_project_file
    from sparkwing.paths import sparkwing_home

    check_name(name)
    if template not in TEMPLATES:
        raise UsageError(f"unknown template {template!r}; use one of {', '.join(TEMPLATES)}")
    description = " ".join((description or TEMPLATES[template]).split())
    root = find_project(start) or start.resolve()
    sw_dir = root / PROJECT_DIR
    try:
        is_home = sw_dir.resolve() == sparkwing_home().resolve()
    except OSError:
        is_home = False
    if is_home:
        raise UsageError(
            f"{sw_dir} is sparkwing's home (where runs are recorded), not a project; "
            "run pipeline new inside your repository"
        )
    project_file = sw_dir / PROJECT_FILE
    original: str | None = None
    if project_file.is_file():
        project = load_project_file(project_file)
        for entry in project.pipelines:
            if entry.name == name:
                raise UsageError(
                    f'pipeline "{name}" already exists ({project.shown}:{entry.line}); '
                    "choose another name"
                )
        original = project_file.read_text()
    mod = module_name(name)
    module_file = sw_dir / "pipelines" / f"{mod}.py"
    if module_file.exists():
        shown = module_file.relative_to(root)
        raise UsageError(f"{shown} already exists; choose another name or add the entry by hand")
    out = Scaffolded(root, name, module_file, project_file, entrypoint=f"pipelines.{mod}:plan")
    created_dirs = [d for d in (sw_dir, sw_dir / "pipelines") if not d.exists()]
    for d in created_dirs:
        d.mkdir()
        out.created.append(d)
    for path, text in ((sw_dir / "pipelines" / "__init__.py", PACKAGE_INIT),
                       (sw_dir / ".gitignore", GITIGNORE)):
        if not path.exists():
            path.write_text(text)
            out.created.append(path)
    module_file.write_text(render_template(template, name, description))
    out.created.append(module_file)
    base = original if original is not None else NEW_PROJECT_FILE
    try:
        project_file.write_text(add_entry(base, name, out.entrypoint, description))
        if original is None:
            out.created.append(project_file)
        load_project_file(project_file)
    except Exception:
        if original is not None:
            project_file.write_text(original)
        for path in reversed(out.created):
            if path.is_file():
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        raise
    return out

"""``pipeline explain``: build a plan without running it, and draw it as an indented tree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sparkwing.durations import format_duration

if TYPE_CHECKING:
    from sparkwing.dsl.inputs import InputSpec


def _given(argv: Sequence[str], flag: str, short: str) -> bool:
    for tok in argv:
        if tok == f"--{flag}" or tok.startswith(f"--{flag}="):
            return True
        if short and (tok == f"-{short}" or (tok.startswith(f"-{short}") and not tok.startswith("--"))):
            return True
    return False


def placeholder(spec: InputSpec) -> str:
    """A stand-in value for a required input that was not given."""
    if spec.kind in ("int", "float"):
        return "0"
    if spec.kind == "choice":
        return spec.choices[0] if spec.choices else ""
    if spec.kind == "list":
        return ""
    return f"<{spec.flag}>"


def fill_placeholders(specs: Sequence[InputSpec], argv: Sequence[str],
                      defaults: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Append ``--flag=<placeholder>`` for every required input neither given nor defaulted.

    Returns the new argv and the placeholders used (flag -> value).
    """
    used: dict[str, str] = {}
    out = list(argv)
    for spec in specs:
        if not spec.required or spec.flag in defaults or _given(argv, spec.flag, spec.short):
            continue
        used[spec.flag] = placeholder(spec)
        out.append(f"--{spec.flag}={used[spec.flag]}")
    return out, used


def build_plan(project: Any, entry: Any, argv: Sequence[str]) -> tuple[Any, dict[str, str]]:
    """Load *entry*, parse *argv* (placeholders for missing required inputs) and build its plan.

    Nothing runs: plan functions do no I/O. Returns ``(plan, placeholders)``.
    """
    import os
    import time

    from sparkwing.dsl.inputs import input_specs, parse_inputs
    from sparkwing.project import load_pipeline
    from sparkwing.runtime.context import RunContext, Trigger
    from sparkwing.runtime.git import read_git_info

    pdef = load_pipeline(project, entry)
    specs = input_specs(pdef.inputs_cls)
    defaults = project.args_for(entry)
    full_argv, used = fill_placeholders(specs, argv, defaults)
    inputs, values = parse_inputs(pdef.inputs_cls, full_argv, pipeline=entry.name,
                                  defaults=defaults)
    run_ctx = RunContext(
        run_id="explain", pipeline=entry.name, workdir=project.root,
        git=read_git_info(project.root), trigger=Trigger("manual", os.environ.get("USER", "")),
        started_at=time.time(), args=values,
    )
    return pdef.build(inputs, run_ctx), used


def _modifiers(mods: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in mods.items():
        if key == "retry":
            text = f"retry {value.get('attempts')}"
            if value.get("backoff_s"):
                text += f" (backoff {format_duration(value['backoff_s'])})"
            out.append(text)
        elif key in ("timeout_s", "no_progress_timeout_s"):
            out.append(f"{key[:-2].replace('_', ' ')} {format_duration(value)}")
        elif key == "memoize":
            out.append(f"memoize (ttl {format_duration(value.get('ttl_s'))})")
        elif key == "approval":
            out.append("approval" + (f": {value['message']}" if value.get("message") else ""))
        elif key in ("on_failure", "recovery_of", "dynamic_fan_out"):
            out.append(f"{key.replace('_', ' ')} {value}")
        elif key == "skip_if":
            out.append("skip_if")
        elif key == "verify":
            out.append("verify")
        elif value is True:
            out.append(key.replace("_", " "))
        elif isinstance(value, list):
            out.append(f"{key} {', '.join(str(v) for v in value)}")
        else:
            out.append(f"{key} {value}")
    return out


def render_tree(plan_dict: dict[str, Any]) -> list[str]:
    """Jobs as a tree (each under its first dependency), with steps and every edge listed."""
    nodes = plan_dict.get("nodes", [])
    by_id = {n["id"]: n for n in nodes}
    children: dict[str, list[str]] = {n["id"]: [] for n in nodes}
    roots: list[str] = []
    for n in nodes:
        deps = [d for d in n.get("deps", []) if d in by_id]
        if deps:
            children[deps[0]].append(n["id"])
        else:
            roots.append(n["id"])
    lines: list[str] = []
    drawn: set[str] = set()

    def job(nid: str, prefix: str, last: bool, top: bool) -> None:
        n = by_id[nid]
        drawn.add(nid)
        branch = "" if top else ("└─ " if last else "├─ ")
        facts = [n.get("describe") or n.get("kind", "")]
        if n.get("kind") not in (None, "job"):
            facts.insert(0, f"[{n['kind']}]")
        deps = n.get("deps", [])
        if deps:
            facts.append(f"needs: {', '.join(deps)}")
        if n.get("groups"):
            facts.append(f"groups: {', '.join(n['groups'])}")
        facts.extend(_modifiers(n.get("modifiers", {})))
        lines.append(f"{prefix}{branch}{nid}  " + "  ·  ".join(f for f in facts if f))
        inner = prefix + ("" if top else ("   " if last else "│  "))
        kids = children[nid]
        for step in n.get("steps", []):
            bits = [f"step {step['id']}"]
            if step.get("deps"):
                bits.append(f"needs: {', '.join(step['deps'])}")
            for flag in ("finally", "optional"):
                if step.get(flag):
                    bits.append(flag)
            if step.get("risks"):
                bits.append(f"risks: {', '.join(step['risks'])}")
            if n.get("result_step") == step["id"]:
                bits.append("result")
            lines.append(f"{inner}{'│  ' if kids else '   '}· " + "  ".join(bits))
        for i, kid in enumerate(kids):
            job(kid, inner, i == len(kids) - 1, False)

    for rid in roots:
        job(rid, "", True, True)
    for n in nodes:  # only reachable through a cycle, which finalize() rejects; be safe
        if n["id"] not in drawn:
            job(n["id"], "", True, True)
    return lines

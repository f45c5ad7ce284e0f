"""Python source for a class implementing a store contract, written from the contract itself.

The store a generated plugin starts with lists every method of its contract
(:class:`~sparkwing.storage.contracts.StateStore`, ``LogStore`` or
``ArtifactStore``) with the contract's signature and docstring, each passing
the call through to a reference backend. Reading the methods off the
Protocol at generation time keeps the stub in step with the contract.
"""

from __future__ import annotations

import builtins
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Width the generated code is kept within.
WIDTH = 99


@dataclass(slots=True)
class MethodStubs:
    """The generated method definitions and the imports their annotations need."""

    methods: list[str] = field(default_factory=list)
    #: ``module -> names`` imported for the annotations.
    imports: dict[str, set[str]] = field(default_factory=dict)

    def import_block(self) -> str:
        """``from M import a, b`` lines sorted as isort does: standard library, a blank line,
        the rest; a line too long is wrapped in parentheses."""
        groups: dict[bool, list[str]] = {True: [], False: []}
        for module in sorted(self.imports):
            stdlib = module.split(".")[0] in sys.stdlib_module_names
            groups[stdlib].append(_from_import(module, sorted(self.imports[module])))
        return "\n\n".join("\n".join(lines) for lines in (groups[True], groups[False]) if lines)


def _from_import(module: str, names: list[str]) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= WIDTH:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


def contract_methods(protocol: type) -> list[tuple[str, Any]]:
    """The public methods of *protocol*, in the order the contract defines them."""
    return [(name, fn) for name, fn in vars(protocol).items()
            if not name.startswith("_") and inspect.isfunction(fn)]


def pass_through_methods(protocol: type, target: str) -> MethodStubs:
    """Methods implementing *protocol* by calling the same method on ``self.<target>``."""
    out = MethodStubs()
    namespace = vars(sys.modules[protocol.__module__])
    for name, fn in contract_methods(protocol):
        annotations: dict[str, str] = dict(getattr(fn, "__annotations__", {}))
        for text in annotations.values():
            _collect_imports(str(text), namespace, out.imports)
        out.methods.append(_method(name, fn, annotations, target))
    return out


def _collect_imports(annotation: str, namespace: dict[str, Any],
                     imports: dict[str, set[str]]) -> None:
    for word in _NAME.findall(annotation):
        if word == "None" or hasattr(builtins, word):
            continue
        obj = namespace.get(word)
        if obj is None:  # the contracts import record classes for annotations only
            from sparkwing.storage import records

            obj = getattr(records, word, None)
        module = getattr(obj, "__module__", None)
        if obj is None or not module:
            raise ValueError(f"cannot tell where {word!r} of a contract annotation comes from")
        imports.setdefault(module, set()).add(word)


def _method(name: str, fn: Any, annotations: dict[str, str], target: str) -> str:
    sig = inspect.signature(fn)
    params: list[str] = []
    call: list[str] = []
    star_done = False
    for p in list(sig.parameters.values())[1:]:
        if p.kind is p.KEYWORD_ONLY and not star_done:
            params.append("*")
            star_done = True
        text = p.name
        if p.name in annotations:
            text += f": {annotations[p.name]}"
        if p.default is not p.empty:
            text += f" = {p.default!r}" if p.name in annotations else f"={p.default!r}"
        params.append(text)
        call.append(f"{p.name}={p.name}" if p.kind is p.KEYWORD_ONLY else p.name)
    returns = annotations.get("return", "None")
    head = _signature(name, params, str(returns))
    doc = inspect.getdoc(fn) or f"{name} (see the contract)."
    body = [
        textwrap.indent(_docstring(doc), " " * 8),
        "        # TODO: replace this pass-through with your backend's code.",
        _call(f"{'' if returns == 'None' else 'return '}self.{target}.{name}", call),
    ]
    return head + "\n" + "\n".join(body) + "\n"


def _call(callee: str, args: list[str]) -> str:
    one = f"        {callee}({', '.join(args)})"
    if len(one) <= WIDTH:
        return one
    return f"        {callee}(\n" + "".join(f"            {a},\n" for a in args) + "        )"


def _signature(name: str, params: list[str], returns: str) -> str:
    one = f"    def {name}(self{''.join(', ' + p for p in params)}) -> {returns}:"
    if len(one) <= WIDTH:
        return one
    lines = [f"    def {name}(", "        self,"]
    lines += [f"        {p}," for p in params]
    lines.append(f"    ) -> {returns}:")
    return "\n".join(lines)


def _docstring(doc: str) -> str:
    doc = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if "\n" not in doc:
        return f'"""{doc}"""'
    return f'"""{doc}\n"""'

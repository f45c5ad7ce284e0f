"""Small checks shared by the config validators; every failure is one line naming file and line.

A *where* phrase says which part of a file a check is about and reads after
a key name, e.g. ``in pipeline "release"`` or ``at the top level``, giving
messages such as ``.sparkwing/sparkwing.yaml:7: hidden in pipeline "release"
must be true or false, got "maybe"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

from ..errors import ConfigError
from .yamlload import Mapping, Node, Scalar, Sequence

#: Scalar kinds whose source text is a usable string value.
_TEXT_KINDS = ("str", "int", "float", "bool")


def fail(file: str, line: int, message: str) -> NoReturn:
    """Raise ``ConfigError("<file>:<line>: <message>")``."""
    raise ConfigError(f"{file}:{line}: {message}")


def want_mapping(file: str, node: Node, label: str, *, allow_null: bool = False) -> Mapping:
    """Return *node* as a mapping, or fail with ``<label> must be a mapping``.

    With *allow_null*, an empty value counts as an empty mapping.
    """
    if isinstance(node, Mapping):
        return node
    if allow_null and isinstance(node, Scalar) and node.kind == "null":
        return Mapping(node.line, [])
    fail(file, node.line, f"{label} must be a mapping, got {node.describe()}")


def keyed(
    file: str,
    node: Mapping,
    where: str,
    valid: Iterable[str],
    retired: dict[str, str] | None = None,
) -> dict[str, tuple[Scalar, Node]]:
    """Return ``{key: (key node, value node)}`` after checking every key.

    Fails on a non-text key, a duplicate key, a retired key (the message
    carries the hint from *retired*) or a key not in *valid* (the message
    lists the valid keys).
    """
    allowed = sorted(valid)
    out: dict[str, tuple[Scalar, Node]] = {}
    for key, value in node.items:
        if not isinstance(key, Scalar) or key.kind.startswith("tag "):
            fail(file, key.line, f"keys {where} must be plain text, got {key.describe()}")
        name = key.text
        if name in out:
            first = out[name][0].line
            fail(file, key.line, f'duplicate key "{name}" {where} (first on line {first})')
        if retired and name in retired:
            fail(file, key.line, f'retired key "{name}" {where}: {retired[name]}')
        if name not in allowed:
            fail(
                file, key.line,
                f'unknown key "{name}" {where}; valid keys: {", ".join(allowed)}',
            )
        out[name] = (key, value)
    return out


def want_str(file: str, node: Node, label: str, *, allow_empty: bool = False) -> str:
    """Return a string value, or fail with ``<label> must be a string``."""
    if isinstance(node, Scalar) and node.kind == "str":
        if not node.text and not allow_empty:
            fail(file, node.line, f"{label} must not be empty")
        return node.text
    fail(file, node.line, f"{label} must be a string, got {node.describe()}")


def want_text(file: str, node: Node, label: str) -> str:
    """Return a scalar's source text (strings, numbers, booleans), else fail.

    Used for values that are strings by nature but often written unquoted
    (``version: 1.10`` stays ``"1.10"``, ``dry: true`` becomes ``"true"``).
    """
    if isinstance(node, Scalar) and node.kind in _TEXT_KINDS:
        return node.text
    if isinstance(node, Scalar) and node.kind == "null":
        fail(file, node.line, f'{label} has no value; write "" for an empty string')
    fail(file, node.line, f"{label} must be a string, number or boolean, got {node.describe()}")


def want_bool(file: str, node: Node, label: str) -> bool:
    """Return a boolean value, or fail with ``<label> must be true or false``."""
    if isinstance(node, Scalar) and node.kind == "bool":
        return bool(node.value())
    fail(file, node.line, f"{label} must be true or false, got {node.describe()}")


def want_str_list(file: str, node: Node, label: str, *, allow_null: bool = True) -> list[str]:
    """Return a list of non-empty strings (numbers and booleans as written), or fail.

    With *allow_null*, an empty value counts as an empty list.
    """
    if allow_null and isinstance(node, Scalar) and node.kind == "null":
        return []
    if not isinstance(node, Sequence):
        fail(file, node.line, f"{label} must be a list of strings, got {node.describe()}")
    out: list[str] = []
    for item in node.items:
        if not (isinstance(item, Scalar) and item.kind in _TEXT_KINDS):
            fail(file, item.line,
                 f"{label} must be a list of strings, got an item that is {item.describe()}")
        if not item.text:
            fail(file, item.line, f"{label} must not contain empty strings")
        out.append(item.text)
    return out

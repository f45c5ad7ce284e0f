"""Reading YAML config files into a small tree of nodes that remember their line.

The validators in this package work on :class:`Scalar`, :class:`Mapping` and
:class:`Sequence` nodes rather than on plain dicts, so every error can name
the file and line it is about. Parsing goes through PyYAML's node API
(``yaml.compose``, with the C loader when it is built).

Importing PyYAML costs tens of milliseconds, and ``sparkwing run`` reads
``sparkwing.yaml`` on every start. So a parsed tree is kept as a small JSON
file under ``$SPARKWING_HOME/cache/config/``, named by the SHA-256 of the
file's bytes: an unchanged file is read back without importing PyYAML, and
a changed file can never hit a stale entry. Set ``SPARKWING_NO_CONFIG_CACHE=1``
to skip the cache. Only the parse is cached; validation always runs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: Bumped whenever the cached tree's shape changes.
_CACHE_FORMAT = "v2"
#: Cached trees kept before the oldest are removed.
_CACHE_KEEP = 64
#: Largest config file read (bytes); configs are a few KiB.
MAX_CONFIG_BYTES = 1 << 20
#: Most nodes a file may expand to once aliases are followed (a "billion laughs"
#: file expands exponentially; a real config has a few hundred nodes).
MAX_CONFIG_NODES = 100_000

# Pattern sources, not compiled: ``re`` compiles and caches one on first use (start-up).
_PLAIN_INT = r"[-+]?(?:0|[1-9][0-9]*)"
_PLAIN_FLOAT = r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"


class Node:
    """A YAML node and the 1-based line it starts on."""

    __slots__ = ("line",)

    def __init__(self, line: int) -> None:
        self.line = line

    def describe(self) -> str:
        """Say what this node is, for "must be X, got Y" messages."""
        raise NotImplementedError


class Scalar(Node):
    """A scalar: its source text and resolved kind (``str``, ``int``, ``bool``, ``null``...)."""

    __slots__ = ("kind", "text")

    def __init__(self, line: int, text: str, kind: str) -> None:
        super().__init__(line)
        self.text = text
        self.kind = kind

    def value(self) -> Any:
        """Return the Python value YAML gives this scalar."""
        kind, text = self.kind, self.text
        if kind == "str":
            return text
        if kind == "null":
            return None
        if kind == "bool":
            return text.lower() in ("yes", "true", "on")
        if kind == "int" and re.fullmatch(_PLAIN_INT, text):
            return int(text)
        if kind == "float" and re.fullmatch(_PLAIN_FLOAT, text):
            return float(text)
        return _construct_slow(self)

    def describe(self) -> str:
        """Say what this node is, for "must be X, got Y" messages."""
        if self.kind == "null":
            return "nothing (null)"
        if self.kind == "str":
            return json.dumps(self.text)
        return f"{self.kind} {self.text}"


class Mapping(Node):
    """A mapping: ``(key, value)`` pairs in file order."""

    __slots__ = ("items",)

    def __init__(self, line: int, items: list[tuple[Node, Node]]) -> None:
        super().__init__(line)
        self.items = items

    def describe(self) -> str:
        """Say what this node is, for "must be X, got Y" messages."""
        return "a mapping"


class Sequence(Node):
    """A sequence of nodes."""

    __slots__ = ("items",)

    def __init__(self, line: int, items: list[Node]) -> None:
        super().__init__(line)
        self.items = items

    def describe(self) -> str:
        """Say what this node is, for "must be X, got Y" messages."""
        return "a list"


def to_python(node: Node) -> Any:
    """Return *node* as plain Python values (dicts keyed by the keys' source text)."""
    if isinstance(node, Scalar):
        return node.value()
    if isinstance(node, Sequence):
        return [to_python(item) for item in node.items]
    assert isinstance(node, Mapping)
    return {
        (k.text if isinstance(k, Scalar) else str(to_python(k))): to_python(v)
        for k, v in node.items
    }


def display_path(path: Path, within: Path | None = None) -> str:
    """Return *path* as users see it: relative to the cwd inside it, ``~/...`` under home.

    When the cwd is inside *within* (a project root holding *path*), the
    path is given relative to the cwd with ``..`` steps, e.g.
    ``../.sparkwing/sparkwing.yaml`` from a subdirectory of the project.
    """
    try:
        cwd = Path.cwd()
    except OSError:  # the cwd was removed
        return str(path)
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        pass
    if within is not None and cwd.is_relative_to(within) and path.is_relative_to(within):
        return os.path.relpath(path, cwd)
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except (ValueError, RuntimeError):
        return str(path)


def load_yaml(path: Path, display: str | None = None) -> Node | None:
    """Parse the YAML file at *path* into a node tree (``None`` for an empty file).

    Raises :class:`ConfigError` with ``file:line: invalid YAML: ...`` for
    syntax errors and for files that cannot be read or decoded.
    """
    shown = display if display is not None else display_path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{shown}: too large for a config file (over {MAX_CONFIG_BYTES // 1024} KiB)"
        )
    cache_file = _cache_file(data)
    if cache_file is not None:
        try:
            return _from_json(json.loads(cache_file.read_text("utf-8")))
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{shown}:{line}: not valid UTF-8") from None
    tree = parse_yaml(text, shown)
    if cache_file is not None:
        _write_cache(cache_file, tree)
    return tree


def parse_yaml(text: str, shown: str) -> Node | None:
    """Parse YAML *text* into a node tree; *shown* names the source in errors."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        index = getattr(mark, "index", -1)
        if 0 <= index < len(text) and text[index] == "\t":
            raise ConfigError(
                f"{shown}:{line}: invalid YAML: a tab character cannot indent or start a value; "
                "use spaces"
            ) from None
        if exc.context and exc.problem and exc.context_mark is not None:
            problem += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise ConfigError(f"{shown}:{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{shown}: invalid YAML: {detail}") from None
    if root is None:
        return None
    try:
        return _Converter(yaml.ScalarNode, yaml.SequenceNode).convert(root)
    except RecursionError:
        raise ConfigError(f"{shown}: invalid YAML: nesting too deep or a recursive alias") from None
    except _TooManyNodes:
        raise ConfigError(
            f"{shown}: invalid YAML: expands to more than {MAX_CONFIG_NODES} values "
            "(aliases that repeat each other?)"
        ) from None


class _TooManyNodes(Exception):
    """The tree being converted passed :data:`MAX_CONFIG_NODES`."""


class _Converter:
    """Turns PyYAML nodes into :class:`Node` trees, counting every node aliases expand to."""

    def __init__(self, scalar: type[Any], sequence: type[Any]) -> None:
        self.scalar = scalar
        self.sequence = sequence
        self.left = MAX_CONFIG_NODES

    def convert(self, node: Any) -> Node:
        self.left -= 1
        if self.left < 0:
            raise _TooManyNodes
        line = node.start_mark.line + 1
        if isinstance(node, self.scalar):
            tag = node.tag
            kind = tag.rsplit(":", 1)[-1] if tag.startswith("tag:yaml.org,2002:") else "tag " + tag
            return Scalar(line, node.value, kind)
        if isinstance(node, self.sequence):
            return Sequence(line, [self.convert(item) for item in node.value])
        return Mapping(line, [(self.convert(k), self.convert(v)) for k, v in node.value])


def _construct_slow(node: Scalar) -> Any:
    """Build an unusual scalar (octal, sexagesimal, timestamp...) the way PyYAML does."""
    import yaml

    if node.kind.startswith("tag "):
        return node.text
    ynode = yaml.ScalarNode(f"tag:yaml.org,2002:{node.kind}", node.text)
    try:
        return yaml.constructor.SafeConstructor().construct_object(ynode)
    except Exception:  # an unconstructable scalar is kept as written
        return node.text


# -- the parse cache -----------------------------------------------------------


def _cache_dir() -> Path | None:
    if os.environ.get("SPARKWING_NO_CONFIG_CACHE", "") not in ("", "0"):
        return None
    from ..paths import sparkwing_home

    return sparkwing_home() / "cache" / "config"


def _cache_file(data: bytes) -> Path | None:
    directory = _cache_dir()
    if directory is None:
        return None
    from ..digests import blake2b_hex

    digest = blake2b_hex(data)
    return directory / f"{_CACHE_FORMAT}-{digest}.json"


def _write_cache(target: Path, tree: Node | None) -> None:
    try:
        from ..paths import make_private_dir, write_private_text

        make_private_dir(target.parent)
        write_private_text(target, json.dumps(_to_json(tree), separators=(",", ":")))
        entries = list(target.parent.glob(f"{_CACHE_FORMAT}-*.json"))
        if len(entries) > _CACHE_KEEP:
            entries.sort(key=lambda p: p.stat().st_mtime_ns)
            for old in entries[: len(entries) - _CACHE_KEEP]:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # the cache is an optimisation; an unwritable home only costs time


def _to_json(node: Node | None) -> Any:
    if node is None:
        return None
    if isinstance(node, Scalar):
        return ["s", node.line, node.text, node.kind]
    if isinstance(node, Sequence):
        return ["q", node.line, [_to_json(i) for i in node.items]]
    assert isinstance(node, Mapping)
    return ["m", node.line, [[_to_json(k), _to_json(v)] for k, v in node.items]]


def _from_json(raw: Any) -> Node | None:
    if raw is None:
        return None
    tag, line, body = raw[0], raw[1], raw[2]
    if tag == "s":
        return Scalar(int(line), str(body), str(raw[3]))
    if tag == "q":
        return Sequence(int(line), [_from_json_node(i) for i in body])
    if tag == "m":
        return Mapping(int(line), [(_from_json_node(k), _from_json_node(v)) for k, v in body])
    raise ValueError(f"bad cached node {tag!r}")


def _from_json_node(raw: Any) -> Node:
    node = _from_json(raw)
    if node is None:
        raise ValueError("null node in cache")
    return node

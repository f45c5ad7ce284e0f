"""Typed pipeline inputs: a dataclass whose fields become ``sparkwing run`` flags.

::

    @dataclass
    class Inputs:
        version: str = sw.arg(help="version to release", short="v")   # required (no default)
        channel: Literal["stable", "beta"] = "stable"
        dry: bool = False                                              # --dry / --no-dry
        token: str = sw.arg(default="", secret=True)
        targets: list[str] = sw.arg(default_factory=list)              # --targets a,b

Field names become kebab-case flags (``release_notes`` -> ``--release-notes``).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass
from typing import Any, Literal, get_args, get_origin

from ..errors import PlanError, UsageError
from ..slotted import Slotted


def arg(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    help: str = "",
    short: str = "",
    secret: bool = False,
    flag: str = "",
) -> Any:
    """Declare an input field with help text, a short alias, or as a secret.

    Without *default* / *default_factory* the flag is required.
    """
    meta = {"help": help, "short": short, "secret": secret, "flag": flag}
    if default is not MISSING:
        return dataclasses.field(default=default, metadata=meta)
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(metadata=meta)


class InputSpec(Slotted):
    """One flag derived from an inputs dataclass field."""

    __slots__ = (
        "choices",
        "default",
        "enum_type",
        "flag",
        "help",
        "kind",
        "name",
        "required",
        "secret",
        "short",
    )

    def __init__(
        self,
        name: str,
        flag: str,
        kind: str,
        required: bool,
        default: Any,
        help: str = "",
        short: str = "",
        secret: bool = False,
        choices: tuple[str, ...] = (),
        enum_type: Any = None,
    ) -> None:
        self.name = name
        self.flag = flag
        self.kind = kind
        self.required = required
        self.default = default
        self.help = help
        self.short = short
        self.secret = secret
        self.choices = choices
        self.enum_type = enum_type

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (used by ``pipeline describe``)."""
        return {
            "name": self.flag,
            "field": self.name,
            "type": self.kind,
            "required": self.required,
            "default": None if self.required else _jsonable(self.default),
            "help": self.help,
            "short": self.short,
            "secret": self.secret,
            "choices": list(self.choices),
        }


@dataclass(init=False, repr=False, eq=False)
class NoInputs:
    """The inputs of a pipeline that takes no flags.

    A dataclass without fields, with its methods written out: generating them
    (and a slotted copy of the class) took 0.4 ms of every run's start-up.
    """

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]  # as a dataclass with eq=True

    def __repr__(self) -> str:
        return "NoInputs()"

    def __eq__(self, other: object) -> bool:
        return True if other.__class__ is self.__class__ else NotImplemented


def input_specs(cls: Any) -> list[InputSpec]:
    """Describe the flags of an inputs dataclass (``None`` or :class:`NoInputs`: none)."""
    if cls is None or cls is NoInputs:
        return []
    if not dataclasses.is_dataclass(cls):
        raise PlanError(f"pipeline inputs must be a dataclass, got {cls!r}")
    hints = typing.get_type_hints(cls)
    specs: list[InputSpec] = []
    seen: dict[str, str] = {}
    owner = getattr(cls, "__name__", repr(cls))
    for f in dataclasses.fields(cls):
        meta: Mapping[str, Any] = f.metadata or {}
        flag = meta.get("flag") or f.name.replace("_", "-")
        kind, choices, enum_type = _kind(hints.get(f.name, str), owner, f.name)
        if f.default is not MISSING:
            required, default = False, f.default
        elif f.default_factory is not MISSING:
            required, default = False, f.default_factory()
        else:
            required, default = (kind != "bool"), False if kind == "bool" else None
        short = meta.get("short", "")
        if short and (len(short) != 1 or not short.isalpha()):
            raise PlanError(f"{owner}.{f.name}: short alias must be one letter, got {short!r}")
        for key in (flag, short):
            if key and key in seen:
                raise PlanError(f"{owner}: flag {key!r} used by both {seen[key]} and {f.name}")
            if key:
                seen[key] = f.name
        specs.append(
            InputSpec(f.name, flag, kind, required, default, meta.get("help", ""), short,
                      bool(meta.get("secret", False)), choices, enum_type)
        )
    return specs


def _kind(tp: Any, owner: str, name: str) -> tuple[str, tuple[str, ...], Any]:
    origin = get_origin(tp)
    if tp is str:
        return "str", (), None
    if tp is bool:
        return "bool", (), None
    if tp is int:
        return "int", (), None
    if tp is float:
        return "float", (), None
    if origin in (list, Sequence) and get_args(tp) in ((str,), ()):
        return "list", (), None
    if origin is Literal:
        return "choice", tuple(str(a) for a in get_args(tp)), None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "choice", tuple(str(m.value) for m in tp), tp
    raise PlanError(
        f"{owner}.{name}: unsupported input type {tp!r}; use str, bool, int, float, list[str], "
        "Literal[...] or an Enum"
    )


def parse_inputs(
    cls: Any,
    argv: Sequence[str],
    *,
    pipeline: str,
    defaults: Mapping[str, str] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Parse pipeline flags into an instance of *cls*.

    *defaults* holds string values from ``sparkwing.yaml`` (``defaults.args``
    merged with the pipeline's ``args:``), applied under explicit flags.
    Returns ``(instance, values)`` where *values* maps flag names to parsed
    values. Errors are one-line :class:`UsageError` messages.
    """
    specs = input_specs(cls)
    by_flag = {s.flag: s for s in specs}
    by_short = {s.short: s for s in specs if s.short}
    hint = f"run `sparkwing run {pipeline} --help` for valid flags"
    raw: dict[str, Any] = {}
    for key, value in (defaults or {}).items():
        if key in by_flag:
            raw[key] = _convert(by_flag[key], str(value), pipeline)
    i = 0
    args = list(argv)
    while i < len(args):
        token = args[i]
        i += 1
        if not token.startswith("-") or token == "-":
            raise UsageError(f"unexpected positional argument {token!r} ({hint})")
        if token.startswith("--"):
            name, sep, value = token[2:].partition("=")
            eq = bool(sep)
            spec = by_flag.get(name)
            negated = False
            if spec is None and name.startswith("no-") and by_flag.get(name[3:]) is not None:
                spec, negated = by_flag[name[3:]], True
                if spec.kind != "bool":
                    spec = None
        else:
            name, eq, value = token[1:2], token[2:3] == "=", token[3:]
            if not eq and len(token) > 2:
                value, eq = token[2:], True
            spec, negated = by_short.get(name), False
        if spec is None:
            shown = token.split("=", 1)[0]
            close = _nearest(shown.lstrip("-"), list(by_flag))
            extra = f'; did you mean "--{close}"?' if close else ""
            raise UsageError(f"unknown flag {shown} for pipeline \"{pipeline}\"{extra} ({hint})")
        if spec.kind == "bool":
            if negated:
                if eq:
                    raise UsageError(f"--no-{spec.flag} takes no value ({hint})")
                raw[spec.flag] = False
            elif eq:
                raw[spec.flag] = _convert(spec, value, pipeline)
            else:
                raw[spec.flag] = True
            continue
        if not eq:
            if i >= len(args):
                raise UsageError(f"flag --{spec.flag} needs a value ({hint})")
            value = args[i]
            i += 1
        raw[spec.flag] = _convert(spec, value, pipeline)
    missing = [s.flag for s in specs if s.required and s.flag not in raw]
    if missing:
        names = ", ".join(f"--{m}" for m in missing)
        raise UsageError(f"pipeline \"{pipeline}\" requires {names} ({hint})")
    kwargs = {s.name: raw[s.flag] for s in specs if s.flag in raw}
    values = {s.flag: raw.get(s.flag, s.default) for s in specs}
    instance = cls(**kwargs) if cls not in (None, NoInputs) else NoInputs()
    return instance, {k: _jsonable(v) for k, v in values.items()}


def inputs_from_values(cls: Any, values: Mapping[str, Any]) -> Any:
    """Rebuild an inputs instance from the values :func:`parse_inputs` returned.

    *values* maps flags to JSON values (as a run row stores them, with the
    secret inputs put back); choices of an Enum type become members again.
    Flags missing from *values* keep the field's default. Raises
    :class:`UsageError` for a required flag without a value.
    """
    if cls in (None, NoInputs):
        return NoInputs()
    kwargs: dict[str, Any] = {}
    for spec in input_specs(cls):
        if spec.flag not in values:
            if spec.required:
                raise UsageError(f"input --{spec.flag} has no recorded value")
            continue
        value = values[spec.flag]
        if spec.enum_type is not None and value is not None:
            value = next((m for m in spec.enum_type if str(m.value) == str(value)), value)
        elif spec.kind == "list" and isinstance(value, tuple):
            value = list(value)
        kwargs[spec.name] = value
    return cls(**kwargs)


def _convert(spec: InputSpec, value: str, pipeline: str) -> Any:
    flag = f"--{spec.flag}"
    try:
        if spec.kind == "str":
            return value
        if spec.kind == "bool":
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if spec.kind == "int":
            return int(value)
        if spec.kind == "float":
            return float(value)
        if spec.kind == "list":
            return [v.strip() for v in value.split(",") if v.strip()]
        if spec.kind == "choice":
            if value not in spec.choices:
                raise UsageError(
                    f'{flag}="{value}" not allowed for pipeline "{pipeline}" '
                    f"(must be one of: {', '.join(spec.choices)})"
                )
            if spec.enum_type is not None:
                return next(m for m in spec.enum_type if str(m.value) == value)
            return value
    except UsageError:
        raise
    except ValueError:
        pass
    raise UsageError(f'{flag}="{value}" is not a valid {spec.kind} for pipeline "{pipeline}"')


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _nearest(name: str, options: list[str]) -> str:
    from ..config.suggest import closest

    return closest(name, options) or ""


def secret_values(specs: list[InputSpec], values: Mapping[str, Any]) -> list[str]:
    """Return the non-empty values of secret inputs (to be masked in logs)."""
    out: list[str] = []
    for s in specs:
        v = values.get(s.flag)
        if s.secret and v not in (None, "", []):
            out.extend(v if isinstance(v, list) else [str(v)])
    return out


def redact(specs: list[InputSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """Return *values* with every secret input replaced by ``***``."""
    secret = {s.flag for s in specs if s.secret}
    return {k: ("***" if k in secret and v not in (None, "") else v) for k, v in values.items()}


def help_text(cls: Any, pipeline: str, description: str = "") -> str:
    """Render ``sparkwing run PIPELINE --help``."""
    lines = [f"Usage: sparkwing run {pipeline} [PIPELINE FLAGS] [SPARKWING FLAGS]", ""]
    if description:
        lines += [f"  {description}", ""]
    specs = input_specs(cls)
    lines.append("Pipeline flags:")
    if not specs:
        lines.append("  (none)")
    for s in specs:
        names = (f"-{s.short}, " if s.short else "    ") + f"--{s.flag}"
        if s.kind == "bool":
            names += f" / --no-{s.flag}"
        elif s.kind == "choice":
            names += " [" + "|".join(s.choices) + "]"
        else:
            names += f" {s.kind.upper()}"
        notes = []
        if s.required:
            notes.append("required")
        elif s.default not in (None, "", [], False):
            notes.append(f"default: {'***' if s.secret else _jsonable(s.default)}")
        if s.secret:
            notes.append("secret")
        text = s.help + (f" ({'; '.join(notes)})" if notes else "")
        lines.append(f"  {names:<36} {text}".rstrip())
    lines += [
        "",
        "Sparkwing flags:",
        "  -C, --sw-cd DIR          run as if started in DIR",
        "  --profile NAME           storage profile (state, cache, logs)",
        "  --sw-workers N           jobs running at once (default: CPU count)",
        "  --sw-local-only          ignore profiles; use the local laptop stores",
        "  --sw-no-cache            do not read memoized results (still write them)",
        "  --sw-dry-run, --sw-allow L, --sw-only GLOB, --sw-start-at/--sw-stop-at STEP,",
        "  --sw-pause-before/--sw-pause-after JOB, --sw-box-slots N, --sw-executor NAME",
        "  (see `sparkwing run --help`)",
        "  -o, --output FORMAT      pretty | json (default: pretty on a terminal)",
    ]
    return "\n".join(lines)

"""click, in sparkwing's voice: one-line usage errors with did-you-mean, help that is not cut.

* :func:`usage_message` rewords click's usage errors as sparkwing writes
  its own (lower case, the flag or command named, a suggestion for a typo,
  where to look next); the CLI prints it as one ``error: ...`` line and
  exits 2.
* :class:`SparkwingGroup` lists its commands with their whole first
  sentence (click cuts them at the terminal width with ``...``) and
  suggests the nearest command for a typo.
"""

from __future__ import annotations

import re

import click

_EXTRA = re.compile(r"^Got unexpected extra arguments? \((?P<args>.*)\)$")
_REQUIRES = re.compile(r"^Option '(?P<name>[^']+)' requires (?:an argument|\d+ arguments)\.$")


def usage_message(exc: click.ClickException) -> str:
    """The one-line message for a click usage error, ending with where to read more."""
    ctx: click.Context | None = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "sparkwing"
    text = _reworded(exc, ctx, path)
    text = " ".join(text.split())
    if ctx is not None:
        text += f" (see '{path} --help')"
    return text


def _reworded(exc: click.ClickException, ctx: click.Context | None, path: str) -> str:
    no_such_command = getattr(click.exceptions, "NoSuchCommand", ())
    if isinstance(exc, click.NoSuchOption):
        return unknown_flag(exc.option_name, _flag_names(ctx), path)
    if no_such_command and isinstance(exc, no_such_command):
        return unknown_command(str(getattr(exc, "command_name", "")), ctx, path)
    if isinstance(exc, click.MissingParameter):
        return _missing(exc)
    if isinstance(exc, click.BadParameter):
        return _bad_value(exc, ctx)
    message = exc.format_message().strip()
    found = _REQUIRES.match(message)
    if found:
        return f"{found['name']} needs a value"
    found = _EXTRA.match(message)
    if found:
        args = found["args"]
        noun = "argument" if " " not in args.strip() else "arguments"
        return f"unexpected {noun} {args} for '{path}'"
    if message.startswith("No such command"):
        name = message.split("'")[1] if "'" in message else ""
        return unknown_command(name, ctx, path)
    return _lower_first(message.rstrip("."))


def unknown_flag(name: str, candidates: list[str], path: str) -> str:
    """``unknown flag --x for 'path'; did you mean --y?``."""
    from sparkwing.config.suggest import closest

    guess = closest(name, candidates)
    text = f"unknown flag {name} for '{path}'"
    return text + (f"; did you mean {guess}?" if guess else "")


def unknown_command(name: str, ctx: click.Context | None, path: str) -> str:
    """``unknown command 'x' for 'path'; did you mean 'y'? (commands: ...)``."""
    from sparkwing.config.suggest import closest

    names: list[str] = []
    command = ctx.command if ctx is not None else None
    if isinstance(command, click.Group) and ctx is not None:
        names = [n for n in command.list_commands(ctx)
                 if (c := command.get_command(ctx, n)) is not None and not c.hidden]
    guess = closest(name, names)
    text = f"unknown command '{name}' for '{path}'"
    if guess:
        return text + f"; did you mean '{guess}'?"
    return text + (f"; commands: {', '.join(names)}" if names else "")


def _flag_names(ctx: click.Context | None) -> list[str]:
    if ctx is None:
        return []
    names: list[str] = []
    for param in ctx.command.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden:
            names.extend(param.opts)
            names.extend(param.secondary_opts)
    return names


def _param_name(param: click.Parameter | None, ctx: click.Context | None) -> str:
    if param is None:
        return "a value"
    if isinstance(param, click.Option):
        long = [o for o in param.opts if o.startswith("--")]
        return (long or param.opts)[0]
    metavar = param.make_metavar(ctx) if ctx is not None else (param.name or "ARG").upper()
    return metavar.rstrip(".")


def _missing(exc: click.MissingParameter) -> str:
    param = exc.param
    name = _param_name(param, exc.ctx)
    if isinstance(param, click.Option):
        metavar = param.metavar or (param.name or "VALUE").upper()
        return f"missing {name} {metavar}" if not param.is_flag else f"missing {name}"
    return f"missing {name}"


def _bad_value(exc: click.BadParameter, ctx: click.Context | None) -> str:
    name = _param_name(exc.param, ctx) if exc.param is not None else (
        str(exc.param_hint or "value"))
    detail = exc.message.strip().rstrip(".")
    return f"{name}: {detail}"


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


class SparkwingGroup(click.Group):
    """A click group that does not cut its command list and suggests commands for typos."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with their whole first sentence (wrapped, never cut)."""
        rows: list[tuple[str, str]] = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the command; an unknown name is a one-line error with the nearest command."""
        name = args[0] if args else ""
        cmd = self.get_command(ctx, name) if name else None
        if cmd is None and name and not ctx.resilient_parsing and not name.startswith("-"):
            raise click.UsageError(unknown_command(name, ctx, ctx.command_path), ctx)
        return super().resolve_command(ctx, args)


"""Static shell completion scripts for bash, zsh and fish, generated from the live command tree.

``script(shell)`` walks the click command tree behind the Typer app (commands, nested
groups, options with their short forms, which options take a value, positional
arguments) and renders one self-contained script. The scripts are static so they can be
committed and packaged; the only dynamic values (session and project ids) come from the
hidden, fast, side-effect free ``ao _complete sessions|projects``.

What a value completes is decided by ``value_of``:

* positional arguments named or metavar'd ``SESSION``/``[SESSION]`` complete session ids;
* ``--project``/``-p`` values (and ``remove-project NAME``) complete project ids;
* path-typed parameters and metavars mentioning ``PATH``, ``FILE`` or ``DIR`` complete files;
* choice-typed parameters (and ``completion SHELL``) complete their choices;
* anything else takes a value but offers no candidates.

Output is deterministic: commands and options are sorted, so regenerating the committed
copies in ``completions/`` only changes them when the command tree changes.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import typing as t

from ao.sdk.errors import AoError, UsageError

if t.TYPE_CHECKING:
    import typer
    from typer import _click

SHELLS = ("bash", "zsh", "fish")
ID_KINDS = ("sessions", "projects")

# Root options whose value is passed on to `ao _complete`, so `ao -c other.yaml send <TAB>`
# completes the sessions of other.yaml.
FORWARDED = ("--config",)

_PROG = "ao"
_REGEN = "Regenerate with `make completions`. Install: see docs/completion.md."
_WORD_RE = re.compile(r"^[A-Za-z0-9_.+:@%/-]+$")


class Kind(enum.StrEnum):
    """What the value of an option or positional argument completes to."""

    VALUE = "value"  # takes a value, no candidates
    FILE = "file"
    SESSION = "session"
    PROJECT = "project"
    CHOICE = "choice"


@dataclasses.dataclass(frozen=True)
class Value:
    """The value an option takes or a positional argument is."""

    kind: Kind
    label: str
    choices: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a command: its spellings, help, and value (None for a flag)."""

    names: tuple[str, ...]
    help: str
    value: Value | None
    multiple: bool = False
    eager: bool = False

    @property
    def long(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n.startswith("--"))

    @property
    def short(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if not n.startswith("--"))


@dataclasses.dataclass(frozen=True)
class Argument:
    """One positional argument; ``many`` when it takes every remaining word."""

    name: str
    value: Value
    required: bool
    many: bool = False


@dataclasses.dataclass(frozen=True)
class Command:
    """A command or group, with its sorted options, arguments and subcommands."""

    path: tuple[str, ...]
    help: str
    options: tuple[Option, ...]
    arguments: tuple[Argument, ...]
    commands: tuple[Command, ...] = ()

    @property
    def is_group(self) -> bool:
        return bool(self.commands)

    def walk(self) -> t.Iterator[Command]:
        """This command, then every command below it, depth first in sorted order."""
        yield self
        for sub in self.commands:
            yield from sub.walk()


# Parameters whose completion cannot be told from their name, metavar or type:
# (command path below `ao`..., parameter name) -> value.
_OVERRIDES: dict[tuple[str, ...], Value] = {
    ("completion", "shell"): Value(Kind.CHOICE, "SHELL", tuple(sorted(SHELLS))),
    ("remove-project", "name"): Value(Kind.PROJECT, "NAME"),
}


def script(shell: str, *, app: typer.Typer | None = None) -> str:
    """The completion script for ``shell`` (bash, zsh or fish) for ``app`` (default: ao's).

    Raises UsageError for any other shell.
    """
    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}", hint=f"choose one of: {', '.join(SHELLS)}")
    # lazy: loaded by this command only, so `ao --help` stays fast
    import importlib

    render = importlib.import_module(f"ao.completion.{shell}").render
    return t.cast(str, render(command_tree(app)))


def command_tree(app: typer.Typer | None = None) -> Command:
    """The visible command tree of ``app`` (default: ao's root app), sorted by name."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    import typer.main
    from typer._click import Context

    if app is None:
        # lazy: the whole CLI tree only when a script is generated
        from ao.cli.app import app as ao_app

        app = ao_app
    root = typer.main.get_command(app)
    ctx = Context(root, info_name=_PROG, **root.context_settings)
    return _command(root, ctx, (_PROG,))


def _command(cmd: _click.Command, ctx: _click.Context, path: tuple[str, ...]) -> Command:
    # lazy: loaded by this command only, so `ao --help` stays fast
    from typer._click import Context
    from typer.core import TyperArgument, TyperGroup, TyperOption

    options: list[Option] = []
    arguments: list[Argument] = []
    for param in cmd.get_params(ctx):
        if isinstance(param, TyperOption) and not param.hidden:
            options.extend(_options(param, path))
        elif isinstance(param, TyperArgument) and not param.hidden:
            arguments.append(
                Argument(
                    name=param.name or "",
                    value=value_of(param, path),
                    required=param.required,
                    many=param.nargs == -1,
                )
            )
    subcommands: list[Command] = []
    if isinstance(cmd, TyperGroup):
        for name in sorted(cmd.commands):
            sub = cmd.commands[name]
            if sub.hidden:
                continue
            sub_ctx = Context(sub, parent=ctx, info_name=name, **sub.context_settings)
            subcommands.append(_command(sub, sub_ctx, (*path, name)))
    return Command(
        path=path,
        help=_one_line(cmd.get_short_help_str(limit=80)),
        options=tuple(sorted(options, key=_option_key)),
        arguments=tuple(arguments),
        commands=tuple(subcommands),
    )


def _options(param: _click.core.Parameter, path: tuple[str, ...]) -> list[Option]:
    # lazy: loaded by this command only, so `ao --help` stays fast
    from typer._click.utils import make_default_short_help
    from typer.core import TyperOption

    assert isinstance(param, TyperOption)
    help_text = _one_line(make_default_short_help(param.help or "", 80))
    takes_value = not param.is_flag and not param.count
    value = value_of(param, path) if takes_value else None
    multiple = param.multiple or param.count
    found = [Option(_sorted_names(param.opts), help_text, value, multiple, param.is_eager)]
    if param.secondary_opts:  # --x/--no-x: two flags
        found.append(Option(_sorted_names(param.secondary_opts), help_text, None, multiple))
    return found


def value_of(param: _click.core.Parameter, path: tuple[str, ...]) -> Value:
    """What the value of ``param`` (an option or argument of the command at ``path``) is."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from typer.core import TyperOption

    name = param.name or ""
    override = _OVERRIDES.get((*path[1:], name))
    if override is not None:
        return override
    is_option = isinstance(param, TyperOption)
    label = (param.metavar or "").strip("[]").rstrip(".") or name.upper()
    if not is_option and (label == "SESSION" or name == "session_id"):
        return Value(Kind.SESSION, "SESSION")
    if is_option and name == "project":
        return Value(Kind.PROJECT, label)
    is_path, choices = _type_facts(param)
    if is_path:
        return Value(Kind.FILE, label)
    words = tuple(sorted(str(getattr(c, "value", c)) for c in choices))
    if words and all(_WORD_RE.fullmatch(w) for w in words):
        return Value(Kind.CHOICE, label, words)
    if re.search(r"\b(PATH|FILE|DIR)\b", label):
        return Value(Kind.FILE, label)
    return Value(Kind.VALUE, label)


def _type_facts(param: _click.core.Parameter) -> tuple[bool, tuple[object, ...]]:
    """Whether ``param`` takes paths, and its choices: from the click param type (typer
    0.28) or the type descriptor (typer 0.29)."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from pathlib import PurePath

    ptype = getattr(param, "type", None)
    if ptype is not None:
        is_path = getattr(ptype, "name", "") in ("path", "file", "directory", "filename")
        return is_path, tuple(getattr(ptype, "choices", None) or ())
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:
        return False, ()
    items = t.get_args(descriptor.annotation) if descriptor.is_list else ()
    item_is_path = bool(items) and isinstance(items[0], type) and issubclass(items[0], PurePath)
    is_path = bool(descriptor.is_path or descriptor.is_file or item_is_path)
    return is_path, tuple(descriptor.choices or ())


def _sorted_names(names: t.Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(names, key=lambda n: (not n.startswith("--"), n)))


def _option_key(option: Option) -> tuple[str, ...]:
    return tuple(n.lstrip("-") for n in option.names)


def _header(shell_name: str) -> str:
    return f"Generated by `ao completion {shell_name}` from the command tree; do not edit."


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _func(path: tuple[str, ...]) -> str:
    """The zsh function completing the command at ``path``: _ao_cmd, _ao_cmd__send..."""
    return "_ao_cmd" + "".join("__" + re.sub(r"[^A-Za-z0-9]", "_", p) for p in path[1:])


def _forwarded(root: Command) -> tuple[str, ...]:
    names: set[str] = set()
    for option in root.options:
        if option.value is not None and set(option.names) & set(FORWARDED):
            names.update(option.names)
    return _sorted_names(names)


# ---------------------------------------------------------------- bash


def ids(kind: str) -> list[str]:
    """The session or project ids of the current config, sorted; for ``ao _complete``.

    Reads only the config and the sessions directories: no tmux, no plugins. No config,
    or an invalid one, gives an empty list. An unknown ``kind`` raises UsageError.
    """
    if kind not in ID_KINDS:
        raise UsageError(f"unknown kind {kind!r}", hint=f"choose one of: {', '.join(ID_KINDS)}")
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.config import find_config_path, load_config

    try:
        path = find_config_path()
        if path is None:
            return []
        loaded = load_config(path, cached=True)
    except (AoError, OSError):
        return []
    projects = sorted(loaded.model.projects)
    if kind == "projects":
        return projects
    # lazy: session names only when a shell asks for them
    from ao.store.paths import SESSION_ID_RE, ProjectPaths

    found: set[str] = set()
    for pid in projects:
        try:
            entries = list(ProjectPaths(loaded.path, pid).sessions.iterdir())
        except OSError:
            continue
        found.update(e.name for e in entries if SESSION_ID_RE.fullmatch(e.name))
    return sorted(found, key=_natural)


def _natural(text: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _sh_quote(text: str) -> str:
    """Single-quote ``text`` for bash and zsh."""
    if _WORD_RE.fullmatch(text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"

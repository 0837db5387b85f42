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

from ao.errors import AoError, UsageError

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
    renderers = {"bash": _bash, "zsh": _zsh, "fish": _fish}
    if shell not in renderers:
        raise UsageError(f"unknown shell {shell!r}", hint=f"choose one of: {', '.join(SHELLS)}")
    return renderers[shell](command_tree(app))


def command_tree(app: typer.Typer | None = None) -> Command:
    """The visible command tree of ``app`` (default: ao's root app), sorted by name."""
    import typer.main
    from typer._click import Context

    if app is None:
        from ao.cli.app import app as ao_app

        app = ao_app
    root = typer.main.get_command(app)
    ctx = Context(root, info_name=_PROG, **root.context_settings)
    return _command(root, ctx, (_PROG,))


def _command(cmd: _click.Command, ctx: _click.Context, path: tuple[str, ...]) -> Command:
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
    if words and all(_WORD_RE.match(w) for w in words):
        return Value(Kind.CHOICE, label, words)
    if re.search(r"\b(PATH|FILE|DIR)\b", label):
        return Value(Kind.FILE, label)
    return Value(Kind.VALUE, label)


def _type_facts(param: _click.core.Parameter) -> tuple[bool, tuple[object, ...]]:
    """Whether ``param`` takes paths, and its choices: from the click param type (typer
    0.28) or the type descriptor (typer 0.29)."""
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


def _bash_kind(value: Value) -> str:
    if value.kind is Kind.CHOICE:
        return "choice:" + ",".join(value.choices)
    return value.kind.value


def _bash(root: Command) -> str:
    cases: list[str] = []
    for cmd in root.walk():
        lines = [f"        {_sh_quote(' '.join(cmd.path))})"]
        subs = " ".join(c.path[-1] for c in cmd.commands)
        opts = " ".join(sorted(n for o in cmd.options for n in o.names))
        vopts = " ".join(
            sorted(f"{n}={_bash_kind(o.value)}" for o in cmd.options if o.value for n in o.names)
        )
        args = " ".join(_bash_kind(a.value) + ("*" if a.many else "") for a in cmd.arguments)
        for var, text in (("subs", subs), ("opts", opts), ("vopts", vopts), ("args", args)):
            if text:
                lines.append(f"            _ao_{var}={_sh_quote(text)}")
        lines.append("            ;;")
        cases.extend(lines)
    forwarded = " ".join(_forwarded(root))
    return _BASH.format(
        header=_header("bash"),
        regen=_REGEN,
        cases="\n".join(cases),
        forwarded=_sh_quote(forwarded),
        prog=_PROG,
    )


_BASH = r"""# bash completion for ao
# {header}
# {regen}

# _ao_spec PATH: set the facts about the command at PATH ("ao", "ao send", ...):
# _ao_subs: its subcommands; _ao_opts: its options; _ao_vopts: OPTION=KIND for the options
# that take a value; _ao_args: the KIND of each positional argument ("*": repeats).
# A KIND is value, file, session, project or choice:A,B,C.
_ao_spec() {{
    _ao_subs='' _ao_opts='' _ao_vopts='' _ao_args=''
    case $1 in
{cases}
    esac
}}

# _ao_value_kind OPTION: set _ao_kind to the KIND of OPTION's value; fail for a flag.
_ao_value_kind() {{
    local pair
    _ao_kind=''
    for pair in $_ao_vopts; do
        if [[ ${{pair%%=*}} == "$1" ]]; then
            _ao_kind=${{pair#*=}}
            return 0
        fi
    done
    return 1
}}

# _ao_reply COMPGEN-ARGS...: set COMPREPLY to compgen's lines (no mapfile: bash 3.2 works).
_ao_reply() {{
    local line
    COMPREPLY=()
    while IFS= read -r line; do
        COMPREPLY+=("$line")
    done < <(compgen "$@")
}}

# _ao_values KIND CUR: set COMPREPLY to the values of KIND that start with CUR.
_ao_values() {{
    local words
    case $1 in
        file)
            compopt -o filenames 2>/dev/null
            _ao_reply -f -- "$2"
            ;;
        session | project)
            words=$("${{_ao_prog[@]}}" _complete "$1s" 2>/dev/null)
            _ao_reply -W "$words" -- "$2"
            ;;
        choice:*)
            words=${{1#choice:}}
            _ao_reply -W "${{words//,/ }}" -- "$2"
            ;;
        *)
            COMPREPLY=()
            ;;
    esac
}}

_ao() {{
    local -a words=() kinds=() _ao_prog=()
    local _ao_subs _ao_opts _ao_vopts _ao_args _ao_kind
    local i w last cur cword=0 path={prog} npos=0 dashdash=0 kind=''
    local forwarded={forwarded}
    COMPREPLY=()
    # Join "--opt" "=" "value" (COMP_WORDBREAKS splits at '=') back into "--opt=value".
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w=${{COMP_WORDS[i]}}
        last=''
        ((i > 0)) && last=${{words[${{#words[@]}} - 1]}}
        if ((i > 1)) && [[ ${{COMP_WORDS[i - 1]}} == = && $last == -*= ]]; then
            words[${{#words[@]}} - 1]=$last$w
        elif ((i > 0)) && [[ $w == = && $last == -* && $last != *=* ]]; then
            words[${{#words[@]}} - 1]=$last$w
        else
            words+=("$w")
        fi
        if ((i == COMP_CWORD)); then
            cword=$((${{#words[@]}} - 1))
        fi
    done
    cur=${{words[cword]}}
    _ao_prog=("${{words[0]/#\~/$HOME}}")
    _ao_spec "$path"
    # Walk the words before the cursor: options (and their values), then subcommands,
    # then positional arguments.
    for ((i = 1; i < cword; i++)); do
        w=${{words[i]}}
        if ((!dashdash)) && [[ $w == -?* ]]; then
            if [[ $w == -- ]]; then
                [[ -z $_ao_subs ]] && dashdash=1
            elif [[ $w == *=* ]]; then
                if [[ $path == {prog} && " $forwarded " == *" ${{w%%=*}} "* ]]; then
                    _ao_prog+=("${{w%%=*}}" "${{w#*=}}")
                fi
            elif _ao_value_kind "$w"; then
                if ((i + 1 == cword)); then
                    _ao_values "$_ao_kind" "$cur"
                    return 0
                fi
                ((i++))
                if [[ $path == {prog} && " $forwarded " == *" $w "* ]]; then
                    _ao_prog+=("$w" "${{words[i]/#\~/$HOME}}")
                fi
            fi
        elif [[ -n $_ao_subs ]]; then
            [[ " $_ao_subs " == *" $w "* ]] || return 0
            path+=" $w"
            _ao_spec "$path"
        else
            ((npos++))
        fi
    done
    if ((!dashdash)) && [[ $cur == -* ]]; then
        if [[ $cur == -*=* ]]; then
            _ao_value_kind "${{cur%%=*}}" || return 0
            _ao_values "$_ao_kind" "${{cur#*=}}"
            if [[ $COMP_WORDBREAKS != *=* ]]; then
                COMPREPLY=("${{COMPREPLY[@]/#/${{cur%%=*}}=}}")
            fi
        else
            _ao_reply -W "$_ao_opts" -- "$cur"
        fi
        return 0
    fi
    if [[ -n $_ao_subs ]]; then
        _ao_reply -W "$_ao_subs" -- "$cur"
        return 0
    fi
    read -ra kinds <<<"$_ao_args"
    if ((npos < ${{#kinds[@]}})); then
        kind=${{kinds[npos]}}
    elif ((${{#kinds[@]}})); then
        kind=${{kinds[${{#kinds[@]}} - 1]}}
        [[ $kind == *'*' ]] || kind=''
    fi
    _ao_values "${{kind%'*'}}" "$cur"
    return 0
}}

complete -F _ao {prog}
"""


# ---------------------------------------------------------------- zsh


def _zsh(root: Command) -> str:
    forwarded = _forwarded(root)
    functions = [_zsh_function(cmd, forwarded if cmd is root else ()) for cmd in root.walk()]
    return _ZSH.format(
        header=_header("zsh"),
        regen=_REGEN,
        functions="\n\n".join(functions),
        prog=_PROG,
        root=_func(root.path),
    )


def _zsh_action(value: Value) -> str:
    if value.kind is Kind.FILE:
        return "_files"
    if value.kind is Kind.SESSION:
        return "_ao_sessions"
    if value.kind is Kind.PROJECT:
        return "_ao_projects"
    if value.kind is Kind.CHOICE:
        return "(" + " ".join(value.choices) + ")"
    return " "


def _zsh_escape(text: str, chars: str = "\\[]:") -> str:
    return "".join("\\" + c if c in chars else c for c in text)


def _zsh_option_specs(option: Option) -> list[str]:
    if option.eager:
        exclude = "(- *)"
    elif option.multiple:
        exclude = "*"
    else:
        exclude = "(" + " ".join(option.names) + ")"
    help_text = f"[{_zsh_escape(option.help)}]"
    specs = []
    for name in option.names:
        suffix = ""
        if option.value is not None:
            suffix = "=" if name.startswith("--") else "+"
        spec = f"{exclude}{name}{suffix}{help_text}"
        if option.value is not None:
            label = _zsh_escape(option.value.label, "\\:")
            spec += f":{label}:{_zsh_action(option.value)}"
        specs.append(spec)
    return specs


def _zsh_function(cmd: Command, forwarded: tuple[str, ...]) -> str:
    specs = [spec for option in cmd.options for spec in _zsh_option_specs(option)]
    name = _func(cmd.path)
    body: list[str] = []
    if cmd.is_group:
        specs += ["1: :" + name + "_commands", "*:: :->command"]
        items = [_zsh_escape(c.path[-1], "\\:") + ":" + c.help for c in cmd.commands]
        body.append(f"{name}_commands() {{")
        body.append("    local -a commands=(")
        body.extend(f"        {_sh_quote(item)}" for item in items)
        body.append("    )")
        body.append(
            f"    _describe -t commands {_sh_quote(' '.join(cmd.path) + ' command')} commands"
        )
        body.append("}")
        body.append("")
    else:
        for position, arg in enumerate(cmd.arguments, start=1):
            label = _zsh_escape(arg.value.label, "\\:")
            if arg.many:
                specs.append(f"*:{label}:{_zsh_action(arg.value)}")
            else:
                optional = "" if arg.required else ":"
                specs.append(f"{position}:{optional}{label}:{_zsh_action(arg.value)}")
    body.append(f"{name}() {{")
    if cmd.is_group:
        body.append("    local curcontext=$curcontext state state_descr line ret=1")
        body.append("    local -A opt_args")
    args = " \\\n        ".join(_sh_quote(s) for s in specs)
    flags = "-s -S -C" if cmd.is_group else "-s -S"
    if cmd.is_group:
        body.append(f"    _arguments {flags} \\\n        {args} && ret=0")
        if forwarded:
            body.append("    local opt")
            body.append(f"    for opt in {' '.join(forwarded)}; do")
            body.append("        if (( $+opt_args[$opt] )); then")
            body.append("            _ao_prog+=($opt ${(Q)opt_args[$opt]/#\\~/$HOME})")
            body.append("        fi")
            body.append("    done")
        body.append("    if [[ $state == command ]]; then")
        body.append(f"        curcontext=${{curcontext%:*:*}}:{'-'.join(cmd.path)}-$words[1]:")
        body.append("        case $words[1] in")
        body.extend(
            f"            ({_sh_quote(sub.path[-1])}) {_func(sub.path)} && ret=0 ;;"
            for sub in cmd.commands
        )
        body.append("        esac")
        body.append("    fi")
        body.append("    return ret")
    elif specs:
        body.append(f"    _arguments {flags} \\\n        {args}")
    else:
        body.append("    _message 'no more arguments'")
    body.append("}")
    return "\n".join(body)


_ZSH = r"""#compdef {prog}
# zsh completion for ao
# {header}
# {regen}

# _ao_ids KIND COMPADD-OPTION...: complete the ids `ao _complete KIND` prints.
_ao_ids() {{
    local kind=$1
    shift
    local -a ids
    ids=(${{(f)"$("${{_ao_prog[@]}}" _complete $kind 2>/dev/null)"}})
    compadd "$@" -a ids
}}
_ao_sessions() {{ _ao_ids sessions "$@"; }}
_ao_projects() {{ _ao_ids projects "$@"; }}

{functions}

_ao() {{
    local -a _ao_prog
    _ao_prog=("${{(Q)words[1]/#\~/$HOME}}")
    {root} "$@"
}}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _ao "$@"
else
    compdef _ao {prog}
fi
"""


# ---------------------------------------------------------------- fish


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_value_flags(value: Value) -> str:
    if value.kind is Kind.FILE:
        return "-r -F"
    if value.kind is Kind.SESSION:
        return "-x -a " + _fish_quote("(__fish_ao_ids sessions)")
    if value.kind is Kind.PROJECT:
        return "-x -a " + _fish_quote("(__fish_ao_ids projects)")
    if value.kind is Kind.CHOICE:
        return "-x -a " + _fish_quote(" ".join(value.choices))
    return "-x"


def _fish(root: Command) -> str:
    value_cases: list[str] = []
    sub_cases: list[str] = []
    lines: list[str] = []
    for cmd in root.walk():
        where = " ".join(cmd.path)
        vopts = sorted(f"{where} {n}" for o in cmd.options if o.value for n in o.names)
        if vopts:
            value_cases.append("        case " + " ".join(_fish_quote(v) for v in vopts))
            value_cases.append("            return 0")
        if cmd.commands:
            sub_cases.append(f"        case {_fish_quote(where)}")
            sub_cases.append(
                "            printf '%s\\n' " + " ".join(c.path[-1] for c in cmd.commands)
            )
        lines.append(f"# {where}")
        for option in cmd.options:
            parts = ["complete -c", _PROG, "-n", _fish_quote(f"__fish_ao_is - {where}")]
            parts += [f"-s {n[1:]}" for n in option.short]
            parts += [f"-l {n[2:]}" for n in option.long]
            if option.value is not None:
                parts.append(_fish_value_flags(option.value))
            if option.help:
                parts += ["-d", _fish_quote(option.help)]
            lines.append(" ".join(parts))
        for sub in cmd.commands:
            parts = ["complete -c", _PROG, "-n", _fish_quote(f"__fish_ao_is 1 {where}")]
            parts += ["-a", _fish_quote(sub.path[-1])]
            if sub.help:
                parts += ["-d", _fish_quote(sub.help)]
            lines.append(" ".join(parts))
        if not cmd.commands:
            for position, arg in enumerate(cmd.arguments, start=1):
                pos = f"{position}+" if arg.many else str(position)
                cond = _fish_quote(f"__fish_ao_is {pos} {where}")
                if arg.value.kind is Kind.FILE:
                    lines.append(f"complete -c {_PROG} -n {cond} -F")
                elif arg.value.kind is not Kind.VALUE:
                    flags = _fish_value_flags(arg.value).removeprefix("-x ")
                    label = _fish_quote(arg.value.label)
                    lines.append(f"complete -c {_PROG} -n {cond} {flags} -d {label}")
        lines.append("")
    return _FISH.format(
        header=_header("fish"),
        regen=_REGEN,
        value_cases="\n".join(value_cases),
        sub_cases="\n".join(sub_cases),
        forwarded=" ".join(_fish_quote(n) for n in _forwarded(root)),
        completes="\n".join(lines).rstrip("\n"),
        prog=_PROG,
    )


_FISH = r"""# fish completion for ao
# {header}
# {regen}

# __fish_ao_takes_value PATH OPTION: whether OPTION of the command at PATH takes a value.
function __fish_ao_takes_value
    switch "$argv[1] $argv[2]"
{value_cases}
    end
    return 1
end

# __fish_ao_subcommands PATH: the subcommands of the group at PATH, one a line.
function __fish_ao_subcommands
    switch "$argv[1]"
{sub_cases}
    end
end

# __fish_ao_is POS WORD...: whether the command being completed is WORD... (e.g. ao send)
# and the token under the cursor is its POS-th positional argument (N, N+ for N or later,
# or - for any place where an option may go).
function __fish_ao_is
    set -l pos $argv[1]
    set -l want (string join ' ' $argv[2..-1])
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path {prog}
    set -l npos 0
    set -l skip 0
    set -l dashdash 0
    set -l subs (__fish_ao_subcommands $path)
    for tok in $tokens
        if test $skip = 1
            set skip 0
        else if test $dashdash = 0; and string match -qr -- '^-.' $tok
            if test $tok = --
                set -q subs[1]; or set dashdash 1
            else if __fish_ao_takes_value $path $tok
                set skip 1
            end
        else if set -q subs[1]
            contains -- $tok $subs; or return 1
            set path "$path $tok"
            set subs (__fish_ao_subcommands $path)
        else
            set npos (math $npos + 1)
        end
    end
    test "$path" = "$want"; or return 1
    if test $pos = -
        test $dashdash = 0
        return
    end
    test $skip = 0; or return 1
    set npos (math $npos + 1)
    switch $pos
        case '*+'
            test $npos -ge (string trim -r -c + -- $pos)
        case '*'
            test $npos = $pos
    end
end

# __fish_ao_ids KIND: the ids `ao _complete KIND` prints (sessions or projects).
function __fish_ao_ids
    set -l tokens (commandline -opc)
    set -l prog (string replace -r '^~' $HOME -- $tokens[1])
    set -e tokens[1]
    set -l forwarded {forwarded}
    while set -q tokens[1]; and string match -qr -- '^-' $tokens[1]
        set -l tok $tokens[1]
        set -e tokens[1]
        set -l name (string split -m 1 = -- $tok)
        if contains -- $name[1] $forwarded
            if set -q name[2]
                set -a prog $name[1] (string replace -r '^~' $HOME -- $name[2])
            else if set -q tokens[1]
                set -a prog $tok (string replace -r '^~' $HOME -- $tokens[1])
                set -e tokens[1]
            end
        else if __fish_ao_takes_value {prog} $tok
            set -e tokens[1]
        end
    end
    $prog _complete $argv[1] 2>/dev/null
end

complete -c {prog} -f

{completes}
"""


# ---------------------------------------------------------------- ids


def ids(kind: str) -> list[str]:
    """The session or project ids of the current config, sorted; for ``ao _complete``.

    Reads only the config and the sessions directories: no tmux, no plugins. No config,
    or an invalid one, gives an empty list. An unknown ``kind`` raises UsageError.
    """
    if kind not in ID_KINDS:
        raise UsageError(f"unknown kind {kind!r}", hint=f"choose one of: {', '.join(ID_KINDS)}")
    from ao.config import find_config_path, load_config

    try:
        path = find_config_path()
        if path is None:
            return []
        loaded = load_config(path)
    except (AoError, OSError):
        return []
    projects = sorted(loaded.model.projects)
    if kind == "projects":
        return projects
    from ao.paths import ProjectPaths
    from ao.state import SESSION_ID_RE

    found: set[str] = set()
    for pid in projects:
        try:
            entries = list(ProjectPaths(loaded.path, pid).sessions.iterdir())
        except OSError:
            continue
        found.update(e.name for e in entries if SESSION_ID_RE.match(e.name))
    return sorted(found, key=_natural)


def _natural(text: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _sh_quote(text: str) -> str:
    """Single-quote ``text`` for bash and zsh."""
    if _WORD_RE.match(text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"

"""The fish completion script of ao (see ``ao.completion``)."""

from __future__ import annotations

from ao.completion import (
    _PROG,
    _REGEN,
    Command,
    Kind,
    Value,
    _forwarded,
    _header,
)


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


def render(root: Command) -> str:
    """The whole fish script for the command tree ``root``."""
    return _fish(root)

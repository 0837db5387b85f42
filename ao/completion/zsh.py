"""The zsh completion script of ao (see ``ao.completion``)."""

from __future__ import annotations

from ao.completion import (
    _PROG,
    _REGEN,
    Command,
    Kind,
    Option,
    Value,
    _forwarded,
    _func,
    _header,
    _sh_quote,
)


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


def render(root: Command) -> str:
    """The whole zsh script for the command tree ``root``."""
    return _zsh(root)

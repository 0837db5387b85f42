"""The bash completion script of ao (see ``ao.completion``)."""

from __future__ import annotations

from ao.completion import (
    _PROG,
    _REGEN,
    Command,
    Kind,
    Value,
    _forwarded,
    _header,
    _sh_quote,
)


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


def render(root: Command) -> str:
    """The whole bash script for the command tree ``root``."""
    return _bash(root)

"""The environment an agent's process starts with: the caller's own, plus ao's.

A runtime's long-lived server hands a new process the environment *it* started with,
which may come from another shell, long ago: a provider key exported in this shell, a
proxy, a ``PATH`` entry or a virtualenv would silently be missing, depending on who
started the server first. So the core passes the whole environment of the process that
runs ``ao new``/``ao restore`` (or, for sessions the watcher starts, the watcher's)
explicitly in ``RuntimeSpec.env``, and each runtime delivers it without a command line
or a lasting file. What belongs to the caller's terminal (or multiplexer client) stays
behind.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# The caller's terminal, multiplexer client and shell bookkeeping: wrong for the agent
TERMINAL_NAMES = frozenset({
    "TERM", "COLORTERM", "TERMCAP", "COLUMNS", "LINES", "TMUX", "TMUX_PANE", "STY", "WINDOW",
    "WINDOWID", "SSH_TTY", "PWD", "OLDPWD", "SHLVL", "_", "PS1", "PROMPT_COMMAND",
})  # fmt: skip
TERMINAL_PREFIXES = (
    "TERM_", "ITERM_", "KITTY_", "WEZTERM_", "ALACRITTY_", "VTE_", "GNOME_TERMINAL_",
    "KONSOLE_", "TILIX_", "VSCODE_", "BASH_FUNC_",
)  # fmt: skip
# ao's per-session variables: set fresh for each session, never inherited from a caller
# that is itself a session (an agent spawning a worker)
SESSION_NAMES = frozenset({"AO_SESSION_ID", "AO_PROJECT", "AO_CONFIG", "AO_CALLER_TYPE"})


def caller_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The invoking process's environment minus its terminal's and its session's variables."""
    env = os.environ if environ is None else environ
    return {
        key: value
        for key, value in env.items()
        if key not in TERMINAL_NAMES
        and key not in SESSION_NAMES
        and not key.startswith(TERMINAL_PREFIXES)
    }


def agent_environment(
    *layers: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The caller's environment with ``layers`` applied in order (later ones win)."""
    env = caller_environment(environ)
    for layer in layers:
        env.update(layer)
    return env

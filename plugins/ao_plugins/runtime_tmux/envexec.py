"""Run a command with exactly the environment saved in a file, then forget the file.

The tmux runtime starts each pane as ``python -I -S envexec.py FILE -- ARGV...``. A pane
otherwise gets the environment of the tmux *server*, which may have started long before,
from another shell; and ``new-session -e`` would put every value, secrets included, on a
command line that other users can read. FILE (0600, in a private directory in memory
where one exists) holds the caller's environment as JSON; it is deleted before the
command starts. Only what belongs to the pane itself is kept from tmux: its ``TERM`` and
the ``TMUX``/``TMUX_PANE`` variables that tell a program which pane it is in.

Standard library only, no ``site``: this runs once per session start and must be quick.
"""

import contextlib
import json
import os
import sys
from pathlib import Path

FROM_PANE = ("TERM", "TMUX", "TMUX_PANE", "COLORTERM")


def main(args: list[str]) -> int:
    if len(args) < 3 or args[1] != "--":
        print("usage: envexec.py ENV_FILE -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    path, argv = Path(args[0]), args[2:]
    try:
        env = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"ao: cannot read the session's environment ({path}): {exc}", file=sys.stderr)
        return 126
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    env = {str(k): str(v) for k, v in env.items()}
    for name in FROM_PANE:
        if name in os.environ:
            env[name] = os.environ[name]
        else:
            env.pop(name, None)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"ao: cannot start {argv[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Shell completion: ``ao completion SHELL`` and the hidden, fast ``ao _complete KIND``."""

from __future__ import annotations

import sys

import typer


def completion(
    shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh or fish."),
) -> None:
    """Print the completion script for SHELL (install: see docs/completion.md)."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.completion import script

    sys.stdout.write(script(shell))


def complete(
    kind: str = typer.Argument(..., metavar="sessions|projects"),
) -> None:
    """Print session or project ids, one a line, for the completion scripts.

    Fast and side-effect free: reads the config and the session directories only (no
    tmux, no plugins); prints nothing when there is no valid config.
    """
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.completion import ids

    found = ids(kind)
    if found:
        sys.stdout.write("\n".join(found) + "\n")


def register(app: typer.Typer) -> None:
    """Add ``completion`` and the hidden ``_complete`` to ``app``."""
    app.command("completion")(completion)
    app.command("_complete", hidden=True)(complete)

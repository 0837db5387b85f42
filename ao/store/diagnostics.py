"""Warnings the core raises without printing: the front-end decides where they go.

The core never prints. Something a user should hear about but that must not stop the
command (a session file that cannot be read, skipped) goes to ``warn``; the CLI installs
a sink that writes ``ao: warning: …`` to stderr, and other front-ends may collect them.
Each distinct message is reported once per process.
"""

from __future__ import annotations

from collections.abc import Callable

_sink: Callable[[str], None] | None = None
_seen: set[str] = set()


def warn(message: str) -> None:
    """Report ``message`` once to the installed sink (dropped when there is none)."""
    if message in _seen:
        return
    _seen.add(message)
    if _sink is not None:
        _sink(message)


def set_sink(sink: Callable[[str], None] | None) -> None:
    """Install where warnings go (the CLI: stderr)."""
    global _sink
    _sink = sink

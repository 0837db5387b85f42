"""The ``tmux`` terminal: a human views a session by attaching to (or switching to) it."""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ao.sdk.contracts import API_VERSION


class TmuxTerminal:
    """Attach in the current terminal; from inside tmux, switch the client instead."""

    api_version = API_VERSION

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        self.options = dict(options or {})

    def open_argv(self, attach_argv: list[str]) -> list[str]:
        """The runtime's attach command is already the right one for a terminal."""
        return list(attach_argv)

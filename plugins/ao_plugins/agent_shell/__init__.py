"""The ``shell`` agent: any command (by default ``$SHELL``) run in the worktree.

The task text is typed as the program's first input. It serves generic command
workflows and is the agent the core's own tests drive.
"""

from __future__ import annotations

import os
import re
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agent import AgentBase
from ao.sdk.contracts import (
    Activity,
    Evidence,
    Interruptible,
    LaunchContext,
    LaunchSpec,
    Observation,
)

SHELLS = {"sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "csh"}


class ShellAgent(AgentBase, Interruptible):
    """Runs a shell or any configured command as the session's agent."""

    name = "shell"
    default_settle = 0.15
    interrupt_keys = ("C-c",)  # Ctrl-C stops the foreground program; the shell stays

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        super().__init__(options)
        options = self.options
        pattern = options.get("ready_pattern") or options.get("readyPattern")
        self.ready_pattern = re.compile(pattern) if pattern else None
        question = options.get("question_pattern") or options.get("questionPattern")
        self.question_pattern = re.compile(question) if question else None
        self._own = {Path(self.binary).name} | (
            SHELLS if Path(self.binary).name in SHELLS else set()
        )

    def initial_command(self) -> list[str]:
        """``$SHELL``, else ``/bin/sh``."""
        return [os.environ.get("SHELL") or "/bin/sh"]

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """The configured command; the task is delivered after the program is ready."""
        return LaunchSpec(
            argv=list(self.command), prompt_delivery="post-launch" if ctx.task else "none"
        )

    def activity(self, obs: Observation) -> Activity:
        """Ready when the program's own process is in the foreground with output on screen."""
        pane = obs.pane
        if (ended := self.ended(pane)) is not None:
            return ended
        command = pane.current_command
        if command and command not in self._own:
            return Activity("working", Evidence("runtime", f"foreground process: {command}"))
        screen = (obs.screen or "").rstrip()
        if obs.screen is None:
            return Activity(
                "ready", Evidence("runtime", f"{command} in the foreground (screen not read)")
            )
        last = screen.splitlines()[-1] if screen else ""
        if self.question_pattern is not None and self.question_pattern.search(last):
            return Activity("needs_input", Evidence("screen", f"question: {last[-80:]!r}"))
        if self.ready_pattern is not None:
            if self.ready_pattern.search(last):
                return Activity("ready", Evidence("screen", f"prompt matched: {last[-80:]!r}"))
            return Activity(
                "starting", Evidence("screen", "ready pattern not on the last line yet")
            )
        if not screen:
            return Activity("starting", Evidence("screen", "nothing printed yet"))
        return Activity("ready", Evidence("runtime", f"{command} waits for input: {last[-80:]!r}"))

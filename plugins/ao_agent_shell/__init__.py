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

from ao.sdk.contracts import API_VERSION, Activity, Evidence, LaunchContext, LaunchSpec, Observation

SHELLS = {"sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "csh"}


class ShellAgent:
    """Runs a shell or any configured command as the session's agent."""

    api_version = API_VERSION
    name = "shell"
    interrupt_keys = ("C-c",)  # Ctrl-C stops the foreground program; the shell stays

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        options = options or {}
        command = options.get("command") or [os.environ.get("SHELL") or "/bin/sh"]
        self.command: list[str] = [str(part) for part in command]
        self.binary = self.command[0]
        pattern = options.get("ready_pattern") or options.get("readyPattern")
        self.ready_pattern = re.compile(pattern) if pattern else None
        self._settle = float(options.get("settle_delay") or options.get("settleDelay") or 0.15)
        question = options.get("question_pattern") or options.get("questionPattern")
        self.question_pattern = re.compile(question) if question else None
        self._own = {Path(self.binary).name} | (
            SHELLS if Path(self.binary).name in SHELLS else set()
        )

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """The configured command; the task is delivered after the program is ready."""
        return LaunchSpec(
            argv=list(self.command), prompt_delivery="post-launch" if ctx.task else "none"
        )

    def settle_delay(self) -> float:
        """Pause between paste and Enter, so the program has taken the whole paste."""
        return self._settle

    def activity(self, obs: Observation) -> Activity:
        """Ready when the program's own process is in the foreground with output on screen."""
        pane = obs.pane
        if not pane.alive:
            return Activity("exited", Evidence("runtime", "the tmux session is gone"))
        if not pane.running:
            return Activity(
                "exited", Evidence("runtime", f"process exited with status {pane.exit_status}")
            )
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

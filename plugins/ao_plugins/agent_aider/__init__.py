"""The ``aider`` agent: Aider, interactive, as the pane's process.

Launch: ``aider [--model M] [--yes-always] --no-gitignore --chat-history-file <state>/…
--input-history-file <state>/… --notifications --notifications-command "<record the
transcript's size in <state>/aider-waiting>" [--read <state>/aider-conventions.md]``;
the task is pasted once the prompt is up (Aider has no "first message, then stay
interactive" flag). Aider's
transcript and input history live in ao's state dir; the one file it insists on writing
into the worktree (``.aider.tags.cache.v4/``) is hidden through the repository's
``info/exclude``, never its ``.gitignore``. Activity comes from the transcript and the
waiting marker, then liveness, then Aider's chrome. See docs/agents-more.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import time
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agent import AgentBase, ProbedVersion
from ao.sdk.agentkit import write_private
from ao.sdk.contracts import (
    Activity,
    ActivityState,
    AuthReporting,
    AuthState,
    DialogAnswer,
    DialogAnswering,
    Evidence,
    Interruptible,
    LaunchContext,
    LaunchSpec,
    Observation,
    Resumable,
    SelfTestable,
    SessionInfo,
    SessionInfoReader,
)

from . import native, screen

# ao permission level -> Aider flags. Aider applies edits to files in the chat without
# asking; it asks before creating files, running commands and adding files. --yes-always
# answers every question "yes" (commands included), so only auto/bypass use it.
PERMISSION_FLAGS = {
    "default": [],
    "accept-edits": [],
    "auto": ["--yes-always"],
    "bypass": ["--yes-always"],
}
SETTLE = 0.3
ENV_PREFIXES = ("AIDER_", "OPENAI_API_BASE", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
                "LITELLM_", "OLLAMA_API_BASE")  # fmt: skip
API_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY",
            "OPENROUTER_API_KEY", "GROQ_API_KEY", "AZURE_API_KEY", "XAI_API_KEY",
            "AIDER_OPENAI_API_KEY", "AIDER_ANTHROPIC_API_KEY")  # fmt: skip
TURN_ACTIVITY: dict[str, ActivityState] = {
    "waiting": "ready", "running": "working", "blocked": "blocked", "empty": "starting",
}  # fmt: skip
EXCLUDE_LINE = ".aider*"
FRESH = 1.5  # seconds after a transcript write in which the screen may still lag


class AiderAgent(
    AgentBase, ProbedVersion, Resumable, Interruptible, DialogAnswering, SessionInfoReader,
    AuthReporting, SelfTestable,
):  # fmt: skip
    """Adapter for Aider (``aider``), tested with 0.86.2."""

    name = "aider"
    default_command = ("aider",)
    default_settle = SETTLE
    process = "aider"
    env_prefixes = ENV_PREFIXES
    # one Ctrl-C stops the reply (a second one in quick succession would quit aider)
    interrupt_keys = ("C-c",)

    # ------------------------------------------------------------------ launch

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """A fresh Aider with its records in the state dir; the task is pasted later."""
        return self._spec(ctx, [])

    def resume(self, ctx: LaunchContext, session: Mapping[str, str]) -> LaunchSpec | None:
        """``--restore-chat-history`` from the session's transcript; None without one."""
        state = session.get("agent_home")
        if not state or not (Path(state) / native.HISTORY).exists():
            return None
        return self._spec(ctx, ["--restore-chat-history"])

    def _spec(self, ctx: LaunchContext, extra: list[str]) -> LaunchSpec:
        flags = PERMISSION_FLAGS.get(self.level(ctx), [])
        argv = [*self.command, *self.model_args(ctx), *flags, "--no-gitignore", *extra]
        metadata = {"native_cwd": os.path.realpath(ctx.worktree)}
        if ctx.state_dir is not None:
            state = ctx.state_dir
            state.mkdir(parents=True, exist_ok=True)
            waiting = state / native.WAITING
            argv += [
                "--chat-history-file", str(state / native.HISTORY),
                "--input-history-file", str(state / native.INPUT_HISTORY),
                "--notifications",
                "--notifications-command", notify_command(state / native.HISTORY, waiting),
            ]  # fmt: skip
            if ctx.rules:
                conventions = state / "aider-conventions.md"
                write_private(conventions, ctx.rules.strip() + "\n")
                argv += ["--read", str(conventions)]
            metadata["agent_home"] = str(state)
        hide_aider_files(ctx.worktree)
        env = self.passthrough()
        delivery: t.Literal["post-launch", "none"] = "post-launch" if ctx.task else "none"
        return LaunchSpec(argv=argv, env=env, prompt_delivery=delivery, metadata=metadata)

    # ------------------------------------------------------------------ activity

    def activity(self, obs: Observation) -> Activity:
        """Aider's transcript and waiting marker first, then liveness, then its chrome."""
        if (ended := self.ended(obs.pane)) is not None:
            return ended
        reading = screen.read(obs.screen) if obs.screen is not None else None
        if reading is not None and reading.state in ("needs_input", "blocked"):
            return Activity(reading.state, Evidence("screen", reading.detail))
        home = obs.session.get("agent_home")
        turn = native.turn_state(Path(home)) if home else None
        if turn is not None and turn.state != "empty":
            age = None if turn.at is None else max(0.0, time.time() - turn.at)
            state = TURN_ACTIVITY[turn.state]
            source = "native:history" if turn.state != "waiting" else "native:waiting"
            # Aider's prompt line or spinner is the surer sign: a question answered
            # automatically (--yes-always) uses up the one notification of a turn. Its
            # idle prompt after a failed turn is no sign of anything: the failure stands
            if (
                reading is not None
                and reading.state != state
                and (reading.state == "working" or (age or 0.0) > FRESH)
                and not (state == "blocked" and reading.state == "ready")
            ):
                return Activity(reading.state, Evidence("screen", reading.detail))
            if state == "ready" and obs.screen is not None and reading is None:
                return Activity("starting", Evidence("screen", "Aider's prompt is not on screen"))
            return Activity(state, Evidence(source, turn.detail, age))
        if reading is not None:
            return Activity(reading.state, Evidence("screen", reading.detail))
        return Activity("starting", Evidence("runtime", "aider is running; no prompt seen yet"))

    # ------------------------------------------------------------------ details

    def dialog(self, screen_text: str) -> DialogAnswer | None:
        """Aider's own housekeeping questions (gitignore, analytics, docs URL, update)."""
        return screen.find_dialog(screen_text)

    def selftest_env(self, model_url: str, home: Path) -> dict[str, str]:
        """Point Aider at a local scripted model (``ao doctor --agents``).

        Writes ``~/.aider.conf.yml`` (model ``openai/fake-model``, no update check,
        analytics or release notes) and the model's metadata under the scratch ``home``;
        returns the env: that HOME, the OpenAI base URL ``model_url/v1`` and a key.
        """
        (home / ".aider.conf.yml").write_text(
            "model: openai/fake-model\ncheck-update: false\nanalytics-disable: true\n"
            "show-model-warnings: false\nshow-release-notes: false\n"
        )
        model = {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
                 "max_tokens": 8192, "max_input_tokens": 128000, "litellm_provider": "openai",
                 "mode": "chat"}  # fmt: skip
        prices = {"openai/fake-model": model}
        (home / ".aider.model.metadata.json").write_text(json.dumps(prices))
        return {
            "HOME": str(home),
            "OPENAI_API_BASE": f"{model_url}/v1",
            "OPENAI_API_KEY": "sk-fake",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }

    def auth(self) -> AuthState:
        """API keys Aider would use, from env and its config files only."""
        for var in API_KEYS:
            if os.environ.get(var):
                return AuthState("api-key", f"{var} is set")
        for path in (Path.home() / ".aider.conf.yml", Path.home() / ".env"):
            with contextlib.suppress(OSError):
                text = path.read_text(encoding="utf-8")
                if "api-key" in text or "api_key" in text or "_API_KEY=" in text:
                    return AuthState("api-key", f"an API key in {path}")
        return AuthState("none", "no API key; set OPENAI_API_KEY, ANTHROPIC_API_KEY, …")

    def session_info(self, session: Mapping[str, str]) -> SessionInfo:
        """First prompt, tokens (Aider rounds large counts to 0.1k) and Aider's own cost."""
        home = session.get("agent_home")
        if not home:
            return SessionInfo()
        used = native.usage(Path(home))
        return SessionInfo(
            summary=used.summary,
            input_tokens=used.input_tokens,
            output_tokens=used.output_tokens,
            cost_usd=used.cost_usd,
        )


def notify_command(history: Path, waiting: Path) -> str:
    """The shell command Aider runs when it waits: record the transcript's size."""
    size = f"wc -c < {shlex.quote(str(history))} 2>/dev/null || echo 0"
    return f"({size}) > {shlex.quote(str(waiting))}"


def hide_aider_files(worktree: Path) -> None:
    """Add ``.aider*`` to the repository's ``info/exclude`` (local, untracked) once."""
    exclude = native.git_exclude(worktree)
    if exclude is None:
        return
    try:
        current = exclude.read_text(encoding="utf-8")
    except OSError:
        current = ""
    if EXCLUDE_LINE in current.splitlines():
        return
    with contextlib.suppress(OSError):
        exclude.parent.mkdir(parents=True, exist_ok=True)
        prefix = "" if not current or current.endswith("\n") else "\n"
        with exclude.open("a", encoding="utf-8") as fh:
            fh.write(f"{prefix}# aider files (added by ao)\n{EXCLUDE_LINE}\n")

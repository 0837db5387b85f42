"""The ``cursor`` agent: Cursor's CLI (``cursor-agent``, also installed as ``agent``).

Launch: ``cursor-agent [--model M] [--force --sandbox disabled --approve-mcps] [<rules
+ task>]``. The CLI has no system-prompt flag, so the project's agent rules are put in
front of the first prompt (as the reference orchestrator does); a task too long for the
command line is pasted instead. Resume: ``--resume <chatId>`` with the newest chat of
the worktree under ``~/.cursor/chats/<md5 of the cwd>/<chatId>/meta.json``.

**Not verified against the real CLI**: it is not installable from the registries ao's
development machine can reach, so flags, files and screen strings follow the published
documentation and other orchestrators' notes (see docs/agents-more.md), and the tests
run against screens written from them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agent import AgentBase, ProbedVersion
from ao.sdk.agentkit import read_json
from ao.sdk.contracts import (
    Activity,
    AuthReporting,
    AuthState,
    DialogAnswer,
    DialogAnswering,
    Evidence,
    LaunchContext,
    LaunchSpec,
    Observation,
    Resumable,
    SessionInfo,
    SessionInfoReader,
)

from . import screen

# ao permission level -> Cursor CLI flags (it asks before commands unless forced;
# its own allow-list lives in ~/.cursor/cli-config.json)
PERMISSION_FLAGS = {
    "default": [],
    "accept-edits": [],
    "auto": [],
    "bypass": ["--force", "--sandbox", "disabled", "--approve-mcps"],
}
SETTLE = 0.5
ENV_PREFIXES = ("CURSOR_",)


class CursorAgent(
    AgentBase, ProbedVersion, Resumable, DialogAnswering, SessionInfoReader, AuthReporting
):
    """Adapter for Cursor's CLI (``cursor-agent``); screen rules from documentation only."""

    name = "cursor"
    default_command = ("cursor-agent",)
    default_settle = SETTLE
    process = "cursor-agent"
    env_prefixes = ENV_PREFIXES

    # ------------------------------------------------------------------ launch

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """A new chat; the rules and task ride on the command line when short enough."""
        return self._spec(ctx, [])

    def resume(self, ctx: LaunchContext, session: Mapping[str, str]) -> LaunchSpec | None:
        """``--resume <chatId>``: the recorded id, else the worktree's newest chat."""
        chat = session.get("native_session_id") or newest_chat(
            session.get("native_cwd") or str(ctx.worktree)
        )
        if not chat:
            return None
        return self._spec(ctx, ["--resume", chat], chat)

    def _spec(self, ctx: LaunchContext, extra: list[str], chat: str | None = None) -> LaunchSpec:
        prompt = ctx.task
        if prompt and ctx.rules and not extra:
            prompt = f"{ctx.rules.strip()}\n\n{prompt}"
        words, delivery = self.prompt_args(prompt, unsafe=("-",))
        flags = PERMISSION_FLAGS.get(self.level(ctx), [])
        argv = [*self.command, *extra, *self.model_args(ctx), *flags, *words]
        metadata = {"native_cwd": os.path.realpath(ctx.worktree)}
        if chat:
            metadata["native_session_id"] = chat
        env = self.passthrough()
        return LaunchSpec(argv=argv, env=env, prompt_delivery=delivery, metadata=metadata)

    # ------------------------------------------------------------------ activity

    def activity(self, obs: Observation) -> Activity:
        """Liveness, then the CLI's chrome; without a screen the state is unknown."""
        if (ended := self.ended(obs.pane)) is not None:
            return ended
        if obs.screen is None:
            return Activity(
                "unknown", Evidence("runtime", "cursor-agent is running; its state shows on screen")
            )
        reading = screen.read(obs.screen)
        if reading is None:
            return Activity("starting", Evidence("screen", "no Cursor chrome recognised yet"))
        return Activity(reading.state, Evidence("screen", reading.detail))

    # ------------------------------------------------------------------ details

    def dialog(self, screen_text: str) -> DialogAnswer | None:
        """The workspace-trust question (its "Trust this workspace" key)."""
        return screen.find_dialog(screen_text)

    def auth(self) -> AuthState:
        """``CURSOR_API_KEY``, or a login recorded in the CLI's config (files only)."""
        if os.environ.get("CURSOR_API_KEY"):
            return AuthState("api-key", "CURSOR_API_KEY is set")
        config = read_json(Path.home() / ".cursor" / "cli-config.json") or {}
        info = config.get("authInfo")
        if isinstance(info, dict) and (info.get("email") or info.get("userId")):
            return AuthState("subscription", f"logged in as {info.get('email') or 'a user'}")
        return AuthState("none", "not logged in; run `cursor-agent login` or set CURSOR_API_KEY")

    def session_info(self, session: Mapping[str, str]) -> SessionInfo:
        """The chat id (recorded, or the worktree's newest chat); the CLI keeps no usage."""
        chat = session.get("native_session_id") or newest_chat(
            session.get("native_cwd") or session.get("worktree") or ""
        )
        return SessionInfo(native_session_id=chat)


def chats_dir(cwd: str, home: Path | None = None) -> Path:
    """Where the CLI keeps a directory's chats: ``~/.cursor/chats/<md5 of the cwd>``."""
    digest = hashlib.md5(cwd.encode(), usedforsecurity=False).hexdigest()
    return (home or Path.home()) / ".cursor" / "chats" / digest


def newest_chat(cwd: str, home: Path | None = None) -> str | None:
    """The id of the most recently updated chat with a conversation in ``cwd``."""
    if not cwd:
        return None
    best: tuple[float, str] | None = None
    for variant in {cwd, os.path.realpath(cwd)}:
        try:
            entries = list(chats_dir(variant, home).iterdir())
        except OSError:
            continue
        for entry in entries:
            meta = read_json(entry / "meta.json")
            if meta is None or meta.get("hasConversation") is False:
                continue
            stamp = meta.get("updatedAtMs") or meta.get("createdAtMs") or 0
            stamp = float(stamp) if isinstance(stamp, int | float) else 0.0
            if best is None or stamp > best[0]:
                best = (stamp, entry.name)
    return best[1] if best else None

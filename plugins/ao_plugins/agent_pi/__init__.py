"""The ``pi`` agent: Pi (``@mariozechner/pi-coding-agent``), interactive, as the pane's process.

Launch: ``pi --session <state>/pi-session.jsonl [--model M] [--append-system-prompt
<state>/pi-rules.md] [--tools T] [<task>]``. The session file path is chosen by ao, so
the conversation's records are found without a search and ``ao restore`` reopens the
same file. Pi keeps its own login, models and settings in ``~/.pi/agent``; nothing is
written into the repo. Pi has no approval prompts: every permission level runs its tools
without asking (``agents.pi.tools`` restricts which tools exist). Activity comes from
the session file, then liveness, then Pi's chrome. See docs/agents-more.md.
"""

from __future__ import annotations

import json
import os
import time
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agent import AgentBase, ProbedVersion
from ao.sdk.agentkit import process_start, read_json, write_private
from ao.sdk.contracts import (
    Activity,
    ActivityState,
    AuthReporting,
    AuthState,
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

SETTLE = 0.3
ENV_PREFIXES = ("PI_",)
API_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_OAUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY",
            "OPENROUTER_API_KEY", "GROQ_API_KEY", "XAI_API_KEY", "MISTRAL_API_KEY",
            "DEEPSEEK_API_KEY", "AZURE_OPENAI_API_KEY", "AWS_BEARER_TOKEN_BEDROCK")  # fmt: skip
TURN_ACTIVITY: dict[str, ActivityState] = {
    "finished": "ready", "running": "working", "blocked": "blocked",
}  # fmt: skip


class PiAgent(
    AgentBase, ProbedVersion, Resumable, Interruptible, SessionInfoReader, AuthReporting,
    SelfTestable,
):  # fmt: skip
    """Adapter for Pi (``pi``), tested with 0.73.1. Pi shows no first-run dialogs."""

    name = "pi"
    default_command = ("pi",)
    default_settle = SETTLE
    process = "pi"
    env_prefixes = ENV_PREFIXES
    interrupt_keys = ("Escape",)  # Escape aborts the turn; the session stays

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        super().__init__(options)
        tools = self.options.get("tools")
        self.tools: str | None = ",".join(tools) if isinstance(tools, list) else tools

    # ------------------------------------------------------------------ launch

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """A new session file under the state dir; a short task is Pi's first message."""
        return self._spec(ctx)

    def resume(self, ctx: LaunchContext, session: Mapping[str, str]) -> LaunchSpec | None:
        """The same ``--session`` file again when it exists (Pi continues it); else None."""
        path = session.get("native_session_file")
        if not path or not Path(path).exists():
            return None
        return self._spec(ctx, Path(path))

    def _spec(self, ctx: LaunchContext, session_file: Path | None = None) -> LaunchSpec:
        state = ctx.state_dir
        if session_file is None:
            base = state if state is not None else Path(native.agent_dir()) / "ao-sessions"
            session_file = base / "pi-session.jsonl"
            if session_file.exists():  # a fresh launch in a reused state dir: new file
                session_file = base / f"pi-session-{time.strftime('%Y%m%dT%H%M%S')}.jsonl"
        argv = [*self.command, "--session", str(session_file), *self.model_args(ctx)]
        if self.tools:
            argv += ["--tools", self.tools]
        if ctx.rules and state is not None:
            rules = state / "pi-rules.md"
            write_private(rules, ctx.rules.strip() + "\n")
            argv += ["--append-system-prompt", str(rules)]
        # a leading "-" would be an option and "@" a file to attach: paste those
        words, delivery = self.prompt_args(ctx.task, unsafe=("-", "@"))
        argv += words
        env = self.passthrough()
        metadata = {
            "native_session_file": str(session_file),
            "agent_home": str(native.agent_dir()),
            "native_cwd": os.path.realpath(ctx.worktree),
        }
        return LaunchSpec(argv=argv, env=env, prompt_delivery=delivery, metadata=metadata)

    # ------------------------------------------------------------------ activity

    def activity(self, obs: Observation) -> Activity:
        """The session file first, then liveness, then Pi's chrome."""
        if (ended := self.ended(obs.pane)) is not None:
            error = screen.last_error(obs.screen, exited=True) if obs.screen else None
            if ended.evidence.source == "runtime" and error:
                return Activity("exited", Evidence("screen", f"pi exited: {error}"))
            return ended
        reading = screen.read(obs.screen) if obs.screen is not None else None
        if reading is not None and reading.state == "blocked":
            return Activity("blocked", Evidence("screen", reading.detail))
        path = obs.session.get("native_session_file")
        turn = native.turn_state(Path(path)) if path else None
        if turn is not None and turn.state != "empty":
            age = None if turn.at is None else max(0.0, time.time() - turn.at)
            state = TURN_ACTIVITY[turn.state]
            detail = turn.detail
            started = process_start(obs.pane.pid)
            # (the start time from /proc is early, never late)
            if state == "blocked" and turn.at and started and turn.at < started:
                # a failure of the process before a restore: this one has not tried yet
                state, detail = "ready", f"{detail} (before pi restarted)"
            if state != "working" and reading is not None and reading.state == "working":
                # a retry after a failed attempt, or a new turn the file has not got yet
                return Activity("working", Evidence("screen", reading.detail))
            if state == "ready" and obs.screen is not None and reading is None:
                # Pi's own screen is not drawn (starting up, or a selector is open)
                return Activity("starting", Evidence("screen", "Pi's editor is not on screen"))
            return Activity(state, Evidence("native:session", detail, age))
        if reading is not None and reading.state == "ready" and obs.screen is not None:
            # no reply yet, so an error line above the editor is Pi's own (no API key)
            error = screen.last_error(obs.screen)
            if error:
                return Activity("blocked", Evidence("screen", native.classify(error).detail))
        if reading is not None:
            return Activity(reading.state, Evidence("screen", reading.detail))
        return Activity("starting", Evidence("runtime", "pi is running; no session file yet"))

    # ------------------------------------------------------------------ details

    def selftest_env(self, model_url: str, home: Path) -> dict[str, str]:
        """Point Pi at a local scripted model (``ao doctor --agents``).

        Writes ``~/.pi/agent/models.json`` (a ``fake`` provider at ``model_url/v1``) and
        ``settings.json`` (it is the default) under the scratch ``home``; returns the env:
        that HOME and ``PI_OFFLINE`` (no tool downloads).
        """
        agent_dir = home / ".pi" / "agent"
        agent_dir.mkdir(parents=True, exist_ok=True)
        cost = {"input": 3, "output": 15, "cacheRead": 0, "cacheWrite": 0}
        models = {"providers": {"fake": {
            "baseUrl": f"{model_url}/v1", "api": "openai-completions", "apiKey": "sk-fake",
            "models": [{"id": "fake-model", "name": "Fake model", "cost": cost}]}}}  # fmt: skip
        (agent_dir / "models.json").write_text(json.dumps(models))
        settings = {"defaultProvider": "fake", "defaultModel": "fake-model"}
        (agent_dir / "settings.json").write_text(json.dumps(settings))
        return {"HOME": str(home), "PI_OFFLINE": "1"}

    def auth(self) -> AuthState:
        """Credentials Pi would use, from env, ``auth.json`` and ``models.json`` only."""
        home = native.agent_dir()
        stored = read_json(home / "auth.json") or {}
        kinds = {str(v.get("type")) for v in stored.values() if isinstance(v, dict)}
        if "oauth" in kinds:
            return AuthState("subscription", f"provider login in {home / 'auth.json'}")
        if stored:
            return AuthState("api-key", f"stored keys for {', '.join(sorted(stored))}")
        for var in API_KEYS:
            if os.environ.get(var):
                return AuthState("api-key", f"{var} is set")
        providers = (read_json(home / "models.json") or {}).get("providers")
        if isinstance(providers, dict) and any(
            isinstance(p, dict) and p.get("apiKey") for p in providers.values()
        ):
            return AuthState("api-key", f"a custom provider in {home / 'models.json'}")
        return AuthState("none", "no API key and no login; run `pi` and /login")

    def session_info(self, session: Mapping[str, str]) -> SessionInfo:
        """Id, first prompt, tokens and Pi's own cost from the session file."""
        path = session.get("native_session_file")
        if not path or not Path(path).exists():
            return SessionInfo()
        used = native.usage(Path(path))
        return SessionInfo(
            native_session_id=used.session_id,
            summary=used.summary,
            input_tokens=used.input_tokens,
            output_tokens=used.output_tokens,
            cost_usd=used.cost_usd,
        )

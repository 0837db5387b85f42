"""The ``claude-code`` agent: Anthropic's Claude Code CLI, interactive, as the pane's process.

Launch: ``claude --session-id <uuid> [--model M] [--permission-mode P] --settings <file>
[--append-system-prompt RULES]``; the task is pasted once the prompt box is ready.
Activity comes first from Claude's own records (``~/.claude/sessions/<pid>.json`` and
the session transcript), then from the pane's liveness, then from Claude's screen
chrome. See docs/agents.md for the strings and files this relies on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import typing as t
import uuid
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agent import AgentBase, ProbedVersion
from ao.sdk.agentkit import probe_output, process_start, read_json, write_json
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
    McpClient,
    McpServer,
    Observation,
    Resumable,
    SelfTestable,
    SessionInfo,
    SessionInfoReader,
)

from . import native, screen

# ao permission level -> Claude Code --permission-mode
PERMISSION_MODES = {
    "default": "manual",  # ask before edits and commands ("default" before 2.1.2xx)
    "accept-edits": "acceptEdits",
    "auto": "auto",
    "bypass": "bypassPermissions",
}
SETTLE = 0.5  # seconds between paste and Enter: Claude folds a large paste first
TURN_ACTIVITY: dict[str, ActivityState] = {
    "finished": "ready", "running": "working", "blocked": "blocked", "empty": "starting",
}  # fmt: skip
SETTLING = 3.0  # seconds after going idle in which the transcript may still lag
CLOUD_PROVIDERS = (
    ("CLAUDE_CODE_USE_BEDROCK", "Bedrock"),
    ("CLAUDE_CODE_USE_VERTEX", "Vertex AI"),
    ("CLAUDE_CODE_USE_FOUNDRY", "Foundry"),
)
ENV_PREFIXES = ("ANTHROPIC_", "CLAUDE_CODE_", "CLAUDE_CONFIG_DIR")


class ClaudeCodeAgent(
    AgentBase, ProbedVersion, Resumable, Interruptible, DialogAnswering, SessionInfoReader,
    AuthReporting, SelfTestable, McpClient,
):  # fmt: skip
    """Adapter for Claude Code (``claude``), tested with 2.1.330."""

    name = "claude-code"
    default_command = ("claude",)
    default_settle = SETTLE
    process = "claude"
    env_prefixes = ENV_PREFIXES
    interrupt_keys = ("Escape",)  # Escape stops the turn; the conversation stays

    # ------------------------------------------------------------------ launch

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """A fresh interactive session with an id chosen here, so ao can find its records."""
        session_id = str(uuid.uuid4())
        return self._spec(ctx, ["--session-id", session_id], session_id)

    def resume(self, ctx: LaunchContext, session: Mapping[str, str]) -> LaunchSpec | None:
        """``claude --resume <id>`` when the session's transcript exists; else None (fresh)."""
        session_id = session.get("native_session_id")
        home = Path(session.get("agent_home") or native.config_dir())
        cwd = session.get("native_cwd") or str(ctx.worktree)
        if not session_id or native.transcript_path(home, cwd, session_id) is None:
            return None
        return self._spec(ctx, ["--resume", session_id], session_id)

    def _spec(self, ctx: LaunchContext, identity: list[str], session_id: str) -> LaunchSpec:
        mode = PERMISSION_MODES.get(self.level(ctx), "manual")
        if mode == "manual" and not self._knows_manual():
            mode = "default"  # the asking mode's name before Claude Code 2.1.2xx
        argv = [*self.command, *identity, *self.model_args(ctx), "--permission-mode", mode]
        settings: dict[str, t.Any] = {"spinnerTipsEnabled": False}
        if mode == "bypassPermissions":
            settings["skipDangerousModePermissionPrompt"] = True
        if ctx.state_dir is not None:
            path = ctx.state_dir / "claude-settings.json"
            write_json(path, settings)
            argv += ["--settings", str(path)]
        if ctx.rules:
            argv += ["--append-system-prompt", ctx.rules]
        env = self.passthrough()
        env["CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY"] = "1"
        if mode == "bypassPermissions" and hasattr(os, "geteuid") and os.geteuid() == 0:
            env["IS_SANDBOX"] = "1"  # Claude refuses to bypass permissions as root otherwise
        home = native.config_dir({**os.environ, **env})
        metadata = {
            "native_session_id": session_id,
            "agent_home": str(home),
            "native_cwd": os.path.realpath(ctx.worktree),
        }
        return LaunchSpec(argv=argv, env=env, prompt_delivery="post-launch", metadata=metadata)

    def with_mcp(
        self, ctx: LaunchContext, spec: LaunchSpec, servers: t.Sequence[McpServer]
    ) -> LaunchSpec:
        """``--mcp-config FILE`` (in the session's state directory) naming ``servers``, and
        ``--allowedTools mcp__<name>`` so their tools run without a prompt each time."""
        if ctx.state_dir is None or not servers:
            return spec
        path = ctx.state_dir / "claude-mcp.json"
        write_json(path, {"mcpServers": {
            s.name: {"type": "stdio", "command": s.command[0], "args": list(s.command[1:]),
                     "env": dict(s.env)}
            for s in servers
        }})  # fmt: skip
        allowed = ",".join(f"mcp__{s.name}" for s in servers)
        argv = [*spec.argv, "--mcp-config", str(path), "--allowedTools", allowed]
        return dataclasses.replace(spec, argv=argv)

    def _knows_manual(self) -> bool:
        help_text = probe_output(self.binary, ("--help",))
        return help_text is None or '"manual"' in help_text or "default" not in help_text

    # ------------------------------------------------------------------ activity

    def activity(self, obs: Observation) -> Activity:
        """A dead pane is ``exited``; then native records; then Claude's screen chrome."""
        pane = obs.pane
        if (ended := self.ended(pane)) is not None:
            return ended
        meta = obs.session
        home = Path(meta.get("agent_home") or native.config_dir())
        record = native.live_record(home, pane.pid, meta.get("native_session_id"))
        reading = screen.read(obs.screen) if obs.screen is not None else None
        if record is not None:
            decided = self._from_record(home, record, meta, reading)
            if decided is not None:
                return decided
        transcript = native.transcript_path(
            home, meta.get("native_cwd") or meta.get("worktree"), meta.get("native_session_id")
        )
        turn = _current(native.turn_state(transcript), pane.pid) if transcript else None
        # the screen decides, except that an idle prompt after a failed turn is blocked
        if turn is not None and (
            reading is None
            or (reading.state == "ready" and turn.state == "blocked")
            or _history(reading, turn)
        ):
            said = Evidence("native:transcript", turn.detail, _age(turn.at))
            return Activity(TURN_ACTIVITY[turn.state], said)
        if reading is not None:
            return Activity(reading.state, Evidence("screen", reading.detail))
        return Activity("starting", Evidence("runtime", "claude is running; no session record yet"))

    def _from_record(
        self,
        home: Path,
        record: Mapping[str, t.Any],
        meta: Mapping[str, str],
        reading: screen.Reading | None,
    ) -> Activity | None:
        status = record.get("status")
        source = f"native:sessions/{record.get('pid')}.json"
        updated = record.get("statusUpdatedAt") or record.get("updatedAt")
        age = _age(updated / 1000) if isinstance(updated, int | float) else None
        if status == "waiting":
            detail = reading.detail if reading and reading.state == "needs_input" else ""
            return Activity(
                "needs_input", Evidence(source, detail or "Claude waits for an answer", age)
            )
        if status == "busy":
            if reading is not None and reading.state == "blocked":
                return Activity("blocked", Evidence("screen", reading.detail))
            detail = reading.detail if reading and reading.state == "working" else "model call"
            return Activity("working", Evidence(source, f"busy: {detail}", age))
        if status != "idle":
            return None
        if reading is not None and reading.state == "needs_input":
            return Activity("needs_input", Evidence("screen", reading.detail))
        transcript = native.transcript_path(
            home, str(record.get("cwd") or meta.get("native_cwd") or ""),
            str(record.get("sessionId") or meta.get("native_session_id") or ""),
        )  # fmt: skip
        turn = _current(native.turn_state(transcript), record.get("pid")) if transcript else None
        if turn is not None and turn.state == "blocked":
            return Activity("blocked", Evidence("native:transcript", turn.detail, _age(turn.at)))
        if reading is not None and reading.state == "blocked" and not _history(reading, turn):
            return Activity("blocked", Evidence("screen", reading.detail))
        if turn is not None and turn.state == "running" and age is not None and age < SETTLING:
            # idle a moment before the turn's end (a reply, an error) reaches the transcript
            detail = f"the turn's end is not recorded yet ({turn.detail})"
            return Activity("working", Evidence(source, detail, age))
        detail = "idle at the prompt" + (
            f"; {turn.detail}" if turn and turn.state != "empty" else ""
        )
        return Activity("ready", Evidence(source, detail, age))

    # ------------------------------------------------------------------ details

    def dialog(self, screen_text: str) -> DialogAnswer | None:
        """Trust folder, API key confirmation, bypass warning, theme, survey, update offer."""
        return screen.find_dialog(screen_text)

    def selftest_env(self, model_url: str, home: Path) -> dict[str, str]:
        """Point Claude Code at a local scripted model (``ao doctor --agents``).

        Seeds an onboarded ``~/.claude.json`` under the scratch ``home`` (a fresh one makes
        the CLI exit) and returns the env: that HOME, the Anthropic base URL and an API key
        (the CLI's key confirmation and trust dialogs are left for ao to answer).
        """
        doc = {"hasCompletedOnboarding": True, "projects": {}}
        (home / ".claude.json").write_text(json.dumps(doc))
        return {
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": model_url,
            "ANTHROPIC_API_KEY": "sk-ant-fake-00000000000000000000",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
        }

    def auth(self) -> AuthState:
        """How the CLI would log in, from env and local files only (no network, no CLI call)."""
        env = os.environ
        for var in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY"):
            if env.get(var):
                return AuthState("api-key", f"{var} is set")
        if env.get("CLAUDE_CODE_OAUTH_TOKEN"):
            return AuthState("subscription", "CLAUDE_CODE_OAUTH_TOKEN is set")
        for var, cloud in CLOUD_PROVIDERS:
            if env.get(var) not in (None, "", "0"):
                return AuthState("api-key", f"{cloud} credentials ({var})")
        home = native.config_dir()
        if _has_token(read_json(home / ".credentials.json")):
            return AuthState("subscription", f"logged in ({home / '.credentials.json'})")
        settings = read_json(home / "settings.json") or {}
        if settings.get("apiKeyHelper"):
            return AuthState("api-key", f"apiKeyHelper in {home / 'settings.json'}")
        return AuthState("none", "no API key and no login; run `claude` then /login")

    def session_info(self, session: Mapping[str, str]) -> SessionInfo:
        """Id, first prompt, tokens (prompt tokens include cache reads/writes) and cost."""
        session_id = session.get("native_session_id")
        home = Path(session.get("agent_home") or native.config_dir())
        path = native.transcript_path(
            home, session.get("native_cwd") or session.get("worktree"), session_id
        )
        if path is None:
            return SessionInfo(native_session_id=session_id)
        used = native.usage(path)
        return SessionInfo(
            native_session_id=session_id,
            summary=used.summary,
            input_tokens=used.input_tokens + used.cache_read + used.cache_write,
            output_tokens=used.output_tokens,
            cost_usd=used.cost_usd,
        )


def _has_token(data: object) -> bool:
    if isinstance(data, dict):
        return any(
            (k in ("accessToken", "access_token") and bool(v)) or _has_token(v)
            for k, v in data.items()
        )
    return False


def _history(reading: screen.Reading, turn: native.TurnState | None) -> bool:
    """Whether the screen read a transcript line the session's transcript already covers."""
    return reading.from_transcript and turn is not None and turn.state != "empty"


def _current(turn: native.TurnState, pid: object) -> native.TurnState:
    """``turn``, unless it is a failure from before the CLI (re)started: this process,
    started with the environment as it is now, has not tried yet."""
    started = process_start(pid if isinstance(pid, int) else None)
    if turn.state != "blocked" or turn.at is None or started is None:
        return turn
    if turn.at >= started:  # (the start time from /proc is early, never late)
        return turn
    return native.TurnState("finished", f"{turn.detail} (before claude restarted)", turn.at)


def _age(epoch: float | None) -> float | None:
    return None if epoch is None else max(0.0, time.time() - epoch)

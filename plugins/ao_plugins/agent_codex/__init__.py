"""The ``codex`` agent: OpenAI's Codex CLI (TUI), interactive, as the pane's process.

Each session gets its own ``CODEX_HOME`` under ao's private state dir: the user's
``config.toml`` is copied there with the worktree marked trusted, ``auth.json`` is
linked to the user's login, and the project's agent rules become that home's
``AGENTS.md``. Nothing is written into the repository. The TUI runs with
``--no-daemon`` so no background app server outlives the session.
Activity comes from the session's rollout JSONL first, then liveness, then the
TUI's chrome. See docs/agents.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import tomllib
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agent import AgentBase, ProbedVersion
from ao.sdk.agentkit import process_start, read_json, write_instructions, write_private
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

# ao permission level -> Codex flags (Codex 0.169 dropped the "untrusted" policy)
PERMISSION_FLAGS = {
    "default": ["--ask-for-approval", "on-request", "--sandbox", "workspace-write"],
    "accept-edits": ["--ask-for-approval", "on-request", "--sandbox", "workspace-write"],
    "auto": ["--ask-for-approval", "never", "--sandbox", "workspace-write"],
    "bypass": ["--dangerously-bypass-approvals-and-sandbox"],
}
SETTLE = 0.3
ENV_PREFIXES = ("OPENAI_", "CODEX_", "AZURE_OPENAI_")
SHARED = ("auth.json", "prompts", "rules", "skills")  # linked from the user's home
TURN_ACTIVITY: dict[str, ActivityState] = {
    "finished": "ready", "running": "working", "approval": "needs_input", "blocked": "blocked",
}  # fmt: skip


class CodexAgent(
    AgentBase, ProbedVersion, Resumable, Interruptible, DialogAnswering, SessionInfoReader,
    AuthReporting, SelfTestable, McpClient,
):  # fmt: skip
    """Adapter for Codex (``codex``), tested with 0.169.0."""

    name = "codex"
    default_command = ("codex",)
    default_settle = SETTLE
    process = "codex"
    env_prefixes = ENV_PREFIXES
    interrupt_keys = ("Escape",)  # Escape stops the turn; the conversation stays

    # ------------------------------------------------------------------ launch

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """A fresh TUI in a per-session CODEX_HOME; the task is pasted once it is ready."""
        return self._spec(ctx, [])

    def resume(self, ctx: LaunchContext, session: Mapping[str, str]) -> LaunchSpec | None:
        """``codex resume <id>`` in the session's own CODEX_HOME; None when nothing to resume."""
        home = session.get("agent_home")
        if not home:
            return None
        session_id = session.get("native_session_id")
        path = native.rollout(Path(home), session_id)
        if path is None:
            return None
        session_id = session_id or native.session_id_of(path)
        if not session_id:
            return None
        return self._spec(ctx, ["resume", session_id], session_id)

    def _spec(
        self, ctx: LaunchContext, tail: list[str], session_id: str | None = None
    ) -> LaunchSpec:
        flags = PERMISSION_FLAGS.get(self.level(ctx), PERMISSION_FLAGS["default"])
        argv = [*self.command, "--no-daemon", *flags, *self.model_args(ctx), *tail]
        env = self.passthrough()
        metadata: dict[str, str] = {}
        if ctx.state_dir is not None:
            home = ctx.state_dir / "codex-home"
            prepare_home(home, native.user_home(), ctx.worktree, ctx.rules)
            env["CODEX_HOME"] = str(home)
            metadata["agent_home"] = str(home)
        if session_id:
            metadata["native_session_id"] = session_id
        return LaunchSpec(argv=argv, env=env, prompt_delivery="post-launch", metadata=metadata)

    def with_mcp(
        self, ctx: LaunchContext, spec: LaunchSpec, servers: t.Sequence[McpServer]
    ) -> LaunchSpec:
        """``-c mcp_servers.<name>.…`` overrides (before a ``resume`` subcommand), values in
        TOML (a JSON string or array is one). Codex starts a server with only the variables
        it is given: ``env_vars`` passes the agent's own (the caller's, as Claude Code
        does), ``env`` adds the server's; its tools are approved up front."""
        flags: list[str] = []
        for server in servers:
            key = f"mcp_servers.{server.name}"
            env = ", ".join(f"{k} = {json.dumps(v)}" for k, v in server.env.items())
            names = sorted(n for n in os.environ if n.isidentifier() and n not in server.env)
            flags += ["-c", f"{key}.command={json.dumps(server.command[0])}",
                      "-c", f"{key}.args={json.dumps(list(server.command[1:]))}",
                      "-c", f"{key}.env={{{env}}}",
                      "-c", f"{key}.env_vars={json.dumps(names)}",
                      "-c", f'{key}.default_tools_approval_mode="approve"']  # fmt: skip
        at = len(self.command)
        return dataclasses.replace(spec, argv=[*spec.argv[:at], *flags, *spec.argv[at:]])

    # ------------------------------------------------------------------ activity

    def activity(self, obs: Observation) -> Activity:
        """A dead pane is ``exited``; then the rollout; then the TUI's chrome."""
        if (ended := self.ended(obs.pane)) is not None:
            return ended
        meta = obs.session
        reading = screen.read(obs.screen) if obs.screen is not None else None
        home = meta.get("agent_home")
        path = native.rollout(Path(home), meta.get("native_session_id")) if home else None
        turn = native.turn_state(path) if path is not None else None
        if turn is not None and turn.state != "empty":
            source = "native:rollout"
            age = None if turn.at is None else max(0.0, time.time() - turn.at)
            if reading is not None and reading.state == "needs_input" and turn.state != "approval":
                return Activity("needs_input", Evidence("screen", reading.detail))
            if turn.state == "running" and reading is not None and reading.state == "blocked":
                return Activity("blocked", Evidence("screen", reading.detail))
            if turn.state in ("blocked", "running") and _before(
                turn.at, process_start(obs.pane.pid)
            ):
                # the turn belongs to the process before a restore, which ended it: this
                # one, started with the environment as it is now, has not tried yet
                detail = f"{turn.detail} (before codex restarted)"
                if reading is None or reading.state == "ready":
                    return Activity("ready", Evidence(source, detail, age))
                return Activity(reading.state, Evidence("screen", reading.detail))
            return Activity(TURN_ACTIVITY[turn.state], Evidence(source, turn.detail, age))
        if reading is not None:
            return Activity(reading.state, Evidence("screen", reading.detail))
        return Activity("starting", Evidence("runtime", "codex is running; no rollout yet"))

    # ------------------------------------------------------------------ details

    def dialog(self, screen_text: str) -> DialogAnswer | None:
        """Folder trust, update offer, model migration."""
        return screen.find_dialog(screen_text)

    def selftest_env(self, model_url: str, home: Path) -> dict[str, str]:
        """Point Codex at a local scripted model (``ao doctor --agents``).

        Writes ``~/.codex/config.toml`` under the scratch ``home`` with a provider whose
        Responses API is ``model_url/v1`` (SSE, no WebSocket) and returns the env: that
        HOME and the provider's key variable.
        """
        codex_home = home / ".codex"
        codex_home.mkdir(parents=True, exist_ok=True)
        (codex_home / "config.toml").write_text(
            'model = "gpt-5"\n'
            'model_provider = "fake"\n\n'
            "[model_providers.fake]\n"
            'name = "fake"\n'
            f'base_url = "{model_url}/v1"\n'
            'wire_api = "responses"\n'
            'env_key = "FAKE_OPENAI_KEY"\n'
            "supports_websockets = false\n"
        )
        return {"HOME": str(home), "FAKE_OPENAI_KEY": "sk-fake"}

    def auth(self) -> AuthState:
        """How Codex would authenticate, from env and local files only."""
        home = native.user_home()
        stored = read_json(home / "auth.json") or {}
        tokens = stored.get("tokens")
        if isinstance(tokens, dict) and (tokens.get("access_token") or tokens.get("refresh_token")):
            return AuthState("subscription", f"ChatGPT login ({home / 'auth.json'})")
        if stored.get("OPENAI_API_KEY"):
            return AuthState("api-key", f"API key in {home / 'auth.json'}")
        for var in ("CODEX_API_KEY", "OPENAI_API_KEY"):
            if os.environ.get(var):
                return AuthState("api-key", f"{var} is set (ao stores it in the session's home)")
        provider = _provider(home)
        env_key = provider.get("env_key") if provider else None
        if provider is not None and (not env_key or os.environ.get(str(env_key))):
            detail = f"model provider {provider.get('name', '?')!r}"
            return AuthState("api-key", detail + (f" via ${env_key}" if env_key else ""))
        return AuthState("none", "not logged in; run `codex login`")

    def session_info(self, session: Mapping[str, str]) -> SessionInfo:
        """Id, first prompt, tokens and estimated cost from the session's rollout."""
        home = session.get("agent_home")
        path = native.rollout(Path(home), session.get("native_session_id")) if home else None
        if path is None:
            return SessionInfo(native_session_id=session.get("native_session_id"))
        used = native.usage(path)
        return SessionInfo(
            native_session_id=used.session_id or session.get("native_session_id"),
            summary=used.summary,
            input_tokens=used.input_tokens,
            output_tokens=used.output_tokens,
            cost_usd=used.cost_usd,
        )


def _before(at: float | None, started: float | None) -> bool:
    """Whether a record stamped ``at`` was written before the process started.

    ``started`` comes from /proc with a whole-second boot time: up to a second early,
    never late, so a record stamped before it surely predates the process.
    """
    return at is not None and started is not None and at < started


# ----------------------------------------------------------------------------- home


def prepare_home(home: Path, user: Path, worktree: Path, rules: str | None) -> None:
    """Fill a per-session CODEX_HOME from the user's, trusting ``worktree``.

    Idempotent: a restore rewrites config and instructions and keeps sessions.
    """
    home.mkdir(parents=True, exist_ok=True)
    try:
        config = (user / "config.toml").read_text(encoding="utf-8")
    except OSError:
        config = ""
    try:
        parsed = tomllib.loads(config)
    except tomllib.TOMLDecodeError:
        parsed, config = {}, ""  # a broken user config would stop codex; start clean
    base_url = os.environ.get("OPENAI_BASE_URL")
    if base_url and "openai_base_url" not in parsed:
        # Codex reads the base URL from config only; honour the variable the user set
        config = f"openai_base_url = {json.dumps(base_url)}\n" + config
    projects = parsed.get("projects") if isinstance(parsed.get("projects"), dict) else {}
    for path in {str(worktree), os.path.realpath(worktree)}:
        if path not in (projects or {}):
            config += f'\n[projects.{json.dumps(path)}]\ntrust_level = "trusted"\n'
    write_private(home / "config.toml", config)
    for name in SHARED:
        source, link = user / name, home / name
        if source.exists() and not link.exists() and not link.is_symlink():
            link.symlink_to(source)
    if not (home / "auth.json").exists():
        key = os.environ.get("CODEX_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if key:  # what `codex login --with-api-key` stores; the TUI ignores the env var
            write_private(
                home / "auth.json", json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": key})
            )
    write_instructions(home / "AGENTS.md", user / "AGENTS.md", rules)


def _provider(home: Path) -> dict[str, t.Any] | None:
    try:
        config = tomllib.loads((home / "config.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    name = config.get("model_provider")
    providers = config.get("model_providers") or {}
    if not name or name == "openai" or not isinstance(providers.get(name), dict):
        return None
    return t.cast("dict[str, t.Any]", providers[name])

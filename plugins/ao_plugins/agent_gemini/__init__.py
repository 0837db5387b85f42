"""The ``gemini`` agent: Google's Gemini CLI, interactive, as the pane's process.

Launch: ``gemini --session-id <uuid> --approval-mode M [--model M]
[--prompt-interactive=<task>]`` with ``GEMINI_CLI_HOME`` set to a per-session home under
ao's state dir. That home's ``.gemini`` links the user's login files, holds a copy of
the user's settings, trusts the worktree (``trustedFolders.json``) and carries the
project's agent rules in its global ``GEMINI.md``; nothing is written into the repo. MCP
servers ao gives it (an orchestrator's ``ao mcp``) go in that home's settings too.
Activity comes first from the session's chat log (``.gemini/tmp/*/chats/*.jsonl``),
then from the pane's liveness, then from the CLI's chrome at the bottom of the screen.
See docs/agents-more.md.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import typing as t
import uuid
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agent import AgentBase, ProbedVersion
from ao.sdk.agentkit import (
    link_shared,
    read_json,
    read_jsonc,
    write_instructions,
    write_json,
)
from ao.sdk.contracts import (
    Activity,
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

# ao permission level -> --approval-mode (Gemini has no sandbox-free mode between
# auto_edit and yolo, so "auto" auto-approves edits and still asks before commands)
APPROVAL_MODES = {
    "default": "default",
    "accept-edits": "auto_edit",
    "auto": "auto_edit",
    "bypass": "yolo",
}
# Enter within 30 ms of the CLI *processing* a paste becomes a newline, and a large
# paste takes a while to process: leave it time
SETTLE = 1.0
QUIET = 5.0  # seconds of unchanged screen after which a drawn prompt counts without a log
FRESH = 3.0  # seconds a just-submitted prompt counts as working before the screen shows it
ARGV_GRACE = 60.0  # seconds a task given on the command line may take to reach the chat log
ENV_PREFIXES = ("GEMINI_", "GOOGLE_", "CLOUD_SDK_")
# the user's .gemini entries a session home must not share (ao writes its own)
PRIVATE = {"settings.json", "trustedFolders.json", "GEMINI.md", "tmp", "history",
           "projects.json", "state.json"}  # fmt: skip


class GeminiAgent(
    AgentBase, ProbedVersion, Resumable, Interruptible, DialogAnswering, SessionInfoReader,
    AuthReporting, SelfTestable, McpClient,
):  # fmt: skip
    """Adapter for Gemini CLI (``gemini``), tested with 0.61.0."""

    name = "gemini"
    default_command = ("gemini",)
    default_settle = SETTLE
    process = "gemini"
    env_prefixes = ENV_PREFIXES
    interrupt_keys = ("Escape",)  # Escape cancels the request; the chat stays

    # ------------------------------------------------------------------ launch

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """A fresh session with an id chosen here; a short task rides on the command line."""
        session_id = str(uuid.uuid4())
        return self._spec(ctx, ["--session-id", session_id], session_id)

    def resume(self, ctx: LaunchContext, session: Mapping[str, str]) -> LaunchSpec | None:
        """``gemini --resume <id>`` when the session's chat log exists; else None (fresh)."""
        session_id = session.get("native_session_id")
        home = session.get("agent_home")
        if not session_id or not home or native.chat_path(Path(home), session_id) is None:
            return None
        return self._spec(ctx, ["--resume", session_id], session_id)

    def _spec(self, ctx: LaunchContext, identity: list[str], session_id: str) -> LaunchSpec:
        mode = APPROVAL_MODES.get(self.level(ctx), "default")
        words, delivery = self.prompt_args(ctx.task, flag="--prompt-interactive=")
        argv = [*self.command, *identity, "--approval-mode", mode, *self.model_args(ctx), *words]
        env = self.passthrough()
        env.setdefault("COLORTERM", os.environ.get("COLORTERM") or "truecolor")
        # Gemini CLI treats any CI environment (CI, CI_*, CONTINUOUS_INTEGRATION: the
        # is-in-ci rules) as non-interactive and exits 42 without a prompt; the pane is a
        # real terminal, and CI=0 is the one value those rules read as "not CI"
        env["CI"] = "0"
        metadata = {
            "native_session_id": session_id,
            "native_cwd": os.path.realpath(ctx.worktree),
            "launch_prompt": delivery,
        }
        if ctx.state_dir is not None:
            home = ctx.state_dir / "gemini-home"
            prepare_home(home, native.user_dir(), ctx.worktree, ctx.rules)
            env["GEMINI_CLI_HOME"] = str(home)
            metadata["agent_home"] = str(home)
        else:
            metadata["agent_home"] = str(native.user_dir().parent)
        return LaunchSpec(argv=argv, env=env, prompt_delivery=delivery, metadata=metadata)

    def with_mcp(
        self, ctx: LaunchContext, spec: LaunchSpec, servers: t.Sequence[McpServer]
    ) -> LaunchSpec:
        """``servers`` in the session home's ``settings.json`` (``mcpServers``), trusted.

        Gemini CLI names a server ``S``'s tool ``T`` ``mcp_S_T``; ``trust: true`` lets its
        tools run without a question (any approval mode but plan). It starts a stdio
        server with its own environment *redacted*: names that look secret (``*KEY*``,
        ``*TOKEN*``, ``*AUTH*``…), or all names under GitHub Actions, are dropped unless
        ``security.environmentVariableRedaction.allowed`` lists them, so the agent's own
        variable names are listed there (names only, as Codex's ``env_vars``), and ``env``
        adds the server's. Values that look like credentials themselves (``AIzaSy…``,
        ``ghp_…``, JWTs) are dropped whatever the list says. The spec is unchanged."""
        home = spec.env.get("GEMINI_CLI_HOME")
        if not home or not servers:
            return spec
        path = Path(home) / ".gemini" / "settings.json"
        settings = read_json(path) or {}
        entries = _section(settings, "mcpServers")
        for server in servers:
            entries[server.name] = {
                "command": server.command[0], "args": list(server.command[1:]),
                "env": dict(server.env), "trust": True,
            }  # fmt: skip
        # a user's allow-list of servers would leave these out; an exclusion would drop them
        mcp = _section(settings, "mcp")
        names = [s.name for s in servers]
        if isinstance(mcp.get("allowed"), list) and "*" not in mcp["allowed"]:
            mcp["allowed"] = [*mcp["allowed"], *(n for n in names if n not in mcp["allowed"])]
        if isinstance(mcp.get("excluded"), list):
            mcp["excluded"] = [n for n in mcp["excluded"] if n not in names]
        redaction = _section(_section(settings, "security"), "environmentVariableRedaction")
        passed = {*os.environ, *spec.env} - {k for s in servers for k in s.env}
        mine = redaction.get("allowed")
        listed = [str(n) for n in mine] if isinstance(mine, list) else []
        redaction["allowed"] = [*listed, *sorted(n for n in passed if n not in listed)]
        write_json(path, settings)
        return spec

    # ------------------------------------------------------------------ activity

    def activity(self, obs: Observation) -> Activity:
        """The chat log first, then liveness, then the CLI's chrome."""
        pane = obs.pane
        if (ended := self.ended(pane)) is not None:
            return ended
        meta = obs.session
        reading = screen.read(obs.screen) if obs.screen is not None else None
        if reading is not None and reading.state in ("needs_input", "blocked"):
            return Activity(reading.state, Evidence("screen", reading.detail))
        home = meta.get("agent_home")
        snap = native.snapshot(
            Path(home) if home else None, meta.get("native_session_id"), pane.pid
        )
        turn = snap.turn
        if turn is not None and turn.state != "empty":
            age = None if turn.at is None else max(0.0, time.time() - turn.at)
            source = "native:chat"
            if turn.state == "blocked":
                return Activity("blocked", Evidence(source, turn.detail, age))
            if turn.state == "running":
                if reading is not None and reading.state == "ready" and (age or 0.0) > FRESH:
                    # the log has an open turn, but the prompt is idle with no spinner:
                    # the turn was interrupted (Ctrl-C, a crash of the request)
                    detail = f"{reading.detail}; the chat log's last turn has no answer"
                    return Activity("ready", Evidence("screen", detail))
                return Activity("working", Evidence(source, turn.detail, age))
            if reading is not None and reading.state == "working":
                return Activity("working", Evidence("screen", reading.detail))
            if snap.loading:
                return Activity("starting", Evidence(source, "the CLI is loading the session"))
            return Activity("ready", Evidence(source, turn.detail, age))
        if self._argv_task_pending(meta, snap):
            return Activity("starting", Evidence("runtime", "the task given at launch is loading"))
        if reading is not None and reading.state == "ready":
            # the prompt is drawn before the CLI listens to its input (a paste sent then
            # is lost); it opens the chat log once it does
            quiet = pane.last_activity is not None and time.time() - pane.last_activity > QUIET
            if snap.loading or (snap.started is None and turn is None and not quiet):
                return Activity("starting", Evidence("screen", "prompt drawn; session loading"))
        if reading is not None:
            return Activity(reading.state, Evidence("screen", reading.detail))
        return Activity("starting", Evidence("runtime", "gemini is running; no chat log yet"))

    @staticmethod
    def _argv_task_pending(meta: Mapping[str, str], snap: native.Snapshot) -> bool:
        """A task passed with ``--prompt-interactive`` that the chat log has not recorded.

        The CLI opens its chat log (a bare header) and draws an idle prompt before it
        submits that task, so the screen alone would read as ready while the first
        turn is still on its way. Once the input history has the prompt, it was
        submitted (a turn cut off by Escape leaves the log empty again). Bounded, so a
        CLI that drops the task does not stay "starting" forever.
        """
        if meta.get("launch_prompt") != "argv" or snap.started is None or snap.prompted:
            return False
        if snap.turn is not None and snap.turn.state != "empty":
            return False
        return time.time() - snap.started < ARGV_GRACE

    # ------------------------------------------------------------------ details

    def dialog(self, screen_text: str) -> DialogAnswer | None:
        """Folder trust and the free-tier privacy notice (answered "No")."""
        return screen.find_dialog(screen_text)

    def selftest_env(self, model_url: str, home: Path) -> dict[str, str]:
        """Point Gemini CLI at a local scripted Gemini API (``ao doctor --agents``).

        Nothing to seed: with ``GEMINI_API_KEY`` set, the session's settings select the
        API-key auth type. Returns the scratch HOME, the base URL and a key.
        """
        return {
            "HOME": str(home),
            "GOOGLE_GEMINI_BASE_URL": model_url,
            "GEMINI_API_KEY": "fake-gemini-key",
        }

    def auth(self) -> AuthState:
        """How the CLI would authenticate, from env and local files only."""
        env = os.environ
        user = native.user_dir()
        for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
            if env.get(var):
                return AuthState("api-key", f"{var} is set")
        if env.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in ("1", "true"):
            return AuthState("api-key", "Vertex AI (GOOGLE_GENAI_USE_VERTEXAI)")
        with contextlib.suppress(OSError):
            dotenv = (user / ".env").read_text(encoding="utf-8")
            if re.search(r"^\s*(?:export\s+)?(?:GEMINI|GOOGLE)_API_KEY\s*=\s*\S", dotenv, re.M):
                return AuthState("api-key", f"API key in {user / '.env'}")
        if native.has_oauth(user):
            return AuthState("subscription", f"Google login ({user / 'oauth_creds.json'})")
        return AuthState("none", "no API key and no Google login; run `gemini` and pick /auth")

    def session_info(self, session: Mapping[str, str]) -> SessionInfo:
        """Id, first prompt, tokens and estimated cost from the session's chat log."""
        session_id = session.get("native_session_id")
        home = session.get("agent_home")
        path = native.chat_path(Path(home), session_id) if home else None
        if path is None:
            return SessionInfo(native_session_id=session_id)
        used = native.usage(path)
        return SessionInfo(
            native_session_id=session_id,
            summary=used.summary,
            input_tokens=used.input_tokens,
            output_tokens=used.output_tokens,
            cost_usd=used.cost_usd,
        )


# ----------------------------------------------------------------------------- home


def prepare_home(home: Path, user: Path, worktree: Path, rules: str | None) -> None:
    """Fill a per-session ``GEMINI_CLI_HOME`` from the user's ``.gemini``.

    Idempotent: a restore rewrites settings, trust and memory and keeps the chat logs.
    """
    gem = home / ".gemini"
    gem.mkdir(parents=True, exist_ok=True)
    link_shared(user, gem, PRIVATE)
    settings = read_jsonc(user / "settings.json")  # JSON with comments allowed
    auth = _section(_section(settings, "security"), "auth")
    if not auth.get("selectedType"):
        if os.environ.get("GEMINI_API_KEY"):
            auth["selectedType"] = "gemini-api-key"
        elif os.environ.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in ("1", "true"):
            auth["selectedType"] = "vertex-ai"
        elif native.has_oauth(user):
            auth["selectedType"] = "oauth-personal"
    _section(settings, "hooksConfig").setdefault("notifications", False)
    write_json(gem / "settings.json", settings)
    trusted = read_json(user / "trustedFolders.json") or {}
    for path in {str(worktree), os.path.realpath(worktree)}:
        trusted[path] = "TRUST_FOLDER"
    write_json(gem / "trustedFolders.json", trusted)
    write_instructions(gem / "GEMINI.md", user / "GEMINI.md", rules)


def _section(doc: dict[str, t.Any], key: str) -> dict[str, t.Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        value = doc[key] = {}
    return value

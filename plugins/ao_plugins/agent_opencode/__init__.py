"""The ``opencode`` agent: the OpenCode TUI, interactive, as the pane's process.

Launch: ``opencode [--model P/M] [--auto] [--prompt=<task>]`` (``--session <id>`` to
resume) with ``OPENCODE_CONFIG`` pointing at a per-session config file (permissions,
the project's agent rules as ``instructions``) and ``XDG_DATA_HOME`` at a per-session
data dir under ao's state dir (the user's ``auth.json`` and downloaded tools are linked
in), so the session's log and database are its own. Nothing is written into the repo.
Activity comes first from that log, then from the pane's liveness, then from the TUI's
chrome. See docs/agents-more.md.
"""

from __future__ import annotations

import json
import os
import time
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agent import AgentBase, ProbedVersion
from ao.sdk.agentkit import (
    link_shared,
    process_start,
    read_json,
    read_jsonc,
    write_json,
    write_private,
)
from ao.sdk.contracts import (
    Activity,
    ActivityState,
    AuthReporting,
    AuthState,
    Evidence,
    Interruptible,
    LaunchContext,
    LaunchSpec,
    MenuAnswering,
    Observation,
    Resumable,
    SelfTestable,
    SessionInfo,
    SessionInfoReader,
)
from ao.sdk.errors import UsageError

from . import native, screen

# answers to the permission prompt -> keys (the menu starts on "Allow once")
_ONCE, _ALWAYS, _REJECT = ("Enter",), ("Right", "Enter", "Enter"), ("Escape",)
ANSWERS = {"1": _ONCE, "y": _ONCE, "yes": _ONCE, "allow": _ONCE, "allow once": _ONCE,
           "2": _ALWAYS, "always": _ALWAYS, "allow always": _ALWAYS,
           "3": _REJECT, "n": _REJECT, "no": _REJECT, "reject": _REJECT}  # fmt: skip

# ao permission level -> OpenCode "permission" config ("auto": OpenCode's own defaults)
PERMISSIONS: dict[str, dict[str, str]] = {
    "default": {"edit": "ask", "bash": "ask", "webfetch": "ask"},
    "accept-edits": {"edit": "allow", "bash": "ask", "webfetch": "ask"},
    "auto": {},
    "bypass": {},  # plus --auto: approve everything not explicitly denied
}
SETTLE = 0.5
ENV_PREFIXES = ("OPENCODE_",)
ENV_NAMES = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")
# entries of the user's data dir each session keeps to itself
PRIVATE = {"opencode.db", "opencode.db-shm", "opencode.db-wal", "log", "snapshot", "storage",
           "repos"}  # fmt: skip
TURN_ACTIVITY: dict[str, ActivityState] = {
    "finished": "ready", "running": "working", "asking": "needs_input", "blocked": "blocked",
    "idle": "ready", "loading": "starting",
}  # fmt: skip


class OpenCodeAgent(
    AgentBase, ProbedVersion, Resumable, Interruptible, MenuAnswering, SessionInfoReader,
    AuthReporting, SelfTestable,
):  # fmt: skip
    """Adapter for OpenCode (``opencode``), tested with 1.18.33. Started this way, OpenCode
    shows no first-run dialogs."""

    name = "opencode"
    default_command = ("opencode",)
    default_settle = SETTLE
    process = "opencode"
    env_prefixes = ENV_PREFIXES
    env_names = ENV_NAMES
    # the first Escape arms "esc again to interrupt", the second stops the turn
    interrupt_keys = ("Escape", "Escape")

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        super().__init__(options)
        self.agent: str | None = self.options.get("agent")

    # ------------------------------------------------------------------ launch

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """A fresh TUI in its own data dir; a short task rides on ``--prompt``."""
        return self._spec(ctx, [])

    def resume(self, ctx: LaunchContext, session: Mapping[str, str]) -> LaunchSpec | None:
        """``opencode --session <id>`` with the id the session's log names; else None."""
        home = session.get("agent_home")
        if not home:
            return None
        path = native.log_path(Path(home))
        session_id = session.get("native_session_id")
        if path is not None and not session_id:
            session_id = native.turn_state(path).session_id
        if not session_id:
            return None
        return self._spec(ctx, ["--session", session_id], session_id)

    def _spec(
        self, ctx: LaunchContext, identity: list[str], session_id: str | None = None
    ) -> LaunchSpec:
        level = self.level(ctx)
        argv = [*self.command, *identity, *self.model_args(ctx)]
        if self.agent:
            argv += ["--agent", self.agent]
        if level == "bypass":
            argv.append("--auto")
        words, delivery = self.prompt_args(ctx.task, flag="--prompt=")
        argv += words
        env = self.passthrough()
        env.setdefault("OPENCODE_DISABLE_AUTOUPDATE", "1")
        metadata = {"native_cwd": os.path.realpath(ctx.worktree)}
        if session_id:
            metadata["native_session_id"] = session_id
        if ctx.state_dir is not None:
            data = ctx.state_dir / "opencode-data"
            prepare_data(data, native.data_dir())
            config = ctx.state_dir / "opencode.json"
            write_config(config, PERMISSIONS.get(level, PERMISSIONS["default"]), ctx)
            env["XDG_DATA_HOME"] = str(data)
            env["OPENCODE_CONFIG"] = str(config)
            metadata["agent_home"] = str(data)
        return LaunchSpec(argv=argv, env=env, prompt_delivery=delivery, metadata=metadata)

    # ------------------------------------------------------------------ activity

    def activity(self, obs: Observation) -> Activity:
        """The session's log first, then liveness, then the TUI's chrome."""
        pane = obs.pane
        if (ended := self.ended(pane)) is not None:
            return ended
        reading = screen.read(obs.screen) if obs.screen is not None else None
        if reading is not None and reading.state in ("needs_input", "blocked"):
            return Activity(reading.state, Evidence("screen", reading.detail))
        home = obs.session.get("agent_home")
        path = native.log_path(Path(home)) if home else None
        if path is None:
            if reading is not None:
                return Activity(reading.state, Evidence("screen", reading.detail))
            return Activity("starting", Evidence("runtime", "opencode is running; no log yet"))
        turn = native.turn_state(path, process_start(pane.pid))
        age = None if turn.at is None else max(0.0, time.time() - turn.at)
        source = "native:log"
        state = TURN_ACTIVITY[turn.state]
        if state == "needs_input" and reading is not None and reading.state == "working":
            # the log has no line for an answered prompt: the screen shows it is gone
            return Activity("working", Evidence("screen", f"{turn.detail} (answered)"))
        if state == "needs_input" and reading is not None and reading.state == "ready":
            # nor for a rejected one: the turn ends and the idle prompt is back
            return Activity("ready", Evidence("screen", f"{turn.detail} (answered); prompt idle"))
        if state == "ready" and reading is not None and reading.state == "working":
            return Activity("working", Evidence("screen", reading.detail))
        if turn.state == "idle" and reading is None and obs.screen is not None:
            return Activity("starting", Evidence("screen", "no prompt box on screen yet"))
        return Activity(state, Evidence(source, turn.detail, age))

    # ------------------------------------------------------------------ details

    def answer_keys(self, screen_text: str, text: str) -> tuple[str, ...] | None:
        """Keys that answer the permission prompt on screen as ``text`` says.

        The prompt (``Allow once   Allow always   Reject``, "Allow once" highlighted)
        ignores typed text, so anything typed and submitted would allow once: a text that
        names no option is refused instead. Escape rejects; "Allow always" asks to
        confirm, which Enter does.
        """
        reading = screen.read(screen_text)
        if reading is None or reading.state != "needs_input":
            return None
        answer = " ".join(text.lower().split())
        if answer in ANSWERS:
            return ANSWERS[answer]
        raise UsageError(
            f"OpenCode's permission prompt takes no text ({text.strip()[:40]!r})",
            hint="answer 1 or yes (allow once), 2 or always (allow always), 3 or no (reject)",
        )

    def selftest_env(self, model_url: str, home: Path) -> dict[str, str]:
        """Point OpenCode at a local scripted model (``ao doctor --agents``).

        Writes ``~/.config/opencode/opencode.json`` under the scratch ``home`` with a
        ``fake`` OpenAI-compatible provider at ``model_url/v1`` as the default model, and
        returns the env: that HOME and XDG_CONFIG_HOME, and no models.dev fetch.
        """
        config_home = home / ".config"
        (config_home / "opencode").mkdir(parents=True, exist_ok=True)
        provider = {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                    "options": {"baseURL": f"{model_url}/v1", "apiKey": "sk-fake"},
                    "models": {"fake-model": {"name": "Fake model"}}}  # fmt: skip
        config = {"$schema": "https://opencode.ai/config.json", "provider": {"fake": provider},
                  "model": "fake/fake-model", "autoupdate": False, "share": "disabled"}  # fmt: skip
        (config_home / "opencode" / "opencode.json").write_text(json.dumps(config, indent=2))
        return {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(config_home),
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
        }

    def auth(self) -> AuthState:
        """Credentials OpenCode would use, from env and its ``auth.json`` only."""
        stored = read_json(native.data_dir() / "auth.json") or {}
        kinds = {str(v.get("type")) for v in stored.values() if isinstance(v, dict)}
        if "oauth" in kinds:
            return AuthState("subscription", f"provider login in {native.data_dir() / 'auth.json'}")
        if stored:
            names = ", ".join(sorted(stored))
            return AuthState("api-key", f"stored credentials for {names}")
        for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY",
                    "GROQ_API_KEY", "OPENCODE_API_KEY"):  # fmt: skip
            if os.environ.get(var):
                return AuthState("api-key", f"{var} is set")
        config = _user_config()
        providers = config.get("provider")
        if isinstance(providers, dict) and any(
            isinstance(p, dict) and (p.get("options") or {}).get("apiKey")
            for p in providers.values()
        ):
            return AuthState("api-key", "an API key in the OpenCode config")
        return AuthState("none", "no provider credentials; run `opencode auth login`")

    def session_info(self, session: Mapping[str, str]) -> SessionInfo:
        """Id, title, tokens and cost from ``opencode export`` (runs the CLI)."""
        home = session.get("agent_home")
        session_id = session.get("native_session_id")
        if not session_id and home:
            path = native.log_path(Path(home))
            session_id = native.turn_state(path).session_id if path is not None else None
        if not session_id:
            return SessionInfo()
        data = native.export(
            self.binary, session_id, Path(home) if home else None, session.get("worktree")
        )
        info = _dict(data.get("info"))
        tokens = _dict(info.get("tokens"))
        cache = _dict(tokens.get("cache"))
        summary = info.get("title") or _first_prompt(data)
        cost = info.get("cost")
        return SessionInfo(
            native_session_id=session_id,
            summary=str(summary)[:120] if summary else None,
            input_tokens=_int(tokens.get("input")) + _int(cache.get("read")) if tokens else None,
            output_tokens=_int(tokens.get("output")) + _int(tokens.get("reasoning"))
            if tokens
            else None,
            cost_usd=float(cost) if isinstance(cost, int | float) else None,
        )


def _dict(value: object) -> dict[str, t.Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[t.Any]:
    return value if isinstance(value, list) else []


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _first_prompt(data: Mapping[str, t.Any]) -> str | None:
    for message in data.get("messages") or []:
        info = message.get("info") or {}
        if info.get("role") != "user":
            continue
        for part in message.get("parts") or []:
            if part.get("type") == "text" and str(part.get("text") or "").strip():
                return str(part["text"]).strip().splitlines()[0]
    return None


# ----------------------------------------------------------------------------- files


def _user_config() -> dict[str, t.Any]:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "opencode"
    for name in ("opencode.jsonc", "opencode.json", "config.json"):
        if (base / name).exists():
            return read_jsonc(base / name)
    return {}


def write_config(path: Path, permission: Mapping[str, str], ctx: LaunchContext) -> None:
    """The per-session config: the user's ``$OPENCODE_CONFIG`` (if any) plus ao's keys."""
    config: dict[str, t.Any] = {}
    custom = os.environ.get("OPENCODE_CONFIG")
    if custom and Path(custom).resolve() != path.resolve():
        config = read_jsonc(Path(custom))
    config.setdefault("$schema", "https://opencode.ai/config.json")
    if permission:
        config["permission"] = {**_dict(config.get("permission")), **permission}
    rules_file = path.with_name("opencode-rules.md")
    if ctx.rules:
        write_private(rules_file, ctx.rules.strip() + "\n")
        config["instructions"] = [*_list(config.get("instructions")), str(rules_file)]
    elif rules_file.exists():
        rules_file.unlink()
    write_json(path, config)


def prepare_data(data: Path, user: Path) -> None:
    """A per-session ``XDG_DATA_HOME`` whose ``opencode`` dir links the user's shared files."""
    target = data / "opencode"
    target.mkdir(parents=True, exist_ok=True)
    link_shared(user, target, PRIVATE)

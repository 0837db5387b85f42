"""The ``kimicode`` agent: MoonshotAI's Kimi Code CLI (``kimi``), interactive, in the pane.

Launch: ``kimi --session <uuid> [--model M] [--yolo] [--agent-file <state>/kimi-agent.yaml]``
with ``KIMI_SHARE_DIR=<state>/kimi-home``: a share dir of the session's own (its session
files, log and work-dir list), where the user's config, logins, MCP config, plugins and
skills (``~/.kimi`` or ``$KIMI_SHARE_DIR``) are linked, never copied. The session id is
chosen by ao and the session's state is written before Kimi starts (approvals ao's
permission level allows), so ``ao restore`` resumes the same conversation with
``--session`` and its records are found without a search. The project's agent rules
become the system prompt's role text through an agent file that extends Kimi's default
agent. Nothing is written into the repository. Activity comes from the session's
``wire.jsonl`` (and the reason of a failed turn from Kimi's log), then the pane's
liveness, then Kimi's chrome. See docs/agents-more.md.
"""

from __future__ import annotations

import dataclasses
import os
import time
import typing as t
import uuid
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agent import AgentBase, ProbedVersion
from ao.sdk.agentkit import link_shared, process_start, write_json
from ao.sdk.contracts import (
    Activity,
    ActivityState,
    AuthReporting,
    AuthState,
    Evidence,
    Interruptible,
    LaunchContext,
    LaunchSpec,
    McpClient,
    McpServer,
    MenuAnswering,
    Observation,
    Resumable,
    SelfTestable,
    SessionInfo,
    SessionInfoReader,
)
from ao.sdk.home import private_dir

from . import mcp, native, screen

SETTLE = 0.5  # Kimi folds a large paste into "[Pasted text #1 +400 lines]" first
ENV_PREFIXES = ("KIMI_",)
# actions approved for the whole session, per ao permission level ("bypass": --yolo).
# Kimi has no sandbox, so "auto" stops where "accept-edits" does: commands still ask.
APPROVED: dict[str, tuple[str, ...]] = {
    "default": (),
    "accept-edits": ("edit file",),
    "auto": ("edit file",),
    "bypass": (),
}
TURN_ACTIVITY: dict[str, ActivityState] = {
    "finished": "ready", "running": "working", "asking": "needs_input", "blocked": "blocked",
}  # fmt: skip
# seconds after a turn ended in which Kimi is still putting its idle input back: a paste
# sent then is lost (measured: up to ~0.1 s after the wire log's TurnEnd)
SETTLING = 0.5


class KimiCodeAgent(
    AgentBase, ProbedVersion, Resumable, Interruptible, MenuAnswering, SessionInfoReader,
    AuthReporting, McpClient, SelfTestable,
):  # fmt: skip
    """Adapter for Kimi Code CLI (``kimi``, PyPI ``kimi-cli``), tested with 1.51.0. With
    auto-update off (ao sets ``KIMI_CLI_NO_AUTO_UPDATE=1``) it shows no start-up dialogs."""

    name = "kimicode"
    default_command = ("kimi",)
    default_settle = SETTLE
    process = "kimi"
    env_prefixes = ENV_PREFIXES
    interrupt_keys = ("Escape",)  # Escape ends the turn ("Interrupted by user")
    settling: t.ClassVar[float] = SETTLING

    # ------------------------------------------------------------------ launch

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """A new session whose id ao chooses; the task is pasted once the input is up
        (``--prompt`` would make Kimi run that one prompt and exit)."""
        return self._spec(ctx, str(uuid.uuid4()))

    def resume(self, ctx: LaunchContext, session: Mapping[str, str]) -> LaunchSpec | None:
        """``kimi --session <id>`` when the session's conversation exists; else None."""
        session_id = session.get("native_session_id")
        home = session.get("agent_home")
        if not session_id or not home or native.session_dir(Path(home), session_id) is None:
            return None
        return self._spec(ctx, session_id)

    def _spec(self, ctx: LaunchContext, session_id: str) -> LaunchSpec:
        level = self.level(ctx)
        argv = [*self.command, "--session", session_id, *self.model_args(ctx)]
        if level == "bypass":
            argv.append("--yolo")
        env = self.passthrough()
        env.setdefault("KIMI_CLI_NO_AUTO_UPDATE", "1")  # no update gate, no installer
        cwd = os.path.realpath(ctx.worktree)
        metadata = {"native_session_id": session_id, "native_cwd": cwd}
        if ctx.state_dir is None:
            metadata["agent_home"] = str(native.share_dir())
            return LaunchSpec(argv=argv, env=env, prompt_delivery="post-launch", metadata=metadata)
        home = ctx.state_dir / "kimi-home"
        prepare_home(home, native.share_dir())
        native.seed_session(
            home, cwd, session_id, actions=APPROVED.get(level, ()),
            yolo=level == "bypass", config=home / "config.toml",
        )  # fmt: skip
        env["KIMI_SHARE_DIR"] = str(home)
        metadata["agent_home"] = str(home)
        if ctx.rules and not any(a in ("--agent", "--agent-file") for a in self.command):
            agent_file = ctx.state_dir / "kimi-agent.yaml"
            write_agent_file(agent_file, ctx.rules)
            argv += ["--agent-file", str(agent_file)]
        return LaunchSpec(argv=argv, env=env, prompt_delivery="post-launch", metadata=metadata)

    def with_mcp(
        self, ctx: LaunchContext, spec: LaunchSpec, servers: t.Sequence[McpServer]
    ) -> LaunchSpec:
        """``--mcp-config-file <state>/kimi-mcp.json`` naming ``servers``, each started with
        the agent's environment (``mcp.write_config``), and their tools approved for the
        session (listed from each server once, now), so they run without a question. The
        user's own ``mcp.json``, which Kimi reads only when no config file is given, is
        given too."""
        if ctx.state_dir is None or not servers:
            return spec
        env = {**os.environ, **spec.env}
        actions = tuple(f"mcp:{name}" for s in servers for name in mcp.tool_names(s, env))
        session_id = spec.metadata.get("native_session_id")
        home = spec.metadata.get("agent_home")
        if actions and session_id and home:
            native.seed_session(
                Path(home), spec.metadata.get("native_cwd") or os.path.realpath(ctx.worktree),
                session_id, actions=actions, yolo="--yolo" in spec.argv,
            )  # fmt: skip
        path = ctx.state_dir / "kimi-mcp.json"
        mcp.write_config(path, servers, env, ctx.state_dir)
        argv = [*spec.argv]
        user = Path(home) / "mcp.json" if home else None
        if user is not None and user.is_file():  # Kimi reads it only without a config file
            argv += ["--mcp-config-file", str(user)]
        return dataclasses.replace(spec, argv=[*argv, "--mcp-config-file", str(path)])

    # ------------------------------------------------------------------ activity

    def activity(self, obs: Observation) -> Activity:
        """A dead pane is ``exited``; a panel on screen is ``needs_input``; then the wire
        log; then Kimi's chrome."""
        if (ended := self.ended(obs.pane)) is not None:
            return ended
        reading = screen.read(obs.screen) if obs.screen is not None else None
        if reading is not None and reading.state in ("needs_input", "blocked"):
            # permission requests are on screen only; a missing model shows before any turn
            return Activity(reading.state, Evidence("screen", reading.detail))
        home = obs.session.get("agent_home")
        session_id = obs.session.get("native_session_id")
        wire = native.wire_path(Path(home), session_id) if home else None
        turn = native.turn_state(wire, native.log_path(Path(home))) if wire and home else None
        if turn is None or turn.state == "empty":
            if reading is not None:
                return Activity(reading.state, Evidence("screen", reading.detail))
            return Activity("starting", Evidence("runtime", "kimi is running; no turn yet"))
        age = None if turn.at is None else max(0.0, time.time() - turn.at)
        state, detail = TURN_ACTIVITY[turn.state], turn.detail
        started = process_start(obs.pane.pid)  # from /proc: early, never late
        if state != "ready" and turn.at is not None and started is not None and turn.at < started:
            # a turn of the process before a restore, which ended it: this one has not tried
            if reading is not None and reading.state != "ready":
                return Activity(reading.state, Evidence("screen", reading.detail))
            state, detail = "ready", f"{detail} (before kimi restarted)"
        if state == "ready" and age is not None and age < self.settling:
            detail = f"{detail}; the input is coming back"
            return Activity("working", Evidence("native:wire", detail, age))
        if state == "ready" and reading is not None and reading.state == "working":
            return Activity("working", Evidence("screen", reading.detail))
        if state == "ready" and obs.screen is not None and reading is None:
            return Activity("starting", Evidence("screen", "Kimi's input is not on screen"))
        return Activity(state, Evidence("native:wire", detail, age))

    # ------------------------------------------------------------------ details

    def answer_keys(self, screen_text: str, text: str) -> tuple[str, ...] | None:
        """The digit that answers Kimi's approval or question panel (``screen.answer_keys``)."""
        return screen.answer_keys(screen_text, text)

    def selftest_env(self, model_url: str, home: Path) -> dict[str, str]:
        """Point Kimi at a local scripted model (``ao doctor --agents``): a share dir
        ``home/.kimi`` whose ``config.toml`` has an OpenAI-compatible provider at
        ``model_url/v1`` as its default model; returns the env (that HOME)."""
        share = home / ".kimi"
        share.mkdir(parents=True, exist_ok=True)
        (share / "config.toml").write_text(
            'default_model = "selftest"\ntelemetry = false\n\n'
            '[models.selftest]\nprovider = "selftest"\nmodel = "fake-model"\n'
            "max_context_size = 100000\n\n"
            '[providers.selftest]\ntype = "openai_legacy"\n'
            f'base_url = "{model_url}/v1"\napi_key = "sk-selftest"\n',
            encoding="utf-8",
        )
        return {"HOME": str(home)}

    def auth(self) -> AuthState:
        """How Kimi would authenticate, from env and its share dir only."""
        home = native.share_dir()
        if os.environ.get("KIMI_API_KEY"):
            return AuthState("api-key", "KIMI_API_KEY is set")
        config = native.read_config(home)
        found = config.get("providers")
        providers: dict[str, t.Any] = found if isinstance(found, dict) else {}
        if any(isinstance(p, dict) and p.get("oauth") for p in providers.values()):
            return AuthState("subscription", f"Kimi login ({home / 'config.toml'})")
        for name, provider in providers.items():
            if not isinstance(provider, dict):
                continue
            if provider.get("api_key"):
                return AuthState("api-key", f"provider {name!r} in {home / 'config.toml'}")
            if provider.get("type") in ("openai_legacy", "openai_responses") and os.environ.get(
                "OPENAI_API_KEY"
            ):
                return AuthState("api-key", f"provider {name!r} via $OPENAI_API_KEY")
        return AuthState("none", "no model configured; run `kimi login` or add a provider")

    def session_info(self, session: Mapping[str, str]) -> SessionInfo:
        """Id, first prompt and tokens from the session's wire log (Kimi reports no cost)."""
        session_id = session.get("native_session_id")
        home = session.get("agent_home")
        wire = native.wire_path(Path(home), session_id) if home else None
        if wire is None:
            return SessionInfo(native_session_id=session_id)
        used = native.usage(wire)
        return SessionInfo(
            native_session_id=session_id,
            summary=used.summary,
            input_tokens=used.input_tokens,
            output_tokens=used.output_tokens,
        )


# ----------------------------------------------------------------------------- files


def prepare_home(home: Path, user: Path) -> None:
    """A session's share dir that links each entry of the user's (config, logins, MCP
    config, plugins, skills…) except the files a session keeps to itself."""
    private_dir(home)
    if user.resolve() != home.resolve():
        link_shared(user, home, native.PRIVATE)


def write_agent_file(path: Path, rules: str) -> None:
    """An agent spec (JSON is YAML) that extends Kimi's default agent with the project's
    rules as the system prompt's role text."""
    role = {"ROLE_ADDITIONAL": rules.strip()}
    spec = {"version": 1, "agent": {"extend": "default", "system_prompt_args": role}}
    write_json(path, spec)

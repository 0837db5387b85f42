"""Kimi Code CLI without the CLI: recorded screens, wire logs and Kimi's log, the launch
and the session's state, the MCP config and its launcher (``test_kimi.py`` drives the
real ``kimi``). The screens are recordings of kimi-cli 1.51.0 (tests/agents/screens_more).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ao_plugins.agent_kimi import KimiCodeAgent, mcp, native, screen

from ao.sdk.contracts import LaunchContext, McpServer, Observation, PaneState
from ao.sdk.errors import UsageError

from .conftest import agent_bin

SCREENS = Path(__file__).parent / "screens_more"
ECHO_SERVER = Path(__file__).with_name("mcp_echo_server.py")
NO_PID = 4_194_304  # PID_MAX_LIMIT: no process has it, so no start time


def load(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- screens


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("kimi-idle", "ready", "the input is idle"),
        ("kimi-idle-yolo", "ready", "the input is idle"),
        ("kimi-done", "ready", "the input is idle"),
        ("kimi-done-after-tool", "ready", "the input is idle"),
        ("kimi-resumed", "ready", "the input is idle"),
        ("kimi-busy", "working", "busy: the model is thinking"),
        ("kimi-tool-running", "working", "busy: Using Shell (sleep 6; echo done > slept.txt)"),
        ("kimi-retrying", "working", "busy: Retrying after server error · attempt 3/3"),
        ("kimi-approval", "needs_input",
         "approval: Shell is requesting approval to run command: echo hi > x.txt"),
        ("kimi-approval-write", "needs_input",
         "approval: WriteFile is requesting approval to edit file: +1 /tmp/kx/wt/hello.txt"),
        ("kimi-approval-mcp", "needs_input",
         "approval: echo is requesting approval to mcp:echo: Call MCP tool `echo`."),
        ("kimi-question", "needs_input", "question: Which colour?"),
        ("kimi-no-model", "blocked", "no model is configured"),
        # failures are printed above an idle input: the wire log and Kimi's log tell (below)
        ("kimi-auth", "ready", "the input is idle"),
        ("kimi-quota", "ready", "the input is idle"),
        ("kimi-server-error", "ready", "the input is idle"),
        ("kimi-connection-error", "ready", "the input is idle"),
        ("kimi-interrupted", "ready", "the input is idle"),
        ("kimi-rejected", "ready", "the input is idle"),
    ],
)  # fmt: skip
def test_screen(name: str, state: str, detail: str) -> None:
    reading = screen.read(load(name))
    assert reading is not None
    assert (reading.state, reading.detail.startswith(detail)) == (state, True), reading


def test_start_up_is_not_chrome() -> None:
    assert screen.read(load("kimi-startup")) is None  # "⠹ Loading configuration..."
    assert screen.read("") is None


def test_model_text_is_not_chrome() -> None:
    """What the model writes in the transcript (a panel, a spinner) is not Kimi's own."""
    text = load("kimi-done").replace(
        "• Done after a while.",
        "• ╭─ approval ───╮\n  → [1] Approve once\n  ⠋ Using Shell (rm -rf /)\n  Model: not set, "
        "send /login to login",
    )
    assert screen.read(text) == screen.Reading("ready", "the input is idle")
    assert screen.find_panel(text) is None


@pytest.mark.parametrize(
    ("text", "keys"),
    [("1", ("1",)), ("y", ("1",)), ("Yes", ("1",)), ("approve", ("1",)), ("2", ("2",)),
     ("always", ("2",)), ("3", ("3",)), ("no", ("3",)), (" N ", ("3",)), ("reject", ("3",))],
)  # fmt: skip
def test_approval_answers(text: str, keys: tuple[str, ...]) -> None:
    assert KimiCodeAgent().answer_keys(load("kimi-approval"), text) == keys


def test_question_answers_and_refusals() -> None:
    agent = KimiCodeAgent()
    question = load("kimi-question")
    assert agent.answer_keys(question, "2") == ("2",)
    assert agent.answer_keys(question, "blue") == ("2",)
    assert agent.answer_keys(question, "Other") == ("3",)
    with pytest.raises(UsageError, match="Kimi's question takes one of its options"):
        agent.answer_keys(question, "green")
    with pytest.raises(UsageError, match="approval panel takes no text"):
        agent.answer_keys(load("kimi-approval"), "yes please, and also fix the tests")
    with pytest.raises(UsageError):
        agent.answer_keys(load("kimi-approval"), "4")  # wants feedback text ao cannot type
    assert agent.answer_keys(load("kimi-idle"), "yes") is None  # no panel: ordinary text


# ----------------------------------------------------------------------------- wire log


def _wire(path: Path, kind: str, at: float | None = None, **payload: object) -> None:
    """Append a wire record, written ``at`` (default: 5 s ago, a turn long settled)."""
    record = {"timestamp": time.time() - 5 if at is None else at,
              "message": {"type": kind, "payload": payload}}  # fmt: skip
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _log(path: Path, level: str, message: str, at: float | None = None) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() if at is None else at))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"{stamp}.123 | {level:<8} | kimi_cli.soul.kimisoul:_agent_loop:1049 | "
                 f"sid - {message}\n")  # fmt: skip


def _session(tmp_path: Path, session_id: str = "sid-1") -> tuple[Path, Path, dict[str, str]]:
    home = tmp_path / "kimi-home"
    directory = home / "sessions" / "0123abcd" / session_id
    directory.mkdir(parents=True)
    (directory / "context.jsonl").write_text("")
    wire = directory / "wire.jsonl"
    wire.write_text(json.dumps({"type": "metadata", "protocol_version": "1.10"}) + "\n")
    return home, wire, {"agent_home": str(home), "native_session_id": session_id}


def test_wire_turns_and_usage(tmp_path: Path) -> None:
    home, wire, meta = _session(tmp_path)
    log = native.log_path(home)
    assert native.wire_path(home, "sid-1") == wire
    assert native.turn_state(wire, log).state == "empty"
    _wire(wire, "TurnBegin", user_input=[{"type": "text", "text": "do it\nplease"}])
    assert native.turn_state(wire, log).detail == "a prompt was submitted"
    _wire(wire, "StepBegin", n=1)
    _wire(wire, "ToolCall", id="c1", function={"name": "Shell", "arguments": "{}"})
    used = {"input_other": 100, "output": 10, "input_cache_read": 20, "input_cache_creation": 0}
    _wire(wire, "StatusUpdate", token_usage=used, message_id="m1")
    assert native.turn_state(wire, log).detail == "a tool is running: Shell"
    _wire(wire, "ToolResult", tool_call_id="c1", return_value={"is_error": False})
    _wire(wire, "StepBegin", n=2)
    _wire(wire, "ToolCall", id="c2", function={"name": "AskUserQuestion", "arguments": "{}"})
    _wire(wire, "QuestionRequest", id="q", tool_call_id="c2",
          questions=[{"question": "Which colour?", "options": []}])  # fmt: skip
    assert native.turn_state(wire, log) == native.TurnState(
        "asking", "question: Which colour?", native.turn_state(wire, log).at
    )
    _wire(wire, "ToolResult", tool_call_id="c2", return_value={"is_error": False})
    _wire(wire, "StepBegin", n=3)
    _wire(wire, "StepRetry", n=3, next_attempt=2, max_attempts=3, wait_s=1.0,
          error_type="APIStatusError", status_code=500)  # fmt: skip
    assert native.turn_state(wire, log).detail == "retrying after 500 (attempt 2/3)"
    _wire(wire, "ContentPart", type="text", text="Done.")
    _wire(wire, "StatusUpdate", token_usage=used, message_id="m2")
    _wire(wire, "StatusUpdate", token_usage=used, message_id="m2")  # the same call again
    _wire(wire, "TurnEnd")
    assert native.turn_state(wire, log).state == "finished"
    total = native.usage(wire)
    assert (total.summary, total.input_tokens, total.output_tokens, total.turns) == (
        "do it", 240, 20, 1,
    )  # fmt: skip
    info = KimiCodeAgent().session_info(meta)
    assert (info.native_session_id, info.input_tokens, info.cost_usd) == ("sid-1", 240, None)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("APIStatusError: Error code: 401 - {'error': {'message': 'Incorrect API key provided: "
         "sk-fake.', 'type': 'invalid_request_error', 'code': 'invalid_api_key'}}",
         "authentication failed: 401 Incorrect API key provided: sk-fake."),
        ("APIStatusError: Error code: 429 - {'error': {'message': 'You exceeded your current "
         "quota, please check your plan and billing details.', 'type': 'insufficient_quota'}}",
         "usage limit reached: 429 You exceeded your current quota"),
        ("APIStatusError: Error code: 500 - {'error': {'message': 'The server is overloaded.', "
         "'type': 'server_error'}}", "the last turn failed: 500 The server is overloaded."),
        ("APIConnectionError: Connection error.",
         "the last turn failed: APIConnectionError: Connection error."),
    ],
)  # fmt: skip
def test_failed_turn_is_blocked_with_the_logged_reason(
    tmp_path: Path, error: str, reason: str
) -> None:
    home, wire, meta = _session(tmp_path)
    _log(native.log_path(home), "ERROR", "Agent step 1 failed: old: failure", time.time() - 600)
    _wire(wire, "TurnBegin", user_input="hello")
    _wire(wire, "StepBegin", n=1)
    _log(native.log_path(home), "WARNING", "Retrying step for the 1 time")
    _log(native.log_path(home), "ERROR", f"Agent step 1 failed: {error}")
    _wire(wire, "StepInterrupted")
    _wire(wire, "TurnEnd")
    pane = PaneState(alive=True, running=True, pid=NO_PID)
    seen = KimiCodeAgent().activity(Observation(pane, load("kimi-auth"), meta))
    assert (seen.state, seen.evidence.source) == ("blocked", "native:wire"), seen
    assert seen.evidence.detail.startswith(reason), seen
    # a later turn that ends normally is ready again
    _wire(wire, "TurnBegin", user_input="again")
    _wire(wire, "StepBegin", n=1)
    _wire(wire, "ContentPart", type="text", text="Back.")
    _wire(wire, "TurnEnd")
    assert KimiCodeAgent().activity(Observation(pane, None, meta)).state == "ready"


def test_no_model_and_interrupt(tmp_path: Path) -> None:
    home, wire, meta = _session(tmp_path)
    pane = PaneState(alive=True, running=True, pid=NO_PID)
    _wire(wire, "TurnBegin", user_input="hello")
    _log(native.log_path(home), "ERROR", "LLM not set:")
    _wire(wire, "TurnEnd")
    seen = KimiCodeAgent().activity(Observation(pane, None, meta))
    assert seen.state == "blocked" and "no model is configured" in seen.evidence.detail
    _wire(wire, "TurnBegin", user_input="hello")  # Escape: the turn ends, nothing logged
    _wire(wire, "StepBegin", n=1)
    _wire(wire, "TurnEnd")
    seen = KimiCodeAgent().activity(Observation(pane, load("kimi-interrupted"), meta))
    assert (seen.state, seen.evidence.detail) == ("ready", "the turn ended")


def test_a_turn_that_just_ended_is_not_ready_yet(tmp_path: Path) -> None:
    """Kimi puts its idle input back a moment after the wire log's TurnEnd; a paste sent
    in between is lost, so the turn reads as ending for ``SETTLING`` seconds."""
    _home, wire, meta = _session(tmp_path)
    pane = PaneState(alive=True, running=True, pid=NO_PID)
    _wire(wire, "TurnBegin", time.time() - 3, user_input="wait")
    _wire(wire, "StepBegin", time.time() - 3, n=1)
    _wire(wire, "TurnEnd", time.time())
    seen = KimiCodeAgent().activity(Observation(pane, load("kimi-interrupted"), meta))
    assert (seen.state, seen.evidence.detail) == (
        "working",
        "the turn ended; the input is coming back",
    )
    time.sleep(KimiCodeAgent.settling)
    assert (
        KimiCodeAgent().activity(Observation(pane, load("kimi-interrupted"), meta)).state == "ready"
    )


def test_failure_before_a_restart_does_not_block(tmp_path: Path) -> None:
    """`ao restore` after fixing the key: the new process has not tried yet."""
    home, wire, meta = _session(tmp_path)
    before = time.time() - 60
    _wire(wire, "TurnBegin", before, user_input="hello")
    _wire(wire, "StepBegin", before, n=1)
    _log(native.log_path(home), "ERROR", "Agent step 1 failed: APIStatusError: Error code: 401",
         before)  # fmt: skip
    _wire(wire, "StepInterrupted", before)
    _wire(wire, "TurnEnd", before)
    cli = subprocess.Popen(["sleep", "30"])  # the restored CLI, started after that turn
    try:
        pane = PaneState(alive=True, running=True, pid=cli.pid)
        seen = KimiCodeAgent().activity(Observation(pane, load("kimi-resumed"), meta))
    finally:
        cli.kill()
        cli.wait()
    assert seen.state == "ready" and seen.evidence.detail.endswith("(before kimi restarted)"), seen


def test_screen_wins_for_panels_and_a_new_turn(tmp_path: Path) -> None:
    _home, wire, meta = _session(tmp_path)
    pane = PaneState(alive=True, running=True, pid=NO_PID)
    agent = KimiCodeAgent()
    assert agent.activity(Observation(pane, None, meta)).state == "starting"
    assert agent.activity(Observation(pane, load("kimi-idle"), meta)).state == "ready"
    _wire(wire, "TurnBegin", user_input="run it")
    _wire(wire, "StepBegin", n=1)
    _wire(wire, "ToolCall", id="c1", function={"name": "Shell", "arguments": "{}"})
    assert agent.activity(Observation(pane, None, meta)).state == "working"  # `ao list`
    seen = agent.activity(Observation(pane, load("kimi-approval"), meta))
    assert (seen.state, seen.evidence.source) == ("needs_input", "screen")
    gone = PaneState(alive=True, running=False, exit_status=0, pid=NO_PID)
    assert agent.activity(Observation(gone, load("kimi-approval"), meta)).state == "exited"


# ----------------------------------------------------------------------------- launch


def test_launch_resume_and_the_session_state(
    tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = isolated_env / ".kimi"
    user.mkdir()
    (user / "config.toml").write_text('default_model = ""\ndefault_plan_mode = true\n')
    (user / "credentials").mkdir()
    (user / "sessions").mkdir()
    monkeypatch.delenv("KIMI_SHARE_DIR", raising=False)
    worktree, state = tmp_path / "wt", tmp_path / "state"
    worktree.mkdir()
    ctx = LaunchContext("d-1", worktree, "fix it", model="fake", permissions="accept-edits",
                        rules="Be brief.", state_dir=state)  # fmt: skip
    spec = KimiCodeAgent().launch(ctx)
    sid = spec.metadata["native_session_id"]
    home = state / "kimi-home"
    assert spec.argv == ["kimi", "--session", sid, "--model", "fake", "--agent-file",
                         str(state / "kimi-agent.yaml")]  # fmt: skip
    assert spec.prompt_delivery == "post-launch"
    assert spec.env["KIMI_SHARE_DIR"] == str(home) and spec.env["KIMI_CLI_NO_AUTO_UPDATE"] == "1"
    assert spec.metadata["agent_home"] == str(home)
    assert (home / "config.toml").resolve() == (user / "config.toml").resolve()  # linked
    assert (home / "credentials").is_symlink() and not (home / "sessions").is_symlink()
    agent_spec = json.loads((state / "kimi-agent.yaml").read_text())
    assert agent_spec["agent"]["system_prompt_args"]["ROLE_ADDITIONAL"] == "Be brief."
    directory = native.session_dir(home, sid)
    assert directory is not None
    saved = json.loads((directory / "state.json").read_text())
    assert saved["approval"] == {"auto_approve_actions": ["edit file"], "yolo": False}
    assert saved["plan_mode"] is True  # the config's default, as Kimi does for new sessions
    assert json.loads((home / "kimi.json").read_text())["work_dirs"][0]["path"] == str(
        worktree.resolve()
    )
    assert stat.S_IMODE((directory / "state.json").stat().st_mode) == 0o600
    assert not list(worktree.iterdir())  # nothing in the repository

    again = KimiCodeAgent().resume(LaunchContext("d-1", worktree, "", permissions="bypass",
                                                 state_dir=state), spec.metadata)  # fmt: skip
    assert again is not None and again.argv[:3] == ["kimi", "--session", sid]
    assert "--yolo" in again.argv
    saved = json.loads((directory / "state.json").read_text())
    assert saved["approval"]["yolo"] is True and saved["plan_mode"] is True
    assert KimiCodeAgent().resume(ctx, {**spec.metadata, "native_session_id": "nope"}) is None
    assert KimiCodeAgent().resume(ctx, {}) is None


def test_with_mcp_approves_the_servers_tools_and_hands_it_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The echo server's tools are listed at launch and approved for the session; the
    launcher in the MCP config gives the server the agent's environment (keys included)
    from a file it reads once, though Kimi starts it with a handful of variables."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("KIMI_TEST_SECRET_TOKEN", "s3cret")
    worktree, state = tmp_path / "wt", tmp_path / "state"
    worktree.mkdir()
    ctx = LaunchContext("d-1", worktree, "", state_dir=state)
    agent = KimiCodeAgent()
    user = tmp_path / "user-kimi"
    user.mkdir()
    (user / "mcp.json").write_text('{"mcpServers": {}}')
    monkeypatch.setenv("KIMI_SHARE_DIR", str(user))
    spec = agent.launch(ctx)
    log = tmp_path / "echo.log"
    server = McpServer("ao", (sys.executable, str(ECHO_SERVER)),
                       {"AO_SESSION_ID": "d-1", "MCP_ECHO_LOG": str(log)})  # fmt: skip
    started = time.monotonic()
    spec = agent.with_mcp(ctx, spec, [server])
    assert time.monotonic() - started < mcp.LIST_TIMEOUT
    home = state / "kimi-home"
    assert spec.argv[-4:] == ["--mcp-config-file", str(home / "mcp.json"),  # the user's own
                              "--mcp-config-file", str(state / "kimi-mcp.json")]  # fmt: skip
    directory = native.session_dir(
        Path(spec.metadata["agent_home"]), spec.metadata["native_session_id"]
    )
    assert directory is not None
    approved = json.loads((directory / "state.json").read_text())["approval"]
    assert approved["auto_approve_actions"] == ["mcp:echo"]
    config = json.loads((state / "kimi-mcp.json").read_text())["mcpServers"]["ao"]
    assert "s3cret" not in json.dumps(config)  # no secret in the config file
    env_file = Path(config["args"][4])
    assert env_file.parent == tmp_path / "run" / "ao"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    # start it the way Kimi does: the MCP SDK's few variables plus the config's env
    minimal = {k: os.environ[k] for k in ("HOME", "PATH") if k in os.environ}
    probe = [config["command"], *config["args"][:5], "--", sys.executable, "-c",
             "import os, json; print(json.dumps(dict(os.environ)))"]  # fmt: skip
    out = subprocess.run(probe, env={**minimal, **config["env"]}, capture_output=True,
                         text=True, timeout=30, check=True)  # fmt: skip
    seen = json.loads(out.stdout)
    assert seen["KIMI_TEST_SECRET_TOKEN"] == "s3cret" and seen["AO_SESSION_ID"] == "d-1"
    assert not env_file.exists()  # read once


def test_version_and_auth(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KIMI_API_KEY", "OPENAI_API_KEY", "KIMI_SHARE_DIR"):
        monkeypatch.delenv(var, raising=False)
    agent = KimiCodeAgent()
    assert agent.auth().kind == "none"
    (isolated_env / ".kimi").mkdir()
    config = isolated_env / ".kimi" / "config.toml"
    config.write_text('[providers.p]\ntype = "openai_legacy"\nbase_url = "x"\napi_key = ""\n')
    assert agent.auth().kind == "none"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert agent.auth().detail == "provider 'p' via $OPENAI_API_KEY"
    config.write_text('[providers.k]\ntype = "kimi"\nbase_url = "x"\napi_key = ""\n'
                      '[providers.k.oauth]\nkey = "oauth/kimi-code"\n')  # fmt: skip
    assert agent.auth().kind == "subscription"
    monkeypatch.setenv("KIMI_API_KEY", "sk-k")
    assert agent.auth() == agent.auth().__class__("api-key", "KIMI_API_KEY is set")
    if agent_bin("kimi") is not None:
        version = KimiCodeAgent({"command": [agent_bin("kimi")]}).version()
        assert version is not None and version.startswith("1.")

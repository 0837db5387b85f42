"""Adapters without the CLIs: launch specs, native-record parsing and the activity precedence.

The records are shaped like the lines Claude Code 2.1.330 and Codex 0.169.0 wrote while
driven by the fake model (field names and values copied from real files).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from ao_plugins.agent_claude import ClaudeCodeAgent
from ao_plugins.agent_claude import native as claude_native
from ao_plugins.agent_codex import CodexAgent, prepare_home
from ao_plugins.agent_codex import native as codex_native

from ao.sdk.agentkit import estimate_cost, passthrough_env, tail_records
from ao.sdk.contracts import LaunchContext, Observation, PaneState

SCREENS = Path(__file__).parent / "screens"
# a pid no process can have (PID_MAX_LIMIT): no start time, so no record counts as older
NO_PID = 4_194_304
RUNNING = PaneState(alive=True, running=True, pid=NO_PID, current_command="claude")
SID = "11111111-2222-3333-4444-555555555555"


def jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def user(text: str) -> dict[str, object]:
    return {"type": "user", "message": {"role": "user", "content": text},
            "timestamp": "2026-11-22T04:23:34.000Z"}  # fmt: skip


def assistant(mid: str, stop: str = "end_turn", **extra: object) -> dict[str, object]:
    usage = {"input_tokens": 120, "output_tokens": 30, "cache_read_input_tokens": 5,
             "cache_creation_input_tokens": 0}  # fmt: skip
    return {"type": "assistant", "timestamp": "2026-11-22T04:23:35.000Z",
            "message": {"id": mid, "model": "claude-sonnet-4-5", "role": "assistant",
                        "stop_reason": stop, "usage": usage,
                        "content": [{"type": "text", "text": "hi"}]}, **extra}  # fmt: skip


TURN_DONE = {"type": "system", "subtype": "turn_duration", "durationMs": 3860,
             "timestamp": "2026-11-22T04:23:41.934Z"}  # fmt: skip


# ----------------------------------------------------------------------------- claude


@pytest.fixture
def claude_home(tmp_path: Path) -> Path:
    home = tmp_path / "claude"
    (home / "sessions").mkdir(parents=True)
    return home


def claude_session(home: Path, cwd: str = "/work/wt/d-1") -> dict[str, str]:
    return {"agent_home": str(home), "native_session_id": SID, "native_cwd": cwd}


def live(home: Path, status: str, pid: int = NO_PID) -> None:
    record = {"pid": pid, "sessionId": SID, "cwd": "/work/wt/d-1", "status": status,
              "statusUpdatedAt": int(time.time() * 1000)}  # fmt: skip
    (home / "sessions" / f"{pid}.json").write_text(json.dumps(record))


def transcript(home: Path, records: list[dict[str, object]]) -> Path:
    folder = claude_native.encode_cwd("/work/wt/d-1")
    assert folder == "-work-wt-d-1"
    return jsonl(home / "projects" / folder / f"{SID}.jsonl", records)


def claude_activity(
    home: Path, screen: str | None = None, pane: PaneState = RUNNING
) -> tuple[str, str, str]:
    act = ClaudeCodeAgent().activity(Observation(pane, screen, claude_session(home)))
    return act.state, act.evidence.source, act.evidence.detail


def test_claude_launch_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    ctx = LaunchContext("d-1", tmp_path, "task", model="opus", permissions="bypass",
                        rules="Be brief.", state_dir=tmp_path / "state")  # fmt: skip
    spec = ClaudeCodeAgent().launch(ctx)
    argv = spec.argv
    assert (
        argv[0] == "claude"
        and argv[argv.index("--session-id") + 1] == spec.metadata["native_session_id"]
    )
    assert argv[argv.index("--permission-mode") + 1] == "bypassPermissions"
    assert argv[argv.index("--append-system-prompt") + 1] == "Be brief."
    settings = json.loads(Path(argv[argv.index("--settings") + 1]).read_text())
    assert settings["skipDangerousModePermissionPrompt"] is True
    assert spec.prompt_delivery == "post-launch"
    assert spec.env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert "ANTHROPIC_API_KEY" not in spec.env  # secrets stay out of tmux's command line
    assert spec.env.get("IS_SANDBOX") == ("1" if os.geteuid() == 0 else None)
    assert not list(tmp_path.glob("*.json"))  # nothing in the worktree


@pytest.mark.parametrize(("level", "mode"), [("default", "manual"),
                         ("accept-edits", "acceptEdits"), ("auto", "auto")])  # fmt: skip
def test_claude_permission_modes(tmp_path: Path, level: str, mode: str) -> None:
    spec = ClaudeCodeAgent().launch(LaunchContext("d", tmp_path, "", permissions=level))
    assert spec.argv[spec.argv.index("--permission-mode") + 1] == mode
    assert "IS_SANDBOX" not in spec.env


def test_claude_resume_needs_the_transcript(claude_home: Path, tmp_path: Path) -> None:
    ctx = LaunchContext("d-1", Path("/work/wt/d-1"), "")
    agent = ClaudeCodeAgent()
    assert agent.resume(ctx, claude_session(claude_home)) is None  # nothing to resume: fresh
    transcript(claude_home, [user("hi"), assistant("m1"), TURN_DONE])
    spec = agent.resume(ctx, claude_session(claude_home))
    assert spec is not None and spec.argv[1:3] == ["--resume", SID]
    assert spec.metadata["native_session_id"] == SID


def test_claude_native_states(claude_home: Path) -> None:
    assert claude_activity(claude_home)[0] == "starting"  # running, nothing recorded yet
    live(claude_home, "busy")
    assert claude_activity(claude_home)[:2] == ("working", f"native:sessions/{NO_PID}.json")
    live(claude_home, "waiting")
    assert claude_activity(claude_home)[0] == "needs_input"
    live(claude_home, "idle")
    assert claude_activity(claude_home)[0] == "ready"
    dead = PaneState(alive=True, running=False, exit_status=1, pid=NO_PID)
    assert claude_activity(claude_home, pane=dead)[:2] == ("exited", "runtime")


def test_claude_idle_with_api_errors(claude_home: Path) -> None:
    live(claude_home, "idle")
    quota = {"status": "rejected", "resetsAt": 1795325145, "rateLimitType": "five_hour"}
    transcript(claude_home, [user("hi"), assistant(
        "e1", "stop_sequence", isApiErrorMessage=True, error="rate_limit",
        apiError="usage_limit_reached", apiErrorStatus=429, quotaLimits=quota,
    ), {"type": "system", "subtype": "informational", "content": "Usage limit reached"}])  # fmt: skip
    state, source, detail = claude_activity(claude_home)
    assert (state, source) == ("blocked", "native:transcript")
    assert "usage limit reached; resets 2026-11-22 05:25 UTC" in detail
    transcript(claude_home, [user("hi"), assistant(
        "e2", "stop_sequence", isApiErrorMessage=True, error="authentication_failed",
        apiErrorStatus=401)])  # fmt: skip
    assert claude_activity(claude_home)[0] == "blocked"
    transcript(claude_home, [user("hi"), assistant("e3", isApiErrorMessage=True, error="server")])
    assert claude_activity(claude_home)[0] == "blocked"  # any error that ended the turn


def api_error(
    text: str, status: int | None, error: str = "unknown", **extra: object
) -> dict[str, object]:
    """The record Claude Code 2.1.330 writes once a model call failed for good."""
    if status is not None:
        extra["apiErrorStatus"] = status
    return {"type": "assistant", "timestamp": extra.pop("timestamp", "2026-11-22T04:23:35.000Z"),
            "message": {"id": "e", "model": "<synthetic>", "role": "assistant",
                        "stop_reason": "stop_sequence", "content": [{"type": "text", "text": text}]},
            "error": error, "isApiErrorMessage": True, **extra}  # fmt: skip


INTERRUPTED = {"type": "user", "timestamp": "2026-11-22T04:23:36.000Z",
               "message": {"role": "user", "content": [
                   {"type": "text", "text": "[Request interrupted by user]"}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (api_error("API Error: 400 Invalid request: bad field.", 400), "API Error: 400 Invalid"),
        (api_error("There's an issue with the selected model (claude-x). It may not exist or "
                   "you may not have access to it.", 404), "issue with the selected model"),
        (api_error("API Error: 500 Overloaded. This is a server-side issue", 500, "server_error"),
         "500 Overloaded"),
        (api_error("API Error: Connection error.", None), "Connection error"),
    ],
)  # fmt: skip
def test_claude_failed_turn_is_blocked_until_a_later_turn(
    claude_home: Path, record: dict[str, object], reason: str
) -> None:
    """Any API error that ended the turn (retries over) blocks, with its line as the reason."""
    live(claude_home, "idle")
    transcript(claude_home, [user("hi"), record])
    state, source, detail = claude_activity(claude_home)
    assert (state, source) == ("blocked", "native:transcript")
    assert detail.startswith("the last turn failed: ") and reason in detail, detail
    # with no registry entry, the idle prompt on screen does not hide it either
    (claude_home / "sessions" / f"{NO_PID}.json").unlink()
    idle = (SCREENS / "claude-done.txt").read_text()
    assert claude_activity(claude_home, idle)[:2] == ("blocked", "native:transcript")
    assert claude_activity(claude_home)[0] == "blocked"
    # a later turn that ends normally is what counts
    transcript(claude_home, [user("hi"), record, user("again"), assistant("m2"), TURN_DONE])
    assert claude_activity(claude_home, idle)[0] == "ready"
    assert claude_activity(claude_home)[0] == "ready"


def test_claude_error_line_is_one_bounded_line_without_controls(claude_home: Path) -> None:
    live(claude_home, "idle")
    noisy = "API Error: 400 \x1b[31mred\x1b[0m\nsecond line\x07 " + "x" * 500
    transcript(claude_home, [user("hi"), api_error(noisy, 400)])
    detail = claude_activity(claude_home)[2]
    assert "\x1b" not in detail and "\x07" not in detail and "\n" not in detail, detail
    assert "red second line" in detail and len(detail) < 200


def test_claude_interrupted_turn_is_ready(claude_home: Path) -> None:
    """Escape is no error: the user record it leaves ends the turn."""
    transcript(claude_home, [user("hi"), assistant("m1", "tool_use"), INTERRUPTED])
    assert claude_activity(claude_home)[:2] == ("ready", "native:transcript")
    live(claude_home, "idle")
    assert claude_activity(claude_home)[0] == "ready"


def test_claude_idle_before_the_transcript_records_the_turn_end(claude_home: Path) -> None:
    """The registry goes idle ~0.1 s before the failure (or reply) reaches the transcript:
    for that moment the turn is still working, not ready."""
    transcript(claude_home, [user("hi")])
    live(claude_home, "idle")  # just now
    state, _, detail = claude_activity(claude_home)
    assert state == "working" and "not recorded yet" in detail, detail
    record = json.loads((claude_home / "sessions" / f"{NO_PID}.json").read_text())
    record["statusUpdatedAt"] -= 10_000  # idle for long: nothing more is coming
    (claude_home / "sessions" / f"{NO_PID}.json").write_text(json.dumps(record))
    assert claude_activity(claude_home)[0] == "ready"


def test_claude_failure_before_a_restart_does_not_block(claude_home: Path) -> None:
    """After `ao restore` the CLI (a new process) has not tried yet: the old failure is past."""
    me = os.getpid()  # this process started after the records' 2026-11-22 stamps
    pane = PaneState(alive=True, running=True, pid=me, current_command="claude")
    live(claude_home, "idle", pid=me)
    transcript(claude_home, [user("hi"), api_error("API Error: 400 bad", 400)])
    state, _, detail = claude_activity(claude_home, pane=pane)
    assert state == "ready" and "(before claude restarted)" in detail, detail
    # nor does the failure's line the resumed CLI draws again above its prompt box
    login = api_error("Not logged in · Please run /login", None, "authentication_failed")
    transcript(claude_home, [user("hi"), login])
    shown = (SCREENS / "claude-not-logged-in.txt").read_text().replace("Not logged in · run", "")
    assert claude_activity(claude_home, shown, pane=pane)[0] == "ready"
    fresh = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 5))
    transcript(claude_home, [user("hi"), api_error("API Error: 400 bad", 400, timestamp=fresh)])
    assert claude_activity(claude_home, pane=pane)[0] == "blocked"


def test_claude_screen_refines_native(claude_home: Path) -> None:
    live(claude_home, "busy")
    retry = (SCREENS / "claude-retrying-529.txt").read_text().replace("529 Overloaded", "401 nope")
    assert claude_activity(claude_home, retry)[:2] == ("blocked", "screen")
    live(claude_home, "waiting")
    state, _, detail = claude_activity(
        claude_home, (SCREENS / "claude-permission-bash.txt").read_text()
    )
    assert state == "needs_input" and "Do you want to proceed?" in detail
    # no registry file (e.g. a wrapper command): the screen decides
    (claude_home / "sessions" / f"{NO_PID}.json").unlink()
    assert claude_activity(claude_home, (SCREENS / "claude-trust.txt").read_text())[:2] == (
        "needs_input",
        "screen",
    )


def test_claude_registry_found_by_session_id(claude_home: Path) -> None:
    live(claude_home, "busy", pid=999)  # the pane runs a wrapper; claude has another pid
    assert claude_activity(claude_home)[:2] == ("working", "native:sessions/999.json")


def test_claude_transcript_without_registry(claude_home: Path) -> None:
    transcript(claude_home, [user("hi"), assistant("m1", "tool_use")])
    assert claude_activity(claude_home)[:2] == ("working", "native:transcript")
    transcript(claude_home, [user("hi"), assistant("m1"), TURN_DONE])
    assert claude_activity(claude_home)[0] == "ready"


def test_claude_session_info(claude_home: Path) -> None:
    # one message per content block share an id: counted once
    transcript(claude_home, [user("Write hello.txt please\nmore"), assistant("m1", "tool_use"),
                             assistant("m1", "tool_use"), assistant("m2"), TURN_DONE])  # fmt: skip
    info = ClaudeCodeAgent().session_info(claude_session(claude_home))
    assert (info.native_session_id, info.summary) == (SID, "Write hello.txt please")
    assert (info.input_tokens, info.output_tokens) == (2 * 125, 60)
    assert info.cost_usd == estimate_cost("claude-sonnet-4-5", 240, 60, 10)
    # the CLI's own running cost is used where recorded
    transcript(claude_home, [user("x"), assistant("m1"),
                             {"type": "cost-state", "totalCostUSD": 0.5}])  # fmt: skip
    assert ClaudeCodeAgent().session_info(claude_session(claude_home)).cost_usd == 0.5


def test_claude_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path))
    agent = ClaudeCodeAgent()
    assert agent.auth().kind == "none"
    (tmp_path / ".credentials.json").write_text('{"claudeAiOauth": {"accessToken": "x"}}')
    assert agent.auth().kind == "subscription"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk")
    assert agent.auth().kind == "api-key"


# ----------------------------------------------------------------------------- codex


def rollout(home: Path, records: list[dict[str, object]]) -> Path:
    name = "rollout-2026-11-22T04-29-03-01a20183-c777-72d1-b0dc-ed7ce21f79a4.jsonl"
    return jsonl(home / "sessions" / "2026" / "11" / "22" / name, records)


def event(kind: str, **payload: object) -> dict[str, object]:
    return {"timestamp": "2026-11-22T04:28:39.824Z", "type": "event_msg",
            "payload": {"type": kind, **payload}}  # fmt: skip


META = {"type": "session_meta", "payload": {"id": "01a20183-c777-72d1-b0dc-ed7ce21f79a4"}}
CONTEXT = {"type": "turn_context", "payload": {"model": "gpt-5", "approval_policy": "on-request",
                                               "approvals_reviewer": "user"}}  # fmt: skip
ESCALATED = {"type": "response_item", "payload": {
    "type": "function_call", "name": "exec_command", "call_id": "call_1",
    "arguments": json.dumps({"cmd": "echo hi", "sandbox_permissions": "require_escalated"})}}  # fmt: skip


def codex_activity(
    home: Path, screen: str | None = None, pid: int = NO_PID
) -> tuple[str, str, str]:
    pane = PaneState(alive=True, running=True, pid=pid)
    act = CodexAgent().activity(Observation(pane, screen, {"agent_home": str(home)}))
    return act.state, act.evidence.source, act.evidence.detail


def test_codex_rollout_states(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    assert codex_activity(home)[0] == "starting"
    rollout(home, [META, event("task_started"), CONTEXT])
    assert codex_activity(home)[:2] == ("working", "native:rollout")
    rollout(home, [META, event("task_started"), CONTEXT, ESCALATED])
    assert codex_activity(home)[:3] == (
        "needs_input",
        "native:rollout",
        "awaiting approval: echo hi",
    )
    output = {
        "type": "response_item",
        "payload": {"type": "function_call_output", "call_id": "call_1"},
    }
    rollout(home, [META, event("task_started"), CONTEXT, ESCALATED, output])
    assert codex_activity(home)[0] == "working"
    never = {"type": "turn_context", "payload": {"approval_policy": "never"}}
    rollout(home, [META, event("task_started"), never, ESCALATED])
    assert codex_activity(home)[0] == "working"
    rollout(home, [META, event("task_started"), CONTEXT, event("task_complete")])
    assert codex_activity(home)[0] == "ready"
    limit = {"message": "You’ve hit your usage limit. … try again at 5:29 AM.",
             "codex_error_info": "usage_limit_exceeded"}  # fmt: skip
    rollout(home, [META, event("task_started"), event("task_complete", error=limit)])
    state, _, detail = codex_activity(home)
    assert state == "blocked" and "try again at 5:29 AM" in detail
    denied = {"message": "unexpected status 401 Unauthorized: Incorrect API key provided",
              "codex_error_info": {"http_connection_failed": {"http_status_code": 401}}}  # fmt: skip
    rollout(home, [META, event("task_started"), event("task_complete", error=denied)])
    assert codex_activity(home)[:2] == ("blocked", "native:rollout")


def test_codex_failed_turn_is_blocked_until_a_later_turn(tmp_path: Path) -> None:
    """The issue's case: a custom provider's env_key variable is missing. Codex fails the
    turn (``task_complete`` with ``error``); that is blocked, never ready."""
    home = tmp_path / "codex-home"
    missing = {"message": "Missing environment variable: `MY_KEY`.", "codex_error_info": "other"}
    failed = [META, event("task_started"), CONTEXT, event("task_complete", error=missing)]
    rollout(home, failed)
    assert codex_activity(home) == (
        "blocked", "native:rollout", "the last turn failed: Missing environment variable: `MY_KEY`."
    )  # fmt: skip
    raw = {"message": json.dumps({"error": {"message": "Invalid 'input'.", "type": "x"}}),
           "codex_error_info": "other"}  # fmt: skip
    rollout(home, [META, event("task_started"), event("task_complete", error=raw)])
    assert codex_activity(home)[2] == "the last turn failed: Invalid 'input'."  # not the JSON
    gone = {"message": "The model `gpt-9` does not exist or you do not have access to it.",
            "codex_error_info": "model_not_found"}  # fmt: skip
    rollout(home, [META, event("task_started"), event("task_complete", error=gone)])
    assert codex_activity(home)[:2] == ("blocked", "native:rollout")
    # the next turn that completes is what counts
    rollout(home, [*failed, event("task_started"), CONTEXT, event("task_complete")])
    assert codex_activity(home)[:3] == ("ready", "native:rollout", "turn complete")


def test_codex_interrupted_turn_is_ready(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    rollout(home, [META, event("task_started"), CONTEXT,
                   event("turn_aborted", reason="interrupted")])  # fmt: skip
    assert codex_activity(home) == ("ready", "native:rollout", "turn aborted (interrupted)")


def test_codex_failure_before_a_restart_does_not_block(tmp_path: Path) -> None:
    """`ao restore` after fixing the key: the resumed process has not tried yet."""
    home = tmp_path / "codex-home"
    missing = {"message": "Missing environment variable: `MY_KEY`.", "codex_error_info": "other"}
    rollout(home, [META, event("task_started"), event("task_complete", error=missing)])
    state, _, detail = codex_activity(home, pid=os.getpid())  # started after 2026-11-22
    assert state == "ready" and detail.endswith("(before codex restarted)"), detail
    assert codex_activity(home)[0] == "blocked"  # (no start time known: it stands)
    # restored while Codex still retried: the turn the old process had open is over too
    rollout(home, [META, event("task_started"), CONTEXT])
    state, _, detail = codex_activity(home, pid=os.getpid())
    assert (state, detail) == ("ready", "turn in progress (before codex restarted)")
    busy = (SCREENS / "codex-busy.txt").read_text()
    assert codex_activity(home, busy, pid=os.getpid())[:2] == ("working", "screen")


def test_codex_screen_refines_rollout(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    rollout(home, [META, event("task_started"), CONTEXT])
    reconnecting = (SCREENS / "codex-401-reconnecting.txt").read_text()
    assert codex_activity(home, reconnecting)[:2] == ("blocked", "screen")


def test_codex_session_info_and_resume(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    totals = {"input_tokens": 240, "cached_input_tokens": 40, "output_tokens": 60}
    rollout(home, [META, CONTEXT, event("item_completed", item={
        "type": "UserMessage", "content": [{"type": "text", "text": "Write hello.txt"}]}),
        event("token_count", info={"total_token_usage": totals})])  # fmt: skip
    agent = CodexAgent()
    info = agent.session_info({"agent_home": str(home)})
    assert info.native_session_id == "01a20183-c777-72d1-b0dc-ed7ce21f79a4"
    assert (info.summary, info.input_tokens, info.output_tokens) == ("Write hello.txt", 240, 60)
    assert info.cost_usd == estimate_cost("gpt-5", 200, 60, 40)
    ctx = LaunchContext("d-1", tmp_path / "wt", "", state_dir=tmp_path / "state")
    assert agent.resume(ctx, {}) is None
    spec = agent.resume(ctx, {"agent_home": str(home)})
    assert spec is not None and spec.argv[-2:] == ["resume", info.native_session_id]
    assert "--no-daemon" in spec.argv


def test_codex_home_from_the_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.toml").write_text(
        'model = "gpt-5"\n[projects."/elsewhere"]\ntrust_level = "trusted"\n'
    )
    (user / "auth.json").write_text('{"tokens": {"access_token": "a"}}')
    (user / "AGENTS.md").write_text("User rules.")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    home = tmp_path / "state" / "codex-home"
    prepare_home(home, user, tmp_path / "wt", "Project rules.")
    prepare_home(home, user, tmp_path / "wt", "Project rules.")  # idempotent (restore)
    import tomllib

    config = tomllib.loads((home / "config.toml").read_text())
    assert config["openai_base_url"] == "http://127.0.0.1:9/v1"
    assert config["projects"][str(tmp_path / "wt")]["trust_level"] == "trusted"
    assert "/elsewhere" in config["projects"]
    assert (home / "auth.json").is_symlink()
    assert (home / "AGENTS.md").read_text() == "User rules.\n\nProject rules.\n"


def test_codex_permission_flags(tmp_path: Path) -> None:
    agent = CodexAgent({"permissions": "auto"})
    argv = agent.launch(LaunchContext("d", tmp_path, "")).argv
    assert argv[argv.index("--ask-for-approval") + 1] == "never"
    argv = agent.launch(LaunchContext("d", tmp_path, "", permissions="bypass")).argv
    assert "--dangerously-bypass-approvals-and-sandbox" in argv


# ----------------------------------------------------------------------------- agentkit


def test_tail_records_reads_only_the_end(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "big.jsonl", [{"n": i, "pad": "x" * 100} for i in range(5000)])
    records = tail_records(path, max_bytes=4096)
    assert records[-1]["n"] == 4999 and 20 < len(records) < 40
    assert all(isinstance(r["n"], int) for r in records)  # the cut first line is dropped


def test_passthrough_env_keeps_secrets_out() -> None:
    env = {"ANTHROPIC_BASE_URL": "u", "ANTHROPIC_API_KEY": "k", "CLAUDE_CODE_OAUTH_TOKEN": "t",
           "OTHER": "o"}  # fmt: skip
    assert passthrough_env(("ANTHROPIC_", "CLAUDE_CODE_"), environ=env) == {
        "ANTHROPIC_BASE_URL": "u"
    }


def test_codex_rollout_lookup_is_cheap(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    rollout(home, [META])
    older = home / "sessions" / "2026" / "11" / "21" / "rollout-2026-11-21T01-00-00-aaaa.jsonl"
    jsonl(older, [META])
    found = codex_native.rollout(home)
    assert found is not None and found.parent.name == "22"
    assert codex_native.rollout(home, "aaaa") == older

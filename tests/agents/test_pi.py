"""Pi under ``ao``: recorded screens and session files (fast), end to end against ``fakechat``.

The end-to-end tests run the real ``pi`` (scripts/install-more-agents.sh) in a private
tmux server, with a ``fake`` provider in the test HOME's ``~/.pi/agent/models.json``.
Pi has no approval prompts, so there is no permission test: a command the model asks
for simply runs (checked below).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ao_plugins.agent_pi import PiAgent, native, screen

from ao.sdk.contracts import LaunchContext, Observation, PaneState

from . import fakemodel as fm
from .conftest import Harness, agent_bin, require_cli, wait_for
from .fakechat import INPUT_TOKENS, OUTPUT_TOKENS, FakeChat, kill_panes, register_agents

SCREENS = Path(__file__).parent / "screens_more"
TASK = 'Write hello.txt — it says "hi".\n\tKeep $HOME and `ticks` literal; 日本 🚀\nThanks.'
NO_PID = 4_194_304  # PID_MAX_LIMIT: no process has it, so no start time
E2E = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]


def load(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("pi-idle", "ready", "prompt is idle"),
        ("pi-done", "ready", "prompt is idle"),
        ("pi-busy", "working", "busy: Working..."),
        ("pi-quota", "blocked", "usage limit reached: 429 You exceeded your current quota"),
        ("pi-auth", "ready", "prompt is idle"),  # the session file says blocked (below)
        ("pi-no-key", "ready", "prompt is idle"),  # no reply yet: `last_error` tells (below)
    ],
)
def test_screen(name: str, state: str, detail: str) -> None:
    reading = screen.read(load(name))
    assert reading is not None
    assert (reading.state, reading.detail.startswith(detail)) == (state, True), reading


def test_model_text_is_not_chrome() -> None:
    text = load("pi-done").replace("I wrote hello.txt.", "Error: 401 Incorrect API key")
    assert screen.read(text) == screen.Reading("ready", "prompt is idle")


def _message(path: Path, role: str, **fields: object) -> None:
    record = {"type": "message", "id": str(time.monotonic_ns()),
              "message": {"role": role, "timestamp": int(time.time() * 1000), **fields}}  # fmt: skip
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def test_session_file_turns(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"type": "session", "id": "sid-1", "cwd": "/w"}) + "\n")
    assert native.turn_state(path).state == "empty"
    _message(path, "user", content=[{"type": "text", "text": "do it"}])
    assert native.turn_state(path).detail == "a prompt was submitted"
    cost = {"total": 0.001}
    _message(
        path, "assistant", stopReason="toolUse", usage={"input": 100, "output": 10, "cost": cost}
    )
    assert native.turn_state(path).detail == "a tool is running"
    _message(path, "toolResult", toolName="write")
    _message(
        path,
        "assistant",
        stopReason="stop",
        usage={"input": 110, "output": 5, "cacheRead": 50, "cost": cost},
    )
    assert native.turn_state(path).state == "finished"
    used = native.usage(path)
    assert (used.session_id, used.summary, used.input_tokens, used.output_tokens) == (
        "sid-1",
        "do it",
        260,
        15,
    )
    assert used.cost_usd == 0.002
    _message(path, "assistant", stopReason="error", errorMessage="401 Incorrect API key provided")
    assert native.turn_state(path).detail.startswith("authentication failed: 401")
    _message(
        path, "assistant", stopReason="error", errorMessage="429 You exceeded your current quota"
    )
    assert native.turn_state(path).detail.startswith("usage limit reached")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("400 Invalid request: the scripted model refuses this request.", "the last turn failed: 400"),
        ("404 The model `fake-model` does not exist or you do not have access to it.",
         "the last turn failed: 404 The model"),
        ("Retry failed after 3 attempts: 500 The server is overloaded.", "the last turn failed"),
        ("Connection error.", "the last turn failed: Connection error."),
        ("401 Incorrect API key provided", "authentication failed: 401"),
    ],
)  # fmt: skip
def test_failed_turn_is_blocked_until_a_later_turn(tmp_path: Path, error: str, reason: str) -> None:
    path = tmp_path / "s.jsonl"
    _message(path, "user", content=[{"type": "text", "text": "do it"}])
    _message(path, "assistant", stopReason="error", errorMessage=error)
    meta = {"native_session_file": str(path)}
    pane = PaneState(alive=True, running=True, pid=NO_PID, current_command="node")
    seen = PiAgent().activity(Observation(pane, load("pi-idle"), meta))
    assert (seen.state, seen.evidence.source) == ("blocked", "native:session"), seen
    assert seen.evidence.detail.startswith(reason), seen
    # while Pi retries (it records each failed attempt), its screen says so: working
    assert PiAgent().activity(Observation(pane, load("pi-busy"), meta)).state == "working"
    retrying = load("pi-busy").replace("Working...", "Retrying (1/3) in 2s... (escape to cancel)")
    retrying = retrying.replace(" ⠧", " Error: 500 The server is overloaded.\n ⠧", 1)
    assert screen.read(retrying) is not None
    assert PiAgent().activity(Observation(pane, retrying, meta)).state == "working"
    _message(path, "user", content=[{"type": "text", "text": "again"}])
    _message(path, "assistant", stopReason="stop")
    assert PiAgent().activity(Observation(pane, load("pi-done"), meta)).state == "ready"


def test_interrupted_turn_is_ready(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    _message(path, "user", content=[{"type": "text", "text": "do it"}])
    _message(path, "assistant", stopReason="aborted", errorMessage="Operation aborted")
    pane = PaneState(alive=True, running=True, pid=NO_PID, current_command="node")
    seen = PiAgent().activity(
        Observation(pane, load("pi-idle"), {"native_session_file": str(path)})
    )
    assert (seen.state, seen.evidence.detail) == ("ready", "the turn was interrupted")


def test_failure_before_a_restart_does_not_block(tmp_path: Path) -> None:
    """`ao restore` after fixing the key: the new process has not tried yet."""
    path = tmp_path / "s.jsonl"
    before = int((time.time() - 60) * 1000)
    _message(path, "assistant", stopReason="error", errorMessage="401 Incorrect API key",
             timestamp=before)  # fmt: skip
    meta = {"native_session_file": str(path)}
    cli = subprocess.Popen(["sleep", "30"])  # the restored CLI, started after that message
    try:
        pane = PaneState(alive=True, running=True, pid=cli.pid, current_command="node")
        seen = PiAgent().activity(Observation(pane, load("pi-idle"), meta))
    finally:
        cli.kill()
        cli.wait()
    assert seen.state == "ready" and seen.evidence.detail.endswith("(before pi restarted)"), seen


def test_no_api_key_before_any_reply_is_blocked() -> None:
    """Pi refuses the turn before any request (no session file yet): its error line tells."""
    pane = PaneState(alive=True, running=True, pid=NO_PID, current_command="node")
    meta = {"native_session_file": "/nonexistent/pi-session.jsonl"}
    seen = PiAgent().activity(Observation(pane, load("pi-no-key"), meta))
    assert (seen.state, seen.evidence.source) == ("blocked", "screen"), seen
    assert seen.evidence.detail == "authentication failed: No API key found for anthropic."
    # the same line in a conversation with replies is left to the session file
    assert screen.last_error(load("pi-idle")) is None


def test_exit_at_start_names_the_error() -> None:
    """Pi exits at once when its model has no credentials: `ao why` shows the reason."""
    dead = PaneState(alive=True, running=False, exit_status=1, pid=NO_PID)
    seen = PiAgent().activity(Observation(dead, load("pi-exited-no-key"), {}))
    assert seen.state == "exited"
    assert seen.evidence.detail == (
        'pi exited: Model "fake/fake-model" not found. Use --list-models to see available models.'
    )


def test_launch(tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    worktree.mkdir()
    state = tmp_path / "state"
    ctx = LaunchContext("d-1", worktree, "fix it", model="fake/fake-model", rules="be brief",
                        state_dir=state)  # fmt: skip
    spec = PiAgent({"tools": ["read", "bash"]}).launch(ctx)
    assert spec.argv == ["pi", "--session", str(state / "pi-session.jsonl"), "--model",
                         "fake/fake-model", "--tools", "read,bash", "--append-system-prompt",
                         str(state / "pi-rules.md"), "fix it"]  # fmt: skip
    assert (state / "pi-rules.md").read_text() == "be brief\n"
    assert spec.prompt_delivery == "argv"
    dashed = PiAgent().launch(LaunchContext("d-1", worktree, "-v please", state_dir=state))
    assert dashed.prompt_delivery == "post-launch" and dashed.argv[-1] != "-v please"
    assert PiAgent().resume(ctx, spec.metadata) is None  # nothing to resume yet
    (state / "pi-session.jsonl").write_text("{}\n")
    again = PiAgent().resume(LaunchContext("d-1", worktree, "", state_dir=state), spec.metadata)
    assert again is not None and again.argv[2] == str(state / "pi-session.jsonl")
    assert not list(worktree.iterdir())


def test_activity_from_file_and_screen(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    _message(path, "assistant", stopReason="stop")
    meta = {"native_session_file": str(path)}
    pane = PaneState(alive=True, running=True, pid=1, current_command="node")
    agent = PiAgent()
    assert agent.activity(Observation(pane, None, meta)).evidence.source == "native:session"
    assert agent.activity(Observation(pane, load("pi-busy"), meta)).state == "working"
    assert agent.activity(Observation(pane, load("pi-quota"), meta)).state == "blocked"
    assert agent.activity(Observation(pane, "loading…", meta)).state == "starting"


# ----------------------------------------------------------------------------- end to end


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    server = FakeChat().start()
    yield server
    server.close()


@pytest.fixture
def pi(
    harness: Harness,
    chat: FakeChat,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Harness]:
    require_cli("pi")
    register_agents(tmp_path / "eps", monkeypatch)
    agent_dir = isolated_env / ".pi" / "agent"
    agent_dir.mkdir(parents=True)
    models = {"providers": {"fake": {
        "baseUrl": chat.base_url, "api": "openai-completions", "apiKey": "sk-fake",
        "models": [{"id": "fake-model", "name": "Fake model",
                    "cost": {"input": 3, "output": 15, "cacheRead": 0, "cacheWrite": 0}}]}}}  # fmt: skip
    (agent_dir / "models.json").write_text(json.dumps(models))
    monkeypatch.setenv("PI_OFFLINE", "1")  # no network: skip fd/ripgrep downloads
    for var in ("PI_CODING_AGENT_DIR", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    harness.chat = chat  # type: ignore[attr-defined]
    harness.configure("pi", model="fake/fake-model")
    yield harness
    kill_panes(harness.server)


def prompts(req: object) -> list[str]:
    out = []
    for message in getattr(req, "body", {}).get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        parts = [content] if isinstance(content, str) else [
            c.get("text", "") for c in content or [] if isinstance(c, dict)
        ]  # fmt: skip
        out += [p for p in parts if p]
    return out


@pytest.mark.usefixtures("pi")
class TestEndToEnd:
    pytestmark = E2E

    def test_turn_lifecycle_file_tokens_and_first_prompt(self, pi: Harness) -> None:
        chat: FakeChat = pi.chat  # type: ignore[attr-defined]
        chat.script(
            fm.write_file("hello.txt", "hi from pi\n", delay=3),
            fm.text("I wrote hello.txt.", delay=1),
        )
        started = time.monotonic()
        r = pi.ao("new", TASK)
        assert r.returncode == 0, r.stderr
        pi.wait_activity("d-1", "working", timeout=30)
        ready = pi.wait_activity("d-1", "ready", timeout=40)
        assert ready["evidence"]["source"] == "native:session", ready  # type: ignore[index]
        assert time.monotonic() - started >= 4
        assert all(prompts(r) == [TASK] for r in chat.main_requests()), chat.main_requests()
        meta = pi.metadata("d-1")
        assert (Path(meta["worktree"]) / "hello.txt").read_text() == "hi from pi\n"
        (row,) = pi.ok("list")  # type: ignore[misc]
        assert row["activity"] == "ready"
        info = PiAgent().session_info(meta)
        assert info.native_session_id
        assert info.input_tokens == 2 * INPUT_TOKENS and info.output_tokens == 2 * OUTPUT_TOKENS
        expected = 2 * (INPUT_TOKENS * 3 + OUTPUT_TOKENS * 15) / 1_000_000
        assert info.cost_usd == pytest.approx(expected)

    def test_commands_run_without_asking(self, pi: Harness) -> None:
        chat: FakeChat = pi.chat  # type: ignore[attr-defined]
        chat.script(fm.needs_permission("echo ran > ran.txt"), fm.text("Done."))
        assert pi.ao("new", "run the command").returncode == 0
        pi.wait_activity("d-1", "ready", timeout=40)
        wait_for(lambda: chat.turns_served() >= 2, 20, "both turns")
        assert (Path(pi.metadata("d-1")["worktree"]) / "ran.txt").read_text().strip() == "ran"

    def test_restore_resumes_the_same_conversation(self, pi: Harness) -> None:
        chat: FakeChat = pi.chat  # type: ignore[attr-defined]
        chat.script(fm.text("First answer."), fm.text("Second answer."))
        assert pi.ao("new", "remember the word PELICAN").returncode == 0
        pi.wait_activity("d-1", "ready", timeout=40)
        wait_for(lambda: chat.turns_served() >= 1, 20, "the first turn")
        before = pi.metadata("d-1")
        os.killpg(pi.pane_pid("d-1"), signal.SIGTERM)
        pi.wait_activity("d-1", "exited", timeout=15)
        r = pi.ao("restore", "d-1")
        assert r.returncode == 0, r.stderr
        pi.wait_activity("d-1", "ready", timeout=40)
        assert pi.metadata("d-1")["native_session_file"] == before["native_session_file"]
        sent = pi.ok("send", "d-1", "what was the word?")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        wait_for(lambda: chat.turns_served() >= 2, 30, "the resumed turn")
        last = chat.main_requests()[-1]
        assert prompts(last) == ["remember the word PELICAN", "what was the word?"]
        assert "First answer." in last.text()

    def test_long_task_is_pasted_intact(self, pi: Harness) -> None:
        chat: FakeChat = pi.chat  # type: ignore[attr-defined]
        task = "Summarise these notes.\n" + "\n".join(
            f"{i:04d} línea $x `y` \\ «ok»" for i in range(400)
        )
        r = pi.ao("new", task, timeout=120)
        assert r.returncode == 0, r.stderr
        assert pi.metadata("d-1")["prompt_delivery"] == "delivered"
        wait_for(chat.main_requests, 30, "the pasted prompt to reach the model")
        assert prompts(chat.main_requests()[0]) == [task]

    def test_auth_error_is_blocked(self, pi: Harness) -> None:
        pi.chat.script(fm.auth_error())  # type: ignore[attr-defined]
        assert pi.ao("new", "hello").returncode == 0
        blocked = pi.wait_activity("d-1", "blocked", timeout=40)
        assert "authentication failed" in blocked["evidence"]["detail"], blocked  # type: ignore[index]
        (row,) = pi.ok("list")  # type: ignore[misc]
        assert row["activity"] == "blocked"

    def test_missing_key_is_blocked_until_restored_with_it(
        self, pi: Harness, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A built-in provider (Anthropic, at the fake) with no ANTHROPIC_API_KEY: Pi refuses
        the turn ("No API key found"), blocked, never ready; set it and `ao restore`."""
        models = {"providers": {"anthropic": {"baseUrl": pi.fake.url}}}
        (isolated_env / ".pi" / "agent" / "models.json").write_text(json.dumps(models))
        pi.configure("pi", model="anthropic/claude-sonnet-4-5")
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        pi.fake.script(fm.text("Back again."))
        assert pi.ao("new", "hello").returncode == 0
        pi.blocked("d-1", "No API key found for anthropic")
        assert pi.fake.main_requests() == []  # it never reached the model
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
        pi.recovers("d-1", pi.fake)

    @pytest.mark.parametrize(
        ("step", "reason"),
        [(fm.bad_request(), "the last turn failed: 400 Invalid request: the scripted model"),
         (fm.model_not_found(), "the last turn failed: 404 The model `fake-model` does not")],
        ids=["400", "404"],
    )  # fmt: skip
    def test_request_error_is_blocked(self, pi: Harness, step: fm.Step, reason: str) -> None:
        pi.chat.script(step)  # type: ignore[attr-defined]
        assert pi.ao("new", "hello").returncode == 0
        doc = pi.blocked("d-1", reason)
        assert doc["evidence"]["source"] == "native:session"  # type: ignore[index]

    def test_server_error_is_blocked_once_retries_are_over(self, pi: Harness) -> None:
        """Pi retries a 500 three times (working, "Retrying (k/3)"), then gives up: blocked."""
        chat: FakeChat = pi.chat  # type: ignore[attr-defined]
        chat.script(fm.server_error(500))
        assert pi.ao("new", "hello").returncode == 0
        pi.wait_activity("d-1", "working", timeout=30)
        pi.blocked("d-1", "the last turn failed: 500 The server is overloaded", timeout=90)
        assert len(chat.main_requests()) >= 4  # the first try and Pi's three retries

    def test_unreachable_model_is_blocked_once_retries_are_over(
        self, pi: Harness, isolated_env: Path
    ) -> None:
        """Nothing listens at the provider's address: Pi retries, then gives up: blocked."""
        path = isolated_env / ".pi" / "agent" / "models.json"
        models = json.loads(path.read_text())
        models["providers"]["fake"]["baseUrl"] = "http://127.0.0.1:9/v1"  # refused
        path.write_text(json.dumps(models))
        assert pi.ao("new", "hello").returncode == 0
        pi.blocked("d-1", "the last turn failed: Connection error", timeout=120)

    def test_auth_error_recovers_after_restore(self, pi: Harness) -> None:
        chat: FakeChat = pi.chat  # type: ignore[attr-defined]
        chat.script(fm.auth_error())
        assert pi.ao("new", "hello").returncode == 0
        pi.blocked("d-1", "authentication failed")
        chat.script(fm.text("Back again."))  # the key is good again
        pi.recovers("d-1", chat)

    def test_usage_limit_is_blocked(self, pi: Harness) -> None:
        pi.chat.script(fm.usage_limit())  # type: ignore[attr-defined]
        assert pi.ao("new", "hello").returncode == 0
        blocked = pi.wait_activity("d-1", "blocked", timeout=40)
        assert "usage limit reached" in blocked["evidence"]["detail"], blocked  # type: ignore[index]


def test_version() -> None:
    if agent_bin("pi") is None:
        pytest.skip("pi is not installed")
    version = PiAgent().version()
    assert version is not None and version[0].isdigit()

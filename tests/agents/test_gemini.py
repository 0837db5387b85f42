"""Gemini CLI under ``ao``: recorded screens (fast) and end to end against the fake Gemini API.

The end-to-end tests run the real ``gemini`` (scripts/install-more-agents.sh) in a
private tmux server with ``GOOGLE_GEMINI_BASE_URL`` pointing at ``fakegemini``.
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
from ao_plugins.agent_gemini import GeminiAgent, native, prepare_home, screen

from ao.sdk.contracts import LaunchContext, Observation, PaneState

from . import fakemodel as fm
from .conftest import Harness, agent_bin, require_cli, wait_for
from .fakechat import INPUT_TOKENS, OUTPUT_TOKENS, kill_panes, register_agents
from .fakegemini import FakeGemini, invalid_key

SCREENS = Path(__file__).parent / "screens_more"
TASK = 'Write hello.txt — it says "hi".\n\tKeep $HOME and `ticks` literal; 日本 🚀\nThanks.'
E2E = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]


def load(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- screens


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("gemini-idle", "ready", "prompt is idle"),
        ("gemini-done", "ready", "prompt is idle"),
        ("gemini-cancelled", "ready", "prompt is idle"),
        ("gemini-busy", "working", "busy: Thinking..."),
        ("gemini-tool-running", "working", "busy: Thinking..."),
        ("gemini-permission-write", "needs_input", "Apply this change? (WriteFile"),
        ("gemini-permission-shell", "needs_input", "Allow execution of [Shell]?"),
        ("gemini-trust", "needs_input", "trust-folder"),
        ("gemini-quota", "blocked", "usage limit reached for gemini-3.8-flash"),
        ("gemini-auth", "blocked", "authentication failed: 401"),
        ("gemini-badkey", "blocked", "authentication failed: 400 API key not valid"),
        ("gemini-login", "blocked", "not authenticated"),
        # 404: the CLI's failure dialog (Keep trying / Stop) is no question to answer
        (
            "gemini-model-not-found",
            "blocked",
            "the model call failed: It seems like you don't have access to gemini-3.8-flash.",
        ),
        # any other error above the prompt: the chat log decides (test_failed_turn_…)
        ("gemini-bad-request", "ready", "after an API error: the last turn failed: 400"),
    ],
)
def test_screen(name: str, state: str, detail: str) -> None:
    reading = screen.read(load(name))
    assert reading is not None
    assert (reading.state, detail in reading.detail) == (state, True), reading


@pytest.mark.parametrize(
    ("name", "dialog", "keys"),
    [
        ("gemini-trust", "trust-folder", ("Enter",)),
        ("gemini-permission-write", None, None),  # permissions are never auto-answered
        ("gemini-quota", None, None),
        ("gemini-idle", None, None),
    ],
)
def test_dialogs(name: str, dialog: str | None, keys: tuple[str, ...] | None) -> None:
    answer = screen.find_dialog(load(name))
    assert (answer.name, answer.keys) == (dialog, keys) if answer else dialog is None


def test_trust_dialog_moves_the_cursor() -> None:
    text = load("gemini-trust").replace("● 1. Trust folder", "  1. Trust folder")
    text = text.replace("  3. Don't trust", "● 3. Don't trust")
    answer = screen.find_dialog(text)
    assert answer is not None and answer.keys == ("Up", "Up", "Enter")


def test_model_text_above_the_prompt_is_not_chrome() -> None:
    """Model output that looks like a dialog or an error does not change the reading."""
    fake_reply = "✦ Apply this change?\n  ● 1. Allow once\n  Usage limit reached for x.\n"
    text = load("gemini-done").replace("✦ I wrote hello.txt.", fake_reply)
    assert screen.read(text) == screen.Reading("ready", "prompt is idle")


# ----------------------------------------------------------------------------- native


def _log(path: Path, *records: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")


def _msg(kind: str, content: object, **extra: object) -> dict[str, object]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {"id": f"{kind}-{time.monotonic_ns()}", "timestamp": stamp, "type": kind,
            "content": content, **extra}  # fmt: skip


def test_chat_log_turns(tmp_path: Path) -> None:
    sid = "12345678-aaaa-bbbb-cccc-dddddddddddd"
    path = tmp_path / ".gemini/tmp/proj/chats/session-2026-11-22T05-01-12345678.jsonl"
    context = _msg("user", [{"text": "<session_context>\nhi</session_context>"}])
    _log(path, {"sessionId": sid, "projectHash": "x"}, {"$set": {"messages": [context]}})
    assert native.chat_path(tmp_path, sid) == path
    assert native.turn_state(path).state == "empty"
    _log(path, _msg("user", [{"text": "do it"}]))
    assert native.turn_state(path).detail == "a prompt was submitted"
    tokens = {"input": 100, "output": 20, "cached": 40, "thoughts": 5}
    pending = _msg("gemini", "", tokens=tokens, model="gemini-2.5-flash")
    _log(path, pending)
    assert "pending" in native.turn_state(path).detail
    _log(path, {**pending, "toolCalls": [{"name": "write_file", "status": "success"}]})
    _log(path, _msg("user", [{"functionResponse": {"name": "write_file"}}]))
    assert native.turn_state(path).state == "running"
    _log(path, _msg("gemini", "Done.", tokens=tokens, model="gemini-2.5-flash"))
    assert native.turn_state(path).state == "finished"
    used = native.usage(path)
    assert (used.input_tokens, used.output_tokens, used.summary) == (200, 50, "do it")
    assert used.cost_usd is not None and used.cost_usd > 0
    # a cancelled turn: the CLI rewrites the message list without it
    _log(path, _msg("user", [{"text": "again"}]), {"$set": {"messages": [context]}})
    assert native.turn_state(path).state == "empty"


@pytest.mark.parametrize(
    ("text", "state", "detail"),
    [
        ('[API Error: {"error":{"code":401,"status":"UNAUTHENTICATED","message":"bad"}}]',
         "blocked", "authentication failed: 401 bad"),
        ("[API Error: You have exhausted your daily quota on this model.]\nPlease wait",
         "blocked", "usage limit reached"),
        ("[API Error: fetch failed]", "blocked", "the last turn failed: fetch failed"),
        ('[API Error: {"error":{"code":400,"status":"INVALID_ARGUMENT","message":"Request '
         'contains an invalid argument."}}]', "blocked",
         "the last turn failed: 400 Request contains an invalid argument."),
        ("[API Error: \x1b[31mboom\x1b[0m\x07]", "blocked", "the last turn failed: boom"),
    ],
)  # fmt: skip
def test_error_records(text: str, state: str, detail: str) -> None:
    verdict = native.classify_error(text)
    assert (verdict.state, detail in verdict.detail) == (state, True), verdict


BAD_REQUEST = ('[API Error: {"error":{"code":400,"status":"INVALID_ARGUMENT","message":'
               '"Request contains an invalid argument."}}]')  # fmt: skip
NO_PID = 4_194_304  # PID_MAX_LIMIT: no process has it, so no start time


def test_failed_turn_is_blocked_until_a_later_turn(tmp_path: Path) -> None:
    """An error record ends the turn (the CLI's retries are over): blocked, whatever it was."""
    sid = "abcdefab-0000-0000-0000-000000000000"
    path = tmp_path / f".gemini/tmp/p/chats/session-x-{sid[:8]}.jsonl"
    _log(path, {"sessionId": sid, "projectHash": "x"}, _msg("user", [{"text": "go"}]),
         _msg("error", BAD_REQUEST), _msg("info", "This request failed. Press F12 …"))  # fmt: skip
    meta = {"agent_home": str(tmp_path), "native_session_id": sid}
    pane = PaneState(alive=True, running=True, pid=NO_PID, current_command="node")
    agent = GeminiAgent()
    seen = agent.activity(Observation(pane, load("gemini-bad-request"), meta))
    assert (seen.state, seen.evidence.source) == ("blocked", "native:chat"), seen
    assert seen.evidence.detail == "the last turn failed: 400 Request contains an invalid argument."
    _log(path, _msg("user", [{"text": "again"}]), _msg("gemini", "Done."))
    assert agent.activity(Observation(pane, load("gemini-done"), meta)).state == "ready"


def test_failure_before_a_restart_does_not_block(tmp_path: Path) -> None:
    """`ao restore` after fixing the key: the resumed CLI has not tried yet."""
    sid = "abcdefab-0000-0000-0000-000000000000"
    path = tmp_path / f".gemini/tmp/p/chats/session-x-{sid[:8]}.jsonl"
    old = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60))
    _log(path, {"sessionId": sid, "projectHash": "x"},
         {"id": "e1", "timestamp": old, "type": "error", "content": BAD_REQUEST})  # fmt: skip
    meta = {"agent_home": str(tmp_path), "native_session_id": sid}
    cli = subprocess.Popen(["sleep", "30"])  # the resumed CLI, started after that record
    try:
        os.utime(path, (time.time() + 5, time.time() + 5))  # which it opened since
        pane = PaneState(alive=True, running=True, pid=cli.pid, current_command="node")
        seen = GeminiAgent().activity(Observation(pane, load("gemini-idle"), meta))
    finally:
        cli.kill()
        cli.wait()
    assert seen.state == "ready", seen
    assert seen.evidence.detail.endswith("(before gemini restarted)"), seen


def test_launch_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "home" / ".gemini"
    user.mkdir(parents=True, exist_ok=True)
    (user / "settings.json").write_text('{\n  // mine\n  "ui": {"theme": "x"}\n}\n')
    (user / "oauth_creds.json").write_text('{"refresh_token": "r"}')
    (user / "GEMINI.md").write_text("user memory\n")
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    ctx = LaunchContext("d-1", worktree, "fix it", permissions="bypass", rules="be brief",
                        state_dir=tmp_path / "state", model="gemini-2.5-pro")  # fmt: skip
    spec = GeminiAgent().launch(ctx)
    assert spec.argv[1] == "--session-id" and spec.argv[-1] == "--prompt-interactive=fix it"
    assert spec.argv[3:5] == ["--approval-mode", "yolo"] and "gemini-2.5-pro" in spec.argv
    assert spec.prompt_delivery == "argv"
    assert spec.env["CI"] == "0"  # under CI=true Gemini would start non-interactive and exit
    home = Path(spec.env["GEMINI_CLI_HOME"]) / ".gemini"
    settings = json.loads((home / "settings.json").read_text())
    assert settings["ui"] == {"theme": "x"}
    assert settings["security"]["auth"]["selectedType"] == "gemini-api-key"
    assert json.loads((home / "trustedFolders.json").read_text())[str(worktree)] == "TRUST_FOLDER"
    assert (home / "GEMINI.md").read_text() == "user memory\n\nbe brief\n"
    assert (home / "oauth_creds.json").resolve() == (user / "oauth_creds.json").resolve()
    assert not list(worktree.iterdir())  # nothing written into the repo
    big = LaunchContext("d-1", worktree, "x" * 9000, state_dir=tmp_path / "state")
    assert GeminiAgent().launch(big).prompt_delivery == "post-launch"
    prepare_home(tmp_path / "again", user, worktree, None)  # idempotent, no rules
    prepare_home(tmp_path / "again", user, worktree, None)


def test_activity_order(tmp_path: Path) -> None:
    """A dialog on screen beats the log; an idle prompt ends a stale open turn."""
    sid = "abcdefab-0000-0000-0000-000000000000"
    path = tmp_path / f".gemini/tmp/p/chats/session-x-{sid[:8]}.jsonl"
    old = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60))
    _log(path, {"sessionId": sid, "projectHash": "x"},
         {"id": "u1", "timestamp": old, "type": "user", "content": [{"text": "go"}]})  # fmt: skip
    meta = {"agent_home": str(tmp_path), "native_session_id": sid}
    pane = PaneState(alive=True, running=True, pid=1, current_command="node")
    agent = GeminiAgent()
    seen = agent.activity(Observation(pane, None, meta))
    assert (seen.state, seen.evidence.source) == ("working", "native:chat")
    asked = agent.activity(Observation(pane, load("gemini-permission-shell"), meta))
    assert (asked.state, asked.evidence.source) == ("needs_input", "screen")
    idle = agent.activity(Observation(pane, load("gemini-idle"), meta))
    assert idle.state == "ready" and "no answer" in idle.evidence.detail
    gone = agent.activity(
        Observation(PaneState(alive=True, running=False, exit_status=1), "", meta)
    )
    assert gone.state == "exited"


def test_task_on_the_command_line_is_not_ready_until_logged(tmp_path: Path) -> None:
    """The CLI draws an idle prompt over a bare chat log before it submits its argv task."""
    sid = "abcdefab-0000-0000-0000-000000000000"
    path = tmp_path / f".gemini/tmp/p/chats/session-x-{sid[:8]}.jsonl"
    _log(path, {"sessionId": sid, "projectHash": "x"})
    os.utime(path, (time.time() + 5, time.time() + 5))  # opened after the process started
    meta = {"agent_home": str(tmp_path), "native_session_id": sid, "launch_prompt": "argv"}
    cli = subprocess.Popen(["sleep", "30"])  # a just-started process stands for the CLI
    try:
        _check_argv_task(path, sid, meta, PaneState(alive=True, running=True, pid=cli.pid))
    finally:
        cli.kill()
        cli.wait()


def _check_argv_task(path: Path, sid: str, meta: dict[str, str], pane: PaneState) -> None:
    agent = GeminiAgent()
    waiting = agent.activity(Observation(pane, load("gemini-idle"), meta))
    assert waiting.state == "starting", waiting
    # no task at launch (a resumed or bare session): the idle prompt is ready
    bare = agent.activity(Observation(pane, load("gemini-idle"), {**meta, "launch_prompt": "none"}))
    assert bare.state == "ready", bare
    # the input history has it: it was submitted, then cut off (Escape empties the log)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 10))
    history = path.parent.parent / "logs.json"
    history.write_text(json.dumps([{"sessionId": sid, "type": "user", "message": "go",
                                    "timestamp": stamp}]))  # fmt: skip
    assert agent.activity(Observation(pane, load("gemini-idle"), meta)).state == "ready"
    history.unlink()
    # once the log has the prompt, the turn is working, whatever the screen shows
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    _log(path, {"id": "u1", "timestamp": now, "type": "user", "content": [{"text": "go"}]})
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert agent.activity(Observation(pane, load("gemini-idle"), meta)).state == "working"


# ----------------------------------------------------------------------------- end to end


@pytest.fixture
def gfake() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.close()


@pytest.fixture
def gemini(
    harness: Harness, gfake: FakeGemini, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Harness]:
    """Gemini CLI pointed at the fake Gemini API with an API key."""
    require_cli("gemini")
    register_agents(tmp_path / "eps", monkeypatch)
    for var in ("GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GEMINI_CLI_HOME", "GEMINI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gfake.url)
    monkeypatch.setenv("GEMINI_API_KEY", "fake-gemini-key")
    harness.gem = gfake  # type: ignore[attr-defined]
    harness.configure("gemini")
    yield harness
    kill_panes(harness.server)


def prompts(req: fm.Request | object) -> list[str]:
    """The user-typed prompts in a Gemini request's conversation."""
    body = getattr(req, "body", {})
    out = []
    for content in body.get("contents", []):
        if content.get("role") != "user":
            continue
        for part in content.get("parts", []):
            text = part.get("text")
            if text and not text.lstrip().startswith("<"):
                out.append(text)
    return out


@pytest.mark.usefixtures("gemini")
class TestEndToEnd:
    pytestmark = E2E

    def test_turn_lifecycle_file_tokens_and_first_prompt(self, gemini: Harness) -> None:
        """spawn → working → ready; the real CLI writes a file; tokens are recorded."""
        gem: FakeGemini = gemini.gem  # type: ignore[attr-defined]
        gem.script(
            fm.write_file("hello.txt", "hi from gemini\n", delay=3),
            fm.text("I wrote hello.txt.", delay=1),
        )
        gemini.configure("gemini", permissions="accept-edits")
        started = time.monotonic()
        r = gemini.ao("new", TASK)
        assert r.returncode == 0, r.stderr
        working = gemini.wait_activity("d-1", "working", timeout=30)
        assert working["evidence"]["source"] == "native:chat", working  # type: ignore[index]
        ready = gemini.wait_activity("d-1", "ready", timeout=40)
        assert ready["evidence"]["source"] == "native:chat", ready  # type: ignore[index]
        assert ready["prompt_delivery"] == "delivered"
        assert time.monotonic() - started >= 4  # the fake held the turn for 4 s
        # the first prompt arrived once and intact (it rode on the command line)
        assert all(prompts(r) == [TASK] for r in gem.main_requests()), gem.main_requests()
        meta = gemini.metadata("d-1")
        assert (Path(meta["worktree"]) / "hello.txt").read_text() == "hi from gemini\n"
        assert not (Path(meta["worktree"]) / ".gemini").exists()
        (row,) = gemini.ok("list")  # type: ignore[misc]
        assert row["activity"] == "ready"
        info = GeminiAgent().session_info(meta)
        assert info.native_session_id == meta["native_session_id"]
        assert info.input_tokens == 2 * INPUT_TOKENS and info.output_tokens == 2 * OUTPUT_TOKENS
        assert info.cost_usd is not None and info.cost_usd > 0
        assert info.summary is not None and info.summary.startswith("Write hello.txt")
        assert "agent.dialog" not in gemini.ao("events", "--json").stdout  # trust was seeded

    def test_permission_prompt_is_needs_input_until_answered(self, gemini: Harness) -> None:
        gem: FakeGemini = gemini.gem  # type: ignore[attr-defined]
        gem.script(fm.needs_permission("echo allowed > perm.txt"), fm.text("Ran it."))
        assert gemini.ao("new", "run the command").returncode == 0
        asked = gemini.wait_activity("d-1", "needs_input", timeout=40)
        assert "Allow execution of" in asked["evidence"]["detail"], asked  # type: ignore[index]
        # only the screen shows this prompt: listings read it too (one batched capture)
        (row,) = gemini.ok("list")  # type: ignore[misc]
        assert row["activity"] == "needs_input", row
        time.sleep(3)  # it does not decay while the prompt is on screen
        assert gemini.status("d-1")["activity"] == "needs_input"
        sent = gemini.ok("send", "d-1", "1")  # "1. Allow once"
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        gemini.wait_activity("d-1", "ready", timeout=30)
        worktree = Path(gemini.metadata("d-1")["worktree"])
        assert (worktree / "perm.txt").read_text().strip() == "allowed"

    def test_interrupt_stops_a_long_turn_and_delivers_at_once(self, gemini: Harness) -> None:
        gem: FakeGemini = gemini.gem  # type: ignore[attr-defined]
        gem.script(fm.busy(20, "Slow answer."))
        assert gemini.ao("new", "write a long essay").returncode == 0
        gemini.wait_activity("d-1", "working", timeout=40)
        sent = gemini.ok("send", "d-1", "never mind, stop", "--interrupt", "--wait", "15")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        assert sent["detail"].startswith("interrupted the turn (Escape)"), sent  # type: ignore[index]

        def asked() -> bool:
            later = gem.main_requests()[1:]
            return any("never mind, stop" in "".join(prompts(r)) for r in later)

        # within the 20 s the cut-off turn would have taken: not queued behind it
        wait_for(asked, 12, "the new prompt to reach the model")

    def test_restore_resumes_the_same_conversation(self, gemini: Harness) -> None:
        gem: FakeGemini = gemini.gem  # type: ignore[attr-defined]
        gem.script(fm.text("First answer."), fm.text("Second answer."))
        assert gemini.ao("new", "remember the word PELICAN").returncode == 0
        gemini.wait_activity("d-1", "ready", timeout=40)
        before = gemini.metadata("d-1")
        os.killpg(gemini.pane_pid("d-1"), signal.SIGTERM)  # the CLI re-execs itself in a child
        gemini.wait_activity("d-1", "exited", timeout=15)
        r = gemini.ao("restore", "d-1")
        assert r.returncode == 0, r.stderr
        gemini.wait_activity("d-1", "ready", timeout=40)
        assert gemini.metadata("d-1")["native_session_id"] == before["native_session_id"]
        # Under load the CLI draws its prompt before it has loaded the resumed history; a
        # message sent in that window starts a new conversation. ao does not yet wait for
        # the history (see the closing note of issue #8): the test waits for it on screen.
        wait_for(lambda: "First answer." in gemini.screen("d-1"), 30, "the resumed history")
        sent = gemini.ok("send", "d-1", "what was the word?")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        wait_for(lambda: gem.turns_served() >= 2, 30, "the resumed turn")
        last = gem.main_requests()[-1]
        assert prompts(last) == ["remember the word PELICAN", "what was the word?"]
        assert "First answer." in last.text()
        gemini.wait_activity("d-1", "ready", timeout=30)

    def test_long_task_is_pasted_intact(self, gemini: Harness) -> None:
        """A task too long for the command line is pasted after launch, byte for byte."""
        gem: FakeGemini = gemini.gem  # type: ignore[attr-defined]
        task = "Summarise these notes.\n" + "\n".join(
            f"{i:04d} línea $x `y` \\ «ok»" for i in range(400)
        )
        assert len(task.encode()) > 8000
        r = gemini.ao("new", task, timeout=120)
        assert r.returncode == 0, r.stderr
        assert gemini.metadata("d-1")["prompt_delivery"] == "delivered", gemini.screen("d-1")
        wait_for(gem.main_requests, 30, "the pasted prompt to reach the model")
        sent = prompts(gem.main_requests()[0])
        gemini.wait_activity("d-1", "ready", timeout=30)
        assert sent == [task], (len(sent[0]) if sent else None, len(task))

    @pytest.mark.parametrize("step", [fm.auth_error(), invalid_key()], ids=["401", "bad-key"])
    def test_auth_error_is_blocked(self, gemini: Harness, step: fm.Step) -> None:
        gemini.gem.script(step)  # type: ignore[attr-defined]
        assert gemini.ao("new", "hello").returncode == 0
        blocked = gemini.wait_activity("d-1", "blocked", timeout=40)
        assert "authentication failed" in blocked["evidence"]["detail"], blocked  # type: ignore[index]
        (row,) = gemini.ok("list")  # type: ignore[misc]
        assert row["activity"] == "blocked"  # from the chat log alone

    def test_missing_key_is_blocked_until_restored_with_it(
        self, gemini: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No GEMINI_API_KEY: the CLI asks how to sign in, which is blocked, never ready;
        set the key where ao runs and `ao restore`."""
        monkeypatch.delenv("GEMINI_API_KEY")
        gemini.gem.script(fm.text("Back again."))  # type: ignore[attr-defined]
        assert gemini.ao("new", "hello").returncode == 0
        gemini.blocked("d-1", "not authenticated")
        monkeypatch.setenv("GEMINI_API_KEY", "fake-gemini-key")
        gemini.recovers("d-1", gemini.gem)  # type: ignore[attr-defined]

    def test_auth_error_recovers_after_restore(self, gemini: Harness) -> None:
        gem: FakeGemini = gemini.gem  # type: ignore[attr-defined]
        gem.script(fm.auth_error())
        assert gemini.ao("new", "hello").returncode == 0
        gemini.blocked("d-1", "authentication failed")
        gem.script(fm.text("Back again."))  # the key is good again
        gemini.recovers("d-1", gem)

    @pytest.mark.parametrize(
        ("step", "reason"),
        [(fm.bad_request(), "the last turn failed: 400 Request contains an invalid argument"),
         (fm.model_not_found(), "the model call failed: It seems like you don't have access")],
        ids=["400", "404"],
    )  # fmt: skip
    def test_request_error_is_blocked(self, gemini: Harness, step: fm.Step, reason: str) -> None:
        gemini.gem.script(step)  # type: ignore[attr-defined]
        assert gemini.ao("new", "hello").returncode == 0
        gemini.blocked("d-1", reason)

    def test_usage_limit_is_blocked(self, gemini: Harness) -> None:
        gemini.gem.script(fm.usage_limit())  # type: ignore[attr-defined]
        assert gemini.ao("new", "hello").returncode == 0
        blocked = gemini.wait_activity("d-1", "blocked", timeout=40)
        assert "usage limit reached" in blocked["evidence"]["detail"], blocked  # type: ignore[index]


def test_version_and_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    if agent_bin("gemini") is None:
        pytest.skip("gemini is not installed")
    agent = GeminiAgent()
    version = agent.version()
    assert version is not None and version[0].isdigit()
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    assert agent.auth().kind == "none"
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    assert agent.auth().kind == "api-key"

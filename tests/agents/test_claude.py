"""Claude Code under ``ao``, end to end: real CLI, real tmux, real git, scripted fake model."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import time
import typing as t
from pathlib import Path

import pytest
from ao_plugins.agent_claude import ClaudeCodeAgent

from . import fakemodel as fm
from .conftest import API_KEY, Harness, agent_bin, seed_claude_home, wait_for

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]

TASK = 'Write hello.txt — it says "hi".\n\tKeep $HOME and `ticks` literal; 日本 🚀\nThanks.'


PASTED = re.compile(r'<pasted_content id="(\w+)">\n(.*)\n</pasted_content id="\1">', re.S)
BIG = "".join(f"quote \" ' `x` $(touch pwned) é ü 日本 🚀 \\ back {i}\n" for i in range(180))


def user_prompts(req: fm.Request) -> list[str]:
    """The prompts the user typed or pasted in a request's conversation.

    Claude sends a large paste as ``<pasted_content id=…>TEXT</pasted_content id=…>``.
    """
    prompts = []
    for message in req.body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        parts = [content] if isinstance(content, str) else [
            c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"
        ]  # fmt: skip
        for part in parts:
            pasted = PASTED.search(part)
            if pasted:
                prompts.append(pasted.group(2))
            elif part and not part.lstrip().startswith("<"):
                prompts.append(part)
    return prompts


def test_turn_lifecycle_file_tokens_and_first_prompt(claude: Harness) -> None:
    """spawn → working → ready; the real CLI writes a file; tokens and cost are recorded."""
    claude.fake.script(
        fm.write_file("hello.txt", "hi from claude\n", delay=3),
        fm.text("I wrote hello.txt.", delay=1),
    )
    claude.configure("claude-code", model="claude-sonnet-4-5", permissions="accept-edits")
    started = time.monotonic()
    r = claude.ao("new", TASK)
    assert r.returncode == 0, r.stderr
    working = claude.wait_activity("d-1", "working", timeout=10)
    assert str(working["evidence"]["source"]).startswith("native:"), working  # type: ignore[index]
    ready = claude.wait_activity("d-1", "ready", timeout=30)
    assert ready["evidence"]["source"].startswith("native:sessions/"), ready  # type: ignore[index]
    assert ready["prompt_delivery"] == "delivered"
    elapsed = time.monotonic() - started
    assert elapsed >= 4  # the fake held the turn for 4 s: ready was not declared early

    # the first prompt arrived once, intact, as the first user message (Claude's input box
    # itself turns a pasted tab into four spaces)
    sent = TASK.replace("\t", "    ")
    assert all(user_prompts(r) == [sent] for r in claude.fake.main_requests())

    # a real file, written by the real CLI's Write tool, in the session's worktree
    meta = claude.metadata("d-1")
    assert (Path(meta["worktree"]) / "hello.txt").read_text() == "hi from claude\n"

    # ao list (no screen) agrees, from native files only
    (row,) = claude.ok("list")  # type: ignore[misc]
    assert row["activity"] == "ready"

    info = ClaudeCodeAgent().session_info(meta)
    shown = claude.status("d-1")["info"]  # what `ao status SESSION --json` reports
    assert shown == dataclasses.asdict(info), shown
    assert info.native_session_id == meta["native_session_id"]
    assert info.input_tokens == 2 * fm.INPUT_TOKENS
    assert info.output_tokens == 2 * fm.OUTPUT_TOKENS
    assert info.cost_usd is not None and info.cost_usd > 0
    assert info.summary is not None and info.summary.startswith("Write hello.txt")

    # ao answered the first-run dialogs on the way and logged them
    events = claude.ao("events", "--json").stdout
    dialogs = [json.loads(line)["data"]["dialog"] for line in events.splitlines()
               if json.loads(line).get("type") == "agent.dialog"]  # fmt: skip
    assert "trust-folder" in dialogs and "api-key-confirm" in dialogs, events


def test_permission_prompt_is_needs_input_until_answered(claude: Harness) -> None:
    """A command that needs permission → needs_input (and it stays); `ao send` answers it."""
    claude.fake.script(fm.needs_permission("echo allowed > perm.txt"), fm.text("Ran it.", delay=3))
    r = claude.ao("new", "run the command")
    assert r.returncode == 0, r.stderr
    asked = claude.wait_activity("d-1", "needs_input", timeout=20)
    assert "sessions/" in asked["evidence"]["source"], asked  # type: ignore[index]
    # the screen names the question once it is drawn (the registry may say "waiting" first)
    wait_for(lambda: "Do you want to proceed?" in str(claude.status("d-1")["evidence"]), 10,
             "the question in the evidence")  # fmt: skip
    time.sleep(3)  # it does not decay while the prompt is on screen
    assert claude.status("d-1")["activity"] == "needs_input"
    (row,) = claude.ok("list")  # type: ignore[misc]
    assert row["activity"] == "needs_input"

    sent = claude.ok("send", "d-1", "1")
    assert sent["status"] == "delivered", sent  # type: ignore[index]
    claude.wait_activity("d-1", "working", timeout=10)  # approved: the command ran, model busy
    claude.wait_activity("d-1", "ready", timeout=30)
    worktree = Path(claude.metadata("d-1")["worktree"])
    assert (worktree / "perm.txt").read_text().strip() == "allowed"


def test_large_first_prompt_arrives_whole(claude: Harness) -> None:
    """A 10 KB multi-line task with quotes, unicode and shell syntax reaches the model intact."""
    claude.fake.script(fm.text("Got it."))
    task = BIG.rstrip("\n")
    assert len(task.encode()) > 10_000
    r = claude.ao("new", task)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: claude.fake.turns_served() >= 1, 30, "the first turn")
    assert user_prompts(claude.fake.main_requests()[0]) == [task]


def test_interrupt_stops_a_long_turn_and_delivers_at_once(claude: Harness) -> None:
    """`ao send --interrupt`: Escape ends the turn in progress, the message goes in now."""
    claude.fake.script(fm.busy(20, "Slow answer."))
    assert claude.ao("new", "write a long essay").returncode == 0
    claude.wait_activity("d-1", "working", timeout=30)
    sent = claude.ok("send", "d-1", "never mind, stop", "--interrupt", "--wait", "15")
    assert sent["status"] == "delivered", sent  # type: ignore[index]
    assert sent["detail"].startswith("interrupted the turn (Escape)"), sent  # type: ignore[index]

    def asked() -> bool:  # Claude sends the cut-off prompt and the new one as one message
        later = claude.fake.main_requests()[1:]
        return any("never mind, stop" in "".join(user_prompts(r)) for r in later)

    # within the 20 s the cut-off turn would have taken: not queued behind it
    wait_for(asked, 12, "the new prompt to reach the model")


def test_restore_resumes_the_same_conversation(claude: Harness) -> None:
    """After the CLI dies, `ao restore` continues the same native session (--resume)."""
    claude.fake.script(fm.text("First answer."), fm.text("Second answer."))
    assert claude.ao("new", "remember the word PELICAN").returncode == 0
    claude.wait_activity("d-1", "ready", timeout=30)
    before = claude.metadata("d-1")
    os.kill(claude.pane_pid("d-1"), signal.SIGTERM)
    claude.wait_activity("d-1", "exited", timeout=15)

    r = claude.ao("restore", "d-1")
    assert r.returncode == 0, r.stderr
    claude.wait_activity("d-1", "ready", timeout=30)
    after = claude.metadata("d-1")
    assert after["native_session_id"] == before["native_session_id"]
    sent = claude.ok("send", "d-1", "what was the word?")
    assert sent["status"] == "delivered", sent  # type: ignore[index]
    wait_for(lambda: claude.fake.turns_served() >= 2, 30, "the resumed turn")
    last = claude.fake.main_requests()[-1]
    assert user_prompts(last) == ["remember the word PELICAN", "what was the word?"]
    assert "First answer." in last.text()
    claude.wait_activity("d-1", "ready", timeout=30)


def test_auth_error_is_blocked_with_reason(claude: Harness) -> None:
    claude.fake.script(fm.auth_error())
    assert claude.ao("new", "hello").returncode == 0
    blocked = claude.wait_activity("d-1", "blocked", timeout=30)
    assert "authentication failed" in blocked["evidence"]["detail"], blocked  # type: ignore[index]
    assert blocked["evidence"]["source"] == "native:transcript", blocked  # type: ignore[index]
    (row,) = claude.ok("list")  # type: ignore[misc]
    assert row["activity"] == "blocked"


def test_usage_limit_is_blocked_with_reset_time(
    claude: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscription login hitting its limit: blocked, with the reset time."""
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-fake")
    claude.fake.script(fm.usage_limit(resets_in=2 * 3600))
    assert claude.ao("new", "hello").returncode == 0
    blocked = claude.wait_activity("d-1", "blocked", timeout=30)
    detail = blocked["evidence"]["detail"]  # type: ignore[index]
    assert "usage limit reached" in detail and "resets" in detail, blocked

    # the screen may show it while the CLI still counts as busy; once idle, the
    # transcript's record decides, with the same reason
    def native() -> dict[str, t.Any] | None:
        doc: dict[str, t.Any] = claude.status("d-1")
        return doc if doc["evidence"]["source"] == "native:transcript" else None

    settled = t.cast(dict[str, t.Any], wait_for(native, 15, "the transcript to record it"))
    assert settled["activity"] == "blocked", settled
    assert "resets" in settled["evidence"]["detail"], settled


def test_not_logged_in_is_blocked_until_restored_with_a_key(
    claude: Harness, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    """No key: blocked, never ready; set the key where ao runs and `ao restore`."""
    # the key to come was approved before (else the restored CLI asks, and the watcher,
    # not this test, answers: the spawn tests cover that)
    seed_claude_home(isolated_env, approve_key=True)
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert ClaudeCodeAgent().auth().kind == "none"
    assert claude.ao("new", "hello").returncode == 0
    claude.blocked("d-1", "Not logged in")
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    claude.recovers("d-1", claude.fake)


def test_a_key_only_ao_has_reaches_claude_under_an_older_tmux_server(claude: Harness) -> None:
    """A tmux server started first without ANTHROPIC_API_KEY (or the CLI on PATH); the key
    exported only where `ao new` runs: Claude Code uses it and finishes its turn."""
    claude.start_login_server()
    claude.fake.script(fm.text("Hello with the key."))
    assert claude.ao("new", "hello").returncode == 0
    claude.wait_activity("d-1", "ready", timeout=40)
    assert len(claude.fake.main_requests()) >= 1


def test_auth_error_recovers_after_restore(claude: Harness) -> None:
    claude.fake.script(fm.auth_error())
    assert claude.ao("new", "hello").returncode == 0
    claude.blocked("d-1", "authentication failed")
    claude.fake.script(fm.text("Back again."))  # the key is good again
    claude.recovers("d-1", claude.fake)


@pytest.mark.parametrize(
    ("step", "reason"),
    [(fm.bad_request(), "API Error: 400 Invalid request: the scripted model refuses"),
     (fm.model_not_found(), "issue with the selected model (claude-sonnet-4-5)")],
    ids=["400", "404"],
)  # fmt: skip
def test_request_error_is_blocked(claude: Harness, step: fm.Step, reason: str) -> None:
    """An error no retry fixes ends the turn: blocked with the CLI's own line, never ready."""
    claude.fake.script(step)
    assert claude.ao("new", "hello").returncode == 0
    doc = claude.blocked("d-1", reason)
    assert doc["evidence"]["source"] == "native:transcript", doc  # type: ignore[index]


def test_unreachable_model_is_blocked_once_retries_are_over(
    claude: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens at the base URL: Claude retries, then gives up: blocked."""
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # refused
    assert claude.ao("new", "hello").returncode == 0
    claude.blocked("d-1", "the last turn failed: API Error")


def test_server_error_is_blocked_once_retries_are_over(
    claude: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While Claude retries a 500 it is working; once it gives up, blocked."""
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "1")
    claude.fake.script(fm.server_error(500))
    assert claude.ao("new", "hello").returncode == 0
    claude.blocked("d-1", "API Error: 500 Overloaded")


def test_version_is_probed_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if agent_bin("claude") is None:
        pytest.skip("claude is not installed")
    trace = tmp_path / "trace"
    monkeypatch.setenv("AO_TRACE_SUBPROCESS", str(trace))
    agent = ClaudeCodeAgent()
    version = agent.version()
    assert version is not None and re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert agent.version() == version
    runs = trace.read_text().splitlines() if trace.exists() else []
    assert len([r for r in runs if r.endswith("--version")]) <= 1


def test_answering_no_to_a_permission_prompt_denies_it(claude: Harness) -> None:
    """`ao send S no` picks "No" in Claude's menu (typed text alone would approve it)."""
    claude.fake.script(
        fm.needs_permission("echo allowed > perm.txt"), fm.text("Understood, not running it.")
    )
    assert claude.ao("new", "run the command").returncode == 0
    claude.wait_activity("d-1", "needs_input", timeout=20)
    wait_for(
        lambda: "Do you want to proceed?" in str(claude.status("d-1")["evidence"]), 10, "the menu"
    )
    sent = claude.ok("send", "d-1", "no")
    # the menu's "No" is option 3 or 4 depending on the version; its number is pressed
    assert sent["status"] == "delivered" and "answered the prompt with" in sent["detail"], sent  # type: ignore[index]
    claude.wait_activity("d-1", "ready", timeout=30)
    worktree = Path(claude.metadata("d-1")["worktree"])
    assert not (worktree / "perm.txt").exists()

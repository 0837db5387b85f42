"""Aider under ``ao``: recorded screens and transcripts (fast), end to end against ``fakechat``.

The end-to-end tests run the real ``aider`` (scripts/install-more-agents.sh puts it in its
own venv and links it into the agents' bin) in a private tmux server. The test HOME holds
``~/.aider.conf.yml`` (no update check, no analytics, no model warnings) and
``~/.aider.model.metadata.json`` (prices for the fake model, so Aider reports a cost).
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
from ao_plugins.agent_aider import AiderAgent, native, screen

from ao.sdk.contracts import LaunchContext, Observation, PaneState

from . import fakemodel as fm
from .conftest import Harness, agent_bin, require_cli, wait_for
from .fakechat import FakeChat, kill_panes, register_agents

SCREENS = Path(__file__).parent / "screens_more"
TASK = 'Write hello.txt — it says "hi".\n\tKeep $HOME and `ticks` literal; 日本 🚀\nThanks.'
E2E = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]


def load(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("aider-idle", "ready", "prompt '>' is idle"),
        ("aider-done", "ready", "prompt '>' is idle"),
        ("aider-busy", "working", "busy: waiting for openai/fake-model"),
        ("aider-create-file", "needs_input", "question: Create new file? (Y)es/(N)o [Yes]:"),
        ("aider-quota", "blocked", "usage limit reached"),
        ("aider-auth", "ready", "prompt '>' is idle"),  # the transcript says blocked
        ("aider-bad-request", "ready", "prompt '>' is idle"),  # likewise
    ],
)
def test_screen(name: str, state: str, detail: str) -> None:
    reading = screen.read(load(name))
    assert reading is not None
    assert (reading.state, reading.detail.startswith(detail)) == (state, True), reading


@pytest.mark.parametrize(
    ("question", "dialog"),
    [
        ("Add .aider* to .gitignore (recommended)? (Y)es/(N)o [Yes]:", "gitignore"),
        ("Open documentation url for more info? (Y)es/(N)o/(D)on't ask again [Yes]:", "docs-url"),
        ("Create new file? (Y)es/(N)o [Yes]:", None),  # edits are never auto-answered
        ("Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]:", None),
    ],
)
def test_dialogs(question: str, dialog: str | None) -> None:
    answer = screen.find_dialog(f"Aider v0.86.2\n{question}")
    assert (answer.name if answer else None) == dialog
    if answer:
        assert answer.keys == ("n", "Enter")


def test_transcript_states(tmp_path: Path) -> None:
    history = tmp_path / native.HISTORY
    history.write_text("# aider chat started at 2026-11-22 05:45:51\n\n> Aider v0.86.2  \n")
    assert native.turn_state(tmp_path).state == "empty"
    with history.open("a") as fh:
        fh.write(
            "\n#### do it  \n\nDone.\n\n> Tokens: 1.2k sent, 30 received. Cost: $0.0041 message, $0.0041 session.  \n"
        )
    assert native.turn_state(tmp_path).state == "running"
    (tmp_path / native.WAITING).write_text(str(history.stat().st_size))
    assert native.turn_state(tmp_path).state == "waiting"
    used = native.usage(tmp_path)
    assert (used.summary, used.input_tokens, used.output_tokens, used.cost_usd) == (
        "do it",
        1200,
        30,
        0.0041,
    )
    time.sleep(0.01)
    with history.open("a") as fh:
        fh.write(
            "\n#### again  \n> litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided: sk-fake.  \n"
        )
    assert native.turn_state(tmp_path).state == "running"
    (tmp_path / native.WAITING).write_text(str(history.stat().st_size))
    turn = native.turn_state(tmp_path)
    assert turn.state == "blocked" and turn.detail.startswith(
        "authentication failed: Incorrect API key"
    )


HEADER = "# aider chat started at 2026-11-22 05:45:51\n\n> Aider v0.86.2  \n"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("litellm.BadRequestError: OpenAIException - Invalid request: the scripted model "
         "refuses this request.", "the last turn failed: Invalid request: the scripted model"),
        ("litellm.NotFoundError: OpenAIException - The model `fake-model` does not exist or "
         "you do not have access to it.", "the last turn failed: The model `fake-model`"),
        ("litellm.AuthenticationError: AuthenticationError: OpenAIException - The api_key client "
         "option must be set either by passing api_key to the client or by setting the "
         "OPENAI_API_KEY environment variable", "authentication failed: The api_key client"),
        ("litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.",
         "the last turn failed: Connection error."),
    ],
)  # fmt: skip
def test_failed_turn_is_blocked_until_a_later_turn(tmp_path: Path, error: str, reason: str) -> None:
    """Any API error Aider printed once it stopped retrying blocks, until a turn succeeds."""
    history = tmp_path / native.HISTORY
    history.write_text(f"{HEADER}\n#### hello  \n> {error}  \n> Retrying in 0.2 seconds...  \n")
    (tmp_path / native.WAITING).write_text("0")  # (the marker is older than the retry)
    assert native.turn_state(tmp_path).state == "running"  # still retrying
    with history.open("a") as fh:
        fh.write(f"> {error}  \n\n")
    (tmp_path / native.WAITING).write_text(str(history.stat().st_size))
    meta = {"agent_home": str(tmp_path)}
    pane = PaneState(alive=True, running=True, pid=1, current_command="aider")
    old = time.time() - 60  # long past the moment the screen may lag the transcript
    os.utime(history, (old, old))
    seen = AiderAgent().activity(Observation(pane, load("aider-bad-request"), meta))
    assert (seen.state, seen.evidence.source) == ("blocked", "native:history"), seen
    assert seen.evidence.detail.startswith(reason), seen
    with history.open("a") as fh:
        fh.write("#### again  \n\nDone.\n\n> Tokens: 1.2k sent, 30 received.  \n")
    (tmp_path / native.WAITING).write_text(str(history.stat().st_size))
    assert AiderAgent().activity(Observation(pane, load("aider-done"), meta)).state == "ready"


def test_failure_before_a_restart_does_not_block(tmp_path: Path) -> None:
    """`ao restore` restarts Aider, which writes a new header: what failed before is over."""
    history = tmp_path / native.HISTORY
    history.write_text(f"{HEADER}\n#### hello  \n> litellm.AuthenticationError: nope  \n")
    (tmp_path / native.WAITING).write_text(str(history.stat().st_size))
    assert native.turn_state(tmp_path).state == "blocked"
    with history.open("a") as fh:
        fh.write(f"\n{HEADER}")
    (tmp_path / native.WAITING).write_text(str(history.stat().st_size))
    assert native.turn_state(tmp_path).state == "waiting"


def test_launch_keeps_the_repo_clean(git_repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    ctx = LaunchContext("d-1", git_repo, "fix it", model="openai/gpt-4.1", rules="be brief",
                        permissions="bypass", state_dir=state)  # fmt: skip
    spec = AiderAgent().launch(ctx)
    assert spec.argv[:4] == ["aider", "--model", "openai/gpt-4.1", "--yes-always"]
    assert "--no-gitignore" in spec.argv and spec.prompt_delivery == "post-launch"
    assert spec.argv[spec.argv.index("--read") + 1] == str(state / "aider-conventions.md")
    assert spec.argv[spec.argv.index("--chat-history-file") + 1] == str(state / native.HISTORY)
    exclude = (git_repo / ".git" / "info" / "exclude").read_text()
    assert ".aider*" in exclude.splitlines()
    AiderAgent().launch(ctx)  # idempotent
    assert (git_repo / ".git" / "info" / "exclude").read_text().count(".aider*") == 1
    assert not (git_repo / ".gitignore").exists()
    assert AiderAgent().resume(ctx, spec.metadata) is None  # no transcript yet
    # a linked worktree shares the repository's exclude file
    wt = tmp_path / "wt"
    subprocess.run(["git", "-C", str(git_repo), "worktree", "add", "-q", str(wt)], check=True)
    assert native.git_exclude(wt) == (git_repo / ".git" / "info" / "exclude").resolve()


def test_activity_order(tmp_path: Path) -> None:
    (tmp_path / native.HISTORY).write_text("#### go  \n")
    (tmp_path / native.WAITING).write_text("10\n")
    meta = {"agent_home": str(tmp_path)}
    pane = PaneState(alive=True, running=True, pid=1, current_command="aider")
    agent = AiderAgent()
    seen = agent.activity(Observation(pane, None, meta))
    assert (seen.state, seen.evidence.source) == ("ready", "native:waiting")
    asked = agent.activity(Observation(pane, load("aider-create-file"), meta))
    assert asked.state == "needs_input"


# ----------------------------------------------------------------------------- end to end


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    server = FakeChat().start()
    yield server
    server.close()


@pytest.fixture
def aider(
    harness: Harness,
    chat: FakeChat,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Harness]:
    require_cli("aider")
    register_agents(tmp_path / "eps", monkeypatch)
    (isolated_env / ".aider.conf.yml").write_text(
        "check-update: false\nanalytics-disable: true\nshow-model-warnings: false\n"
        "show-release-notes: false\n"
    )
    prices = {"openai/fake-model": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
              "max_tokens": 8192, "max_input_tokens": 128000, "litellm_provider": "openai",
              "mode": "chat"}}  # fmt: skip
    (isolated_env / ".aider.model.metadata.json").write_text(json.dumps(prices))
    monkeypatch.setenv("OPENAI_API_BASE", chat.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    harness.chat = chat  # type: ignore[attr-defined]
    harness.configure("aider", model="openai/fake-model")
    yield harness
    kill_panes(harness.server)


REMINDER = "\n\nTo suggest changes to a file"  # Aider appends its format rules to a prompt


def prompts(req: object) -> list[str]:
    """The user messages of a chat request (Aider's appended format reminder cut off)."""
    out = []
    for message in getattr(req, "body", {}).get("messages", []):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, str):
            out.append(content.split(REMINDER)[0])
    return out


@pytest.mark.usefixtures("aider")
class TestEndToEnd:
    pytestmark = E2E

    def test_turn_lifecycle_file_tokens_and_first_prompt(self, aider: Harness) -> None:
        chat: FakeChat = aider.chat  # type: ignore[attr-defined]
        chat.script(fm.write_file("hello.txt", "hi from aider\n", delay=3))
        aider.configure("aider", model="openai/fake-model", permissions="auto")
        started = time.monotonic()
        r = aider.ao("new", TASK)
        assert r.returncode == 0, r.stderr
        working = aider.wait_activity("d-1", "working", timeout=30)
        assert working["evidence"]["source"].startswith("native:"), working  # type: ignore[index]
        ready = aider.wait_activity("d-1", "ready", timeout=40)
        assert ready["evidence"]["source"] == "native:waiting", ready  # type: ignore[index]
        assert ready["prompt_delivery"] == "delivered"
        assert time.monotonic() - started >= 3
        (first,) = chat.main_requests()
        assert prompts(first)[-1] == TASK
        meta = aider.metadata("d-1")
        worktree = Path(meta["worktree"])
        assert (worktree / "hello.txt").read_text() == "hi from aider\n"
        status = subprocess.run(["git", "status", "--porcelain"], cwd=worktree,
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert ".aider" not in status, status  # hidden through info/exclude
        (row,) = aider.ok("list")  # type: ignore[misc]
        assert row["activity"] == "ready"
        info = AiderAgent().session_info(meta)
        assert info.summary is not None and info.summary.startswith("Write hello.txt")
        assert info.input_tokens and info.output_tokens
        assert info.cost_usd is not None and info.cost_usd > 0

    def test_question_is_needs_input_until_answered(self, aider: Harness) -> None:
        """Creating a file asks first (default permissions); `ao send y` answers."""
        chat: FakeChat = aider.chat  # type: ignore[attr-defined]
        chat.script(fm.write_file("perm.txt", "allowed\n"))
        assert aider.ao("new", "create perm.txt").returncode == 0
        asked = aider.wait_activity("d-1", "needs_input", timeout=40)
        assert "Create new file?" in asked["evidence"]["detail"], asked  # type: ignore[index]
        time.sleep(3)  # it does not decay while the question is on screen
        assert aider.status("d-1")["activity"] == "needs_input"
        sent = aider.ok("send", "d-1", "y")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        aider.wait_activity("d-1", "ready", timeout=30)
        worktree = Path(aider.metadata("d-1")["worktree"])
        assert (worktree / "perm.txt").read_text() == "allowed\n"

    def test_restore_resumes_the_same_conversation(self, aider: Harness) -> None:
        chat: FakeChat = aider.chat  # type: ignore[attr-defined]
        chat.script(fm.text("First answer."), fm.text("Second answer."))
        assert aider.ao("new", "remember the word PELICAN").returncode == 0
        aider.wait_activity("d-1", "ready", timeout=40)
        wait_for(lambda: chat.turns_served() >= 1, 20, "the first turn")
        os.killpg(aider.pane_pid("d-1"), signal.SIGTERM)
        aider.wait_activity("d-1", "exited", timeout=15)
        r = aider.ao("restore", "d-1")
        assert r.returncode == 0, r.stderr
        aider.wait_activity("d-1", "ready", timeout=40)
        sent = aider.ok("send", "d-1", "what was the word?")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        wait_for(lambda: chat.turns_served() >= 2, 30, "the resumed turn")
        last = chat.main_requests()[-1]
        assert "remember the word PELICAN" in last.text() and "First answer." in last.text()
        assert prompts(last)[-1] == "what was the word?"

    def test_long_task_is_pasted_intact(self, aider: Harness) -> None:
        chat: FakeChat = aider.chat  # type: ignore[attr-defined]
        task = "Summarise these notes.\n" + "\n".join(
            f"{i:04d} línea $x `y` \\ «ok»" for i in range(400)
        )
        r = aider.ao("new", task, timeout=120)
        assert r.returncode == 0, r.stderr
        wait_for(chat.main_requests, 40, "the pasted prompt to reach the model")
        assert prompts(chat.main_requests()[0])[-1] == task

    def test_auth_error_is_blocked(self, aider: Harness) -> None:
        aider.chat.script(fm.auth_error())  # type: ignore[attr-defined]
        assert aider.ao("new", "hello").returncode == 0
        blocked = aider.wait_activity("d-1", "blocked", timeout=40)
        assert "authentication failed" in blocked["evidence"]["detail"], blocked  # type: ignore[index]
        (row,) = aider.ok("list")  # type: ignore[misc]
        assert row["activity"] == "blocked"

    def test_missing_key_is_blocked_until_restored_with_it(
        self, aider: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No OPENAI_API_KEY: the turn fails ("The api_key client option must be set"),
        blocked, never ready; set it where ao runs and `ao restore`."""
        monkeypatch.delenv("OPENAI_API_KEY")
        chat: FakeChat = aider.chat  # type: ignore[attr-defined]
        chat.script(fm.text("Back again."))
        assert aider.ao("new", "hello").returncode == 0
        aider.blocked("d-1", "authentication failed: The api_key client option must be set")
        assert chat.main_requests() == []  # it never reached the model
        monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
        aider.recovers("d-1", chat)

    def test_unreachable_model_is_blocked_once_retries_are_over(
        self, aider: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Nothing listens at the API base: Aider retries for a minute, then gives up."""
        monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/v1")  # refused
        assert aider.ao("new", "hello").returncode == 0
        aider.blocked("d-1", "the last turn failed: Connection error", timeout=180)

    @pytest.mark.parametrize(
        ("step", "reason"),
        [(fm.bad_request(), "the last turn failed: Invalid request: the scripted model"),
         (fm.model_not_found(), "the last turn failed: The model `fake-model` does not")],
        ids=["400", "404"],
    )  # fmt: skip
    def test_request_error_is_blocked(self, aider: Harness, step: fm.Step, reason: str) -> None:
        aider.chat.script(step)  # type: ignore[attr-defined]
        assert aider.ao("new", "hello").returncode == 0
        doc = aider.blocked("d-1", reason)
        assert doc["evidence"]["source"] == "native:history"  # type: ignore[index]

    def test_usage_limit_is_blocked(self, aider: Harness) -> None:
        aider.chat.script(fm.usage_limit())  # type: ignore[attr-defined]
        assert aider.ao("new", "hello").returncode == 0
        blocked = aider.wait_activity("d-1", "blocked", timeout=40)
        assert "usage limit reached" in blocked["evidence"]["detail"], blocked  # type: ignore[index]


def test_version() -> None:
    if agent_bin("aider") is None:
        pytest.skip("aider is not installed")
    version = AiderAgent().version()
    assert version is not None and version[0].isdigit()

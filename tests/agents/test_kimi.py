"""Kimi Code CLI under ``ao``, end to end against ``fakechat``: the real ``kimi`` (PyPI
``kimi-cli`` 1.51.0, from scripts/install-more-agents.sh) in a private tmux server. The
test HOME's ``~/.kimi/config.toml`` has an ``openai_legacy`` provider at the scripted Chat
Completions server, as a user's would; the adapter links it into each session's own share
dir. Kimi's tools are ``Shell``, ``WriteFile``, ``AskUserQuestion``…: the scripts call them
by name. Screens, records and the launch without the CLI: ``test_kimi_offline.py``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import fakemodel as fm
from .conftest import Harness, require_cli, wait_for
from .fakechat import INPUT_TOKENS, OUTPUT_TOKENS, FakeChat, kill_panes

TASK = 'Write hello.txt — it says "hi".\n\tKeep $HOME and `ticks` literal; 日本 🚀\nThanks.'
pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    server = FakeChat().start()
    yield server
    server.close()


def seed_kimi_home(home: Path, base_url: str) -> Path:
    """A user's ``~/.kimi/config.toml`` with a provider at the scripted model."""
    share = home / ".kimi"
    share.mkdir(exist_ok=True)
    (share / "config.toml").write_text(
        'default_model = "fake"\n'
        "telemetry = false\n\n"
        "[models.fake]\n"
        'provider = "fake"\n'
        'model = "fake-model"\n'
        "max_context_size = 100000\n\n"
        "[providers.fake]\n"
        'type = "openai_legacy"\n'
        f'base_url = "{base_url}"\n'
        'api_key = "sk-fake"\n'
    )
    return share


@pytest.fixture
def kimi(
    harness: Harness, chat: FakeChat, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    require_cli("kimi")
    seed_kimi_home(isolated_env, chat.base_url)
    for var in ("KIMI_SHARE_DIR", "KIMI_API_KEY", "KIMI_BASE_URL", "KIMI_MODEL_NAME"):
        monkeypatch.delenv(var, raising=False)
    harness.chat = chat  # type: ignore[attr-defined]
    harness.configure("kimicode")
    yield harness
    kill_panes(harness.server)


def prompts(req: fm.Request) -> list[str]:
    """The user messages of a Chat Completions request."""
    out = []
    for message in req.body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        parts = [content] if isinstance(content, str) else [
            c.get("text", "") for c in content or [] if isinstance(c, dict)
        ]  # fmt: skip
        out += [p for p in parts if p]
    return out


def activities(h: Harness) -> list[object]:
    """What `ao list --json` says each session is doing (no screen: native records only)."""
    rows = h.ok("list")
    assert isinstance(rows, list)
    return [row["activity"] for row in rows]


def tool_result(req: fm.Request) -> str:
    """The content of the last tool message of a request."""
    tools = [m for m in req.body.get("messages", []) if m.get("role") == "tool"]
    content = tools[-1].get("content") if tools else ""
    return content if isinstance(content, str) else json.dumps(content)


@pytest.mark.usefixtures("kimi")
class TestEndToEnd:
    def test_turn_lifecycle_edit_tokens_rules_and_first_prompt(self, kimi: Harness) -> None:
        """spawn → working → ready from the wire log; WriteFile runs without a question
        (accept-edits); the first prompt arrives byte-exact; the rules reach the model."""
        chat: FakeChat = kimi.chat  # type: ignore[attr-defined]
        chat.script(
            fm.tool("WriteFile", {"path": "hello.txt", "content": "hi from kimi\n"}, delay=3),
            fm.text("I wrote hello.txt.", delay=1),
        )
        kimi.configure("kimicode", permissions="accept-edits", agentRules="RULE-7Z: be brief.")
        started = time.monotonic()
        assert kimi.ao("new", TASK).returncode == 0
        working = kimi.wait_activity("d-1", "working", timeout=20)
        assert working["evidence"]["source"] == "native:wire", working  # type: ignore[index]
        ready = kimi.wait_activity("d-1", "ready", timeout=30)
        assert ready["evidence"]["source"] == "native:wire", ready  # type: ignore[index]
        assert time.monotonic() - started >= 4
        requests = chat.main_requests()
        assert all(prompts(r) == [TASK] for r in requests), [prompts(r) for r in requests]
        assert "RULE-7Z: be brief." in requests[0].text()
        meta = kimi.metadata("d-1")
        worktree = Path(meta["worktree"])
        assert (worktree / "hello.txt").read_text() == "hi from kimi\n"
        assert sorted(p.name for p in worktree.iterdir()) == [".git", "README.md", "hello.txt"]
        assert Path(meta["agent_home"]).is_relative_to(Path(os.environ["AO_HOME"]))
        assert activities(kimi) == ["ready"]
        info = kimi.status("d-1")["info"]
        assert info["native_session_id"] == meta["native_session_id"], info  # type: ignore[index]
        assert info["input_tokens"] == 2 * INPUT_TOKENS  # type: ignore[index]
        assert info["output_tokens"] == 2 * OUTPUT_TOKENS  # type: ignore[index]
        assert str(info["summary"]).startswith("Write hello.txt")  # type: ignore[index]

    def test_send_is_delivered_byte_exact_and_answered(self, kimi: Harness) -> None:
        chat: FakeChat = kimi.chat  # type: ignore[attr-defined]
        chat.script(fm.text("First."), fm.text("Second answer.", delay=2))
        assert kimi.ao("new", "hello").returncode == 0
        kimi.wait_activity("d-1", "ready", timeout=30)
        message = "Now this:\n\tline two — «ok» $HOME `x` \\ 🚀\nend"
        sent = kimi.ok("send", "d-1", message)
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        kimi.wait_activity("d-1", "working", timeout=10)
        kimi.wait_activity("d-1", "ready", timeout=30)
        assert prompts(chat.main_requests()[-1]) == ["hello", message]
        assert "Second answer." in kimi.screen("d-1")

    def test_permission_is_needs_input_until_answered(self, kimi: Harness) -> None:
        """A command asks first (default permissions): needs_input that does not decay;
        `ao send d-1 y` approves it, the command runs, the turn ends."""
        chat: FakeChat = kimi.chat  # type: ignore[attr-defined]
        chat.script(fm.tool("Shell", {"command": "echo allowed > perm.txt"}), fm.text("Ran it."))
        assert kimi.ao("new", "run the command").returncode == 0
        asked = kimi.wait_activity("d-1", "needs_input", timeout=30)
        assert "Shell is requesting approval" in asked["evidence"]["detail"], asked  # type: ignore[index]
        time.sleep(2)
        assert kimi.status("d-1")["activity"] == "needs_input"
        worktree = Path(kimi.metadata("d-1")["worktree"])
        assert not (worktree / "perm.txt").exists()
        sent = kimi.ok("send", "d-1", "y")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        kimi.wait_activity("d-1", "ready", timeout=30)
        assert (worktree / "perm.txt").read_text().strip() == "allowed"

    def test_rejected_and_question_answered_by_label(self, kimi: Harness) -> None:
        """`no` rejects a write (nothing written, the turn ends); the model's question is
        answered by an option's label."""
        chat: FakeChat = kimi.chat  # type: ignore[attr-defined]
        question = {"questions": [{"question": "Which colour?", "header": "Colour", "options": [
            {"label": "Red", "description": "warm"}, {"label": "Blue", "description": "cool"}]}]}  # fmt: skip
        chat.script(
            fm.tool("WriteFile", {"path": "no.txt", "content": "x"}),  # rejected: turn over
            fm.tool("AskUserQuestion", question),  # the next turn
            fm.text("Blue it is."),
        )
        assert kimi.ao("new", "write no.txt").returncode == 0
        kimi.wait_activity("d-1", "needs_input", timeout=30)
        assert kimi.ok("send", "d-1", "no")["status"] == "delivered"  # type: ignore[index]
        kimi.wait_activity("d-1", "ready", timeout=30)
        assert not (Path(kimi.metadata("d-1")["worktree"]) / "no.txt").exists()
        sent = kimi.ok("send", "d-1", "pick a colour")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        asked = kimi.wait_activity("d-1", "needs_input", timeout=30)
        assert asked["evidence"]["detail"] == "question: Which colour?", asked  # type: ignore[index]
        assert activities(kimi) == ["needs_input"]  # the wire log records questions
        assert kimi.ok("send", "d-1", "Blue")["status"] == "delivered"  # type: ignore[index]
        kimi.wait_activity("d-1", "ready", timeout=30)
        wait_for(lambda: "Blue" in tool_result(chat.main_requests()[-1]), 10, "the answer")

    def test_long_task_is_pasted_intact(self, kimi: Harness) -> None:
        chat: FakeChat = kimi.chat  # type: ignore[attr-defined]
        task = "Summarise these notes.\n" + "\n".join(
            f"{i:04d} línea $x `y` \\ «ok»\ttab" for i in range(400)
        )
        assert kimi.ao("new", task, timeout=120).returncode == 0
        assert kimi.metadata("d-1")["prompt_delivery"] == "delivered"
        wait_for(chat.main_requests, 30, "the pasted prompt to reach the model")
        assert prompts(chat.main_requests()[0]) == [task]

    def test_restore_resumes_the_same_conversation(self, kimi: Harness) -> None:
        chat: FakeChat = kimi.chat  # type: ignore[attr-defined]
        chat.script(fm.text("First answer."), fm.text("Second answer."))
        assert kimi.ao("new", "remember the word PELICAN").returncode == 0
        kimi.wait_activity("d-1", "ready", timeout=30)
        wait_for(lambda: chat.turns_served() >= 1, 20, "the first turn")
        before = kimi.metadata("d-1")
        os.killpg(kimi.pane_pid("d-1"), signal.SIGTERM)
        kimi.wait_activity("d-1", "exited", timeout=15)
        r = kimi.ao("restore", "d-1")
        assert r.returncode == 0, r.stderr
        kimi.wait_activity("d-1", "ready", timeout=30)
        assert kimi.metadata("d-1")["native_session_id"] == before["native_session_id"]
        sent = kimi.ok("send", "d-1", "what was the word?")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        wait_for(lambda: chat.turns_served() >= 2, 30, "the resumed turn")
        last = chat.main_requests()[-1]
        assert prompts(last) == ["remember the word PELICAN", "what was the word?"]
        assert "First answer." in last.text()

    def test_bypass_runs_commands_without_asking_and_interrupts(self, kimi: Harness) -> None:
        chat: FakeChat = kimi.chat  # type: ignore[attr-defined]
        run = fm.tool("Shell", {"command": "echo ran > ran.txt"})
        chat.script(run, fm.text("Done."), fm.busy(30, "too late"))
        kimi.configure("kimicode", permissions="bypass")
        assert kimi.ao("new", "run it").returncode == 0
        kimi.wait_activity("d-1", "ready", timeout=30)
        wait_for(lambda: chat.turns_served() >= 2, 20, "both turns")
        assert (Path(kimi.metadata("d-1")["worktree"]) / "ran.txt").read_text().strip() == "ran"
        assert kimi.ok("send", "d-1", "take your time")["status"] == "delivered"  # type: ignore[index]
        kimi.wait_activity("d-1", "working", timeout=10)
        # an interrupted turn adds no reply: the next request has the same position
        chat.script(run, fm.text("Done."), fm.text("Interrupted, then this."))
        sent = kimi.ok("send", "--interrupt", "d-1", "stop and do this")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        kimi.wait_activity("d-1", "ready", timeout=30)
        assert prompts(chat.main_requests()[-1])[-2:] == ["take your time", "stop and do this"]
        assert "Interrupted, then this." in kimi.screen("d-1")

    def test_auth_error_is_blocked_until_restored(self, kimi: Harness) -> None:
        chat: FakeChat = kimi.chat  # type: ignore[attr-defined]
        chat.script(fm.auth_error())
        assert kimi.ao("new", "hello").returncode == 0
        doc = kimi.blocked("d-1", "authentication failed: 401 Incorrect API key provided")
        assert doc["evidence"]["source"] == "native:wire"  # type: ignore[index]
        chat.script(fm.text("Back again."))  # the key is good again
        kimi.recovers("d-1", chat)

    def test_usage_limit_is_blocked(self, kimi: Harness) -> None:
        kimi.chat.script(fm.usage_limit())  # type: ignore[attr-defined]
        assert kimi.ao("new", "hello").returncode == 0
        kimi.blocked("d-1", "usage limit reached: 429 You exceeded your current quota")

    def test_no_model_fails_the_spawn(self, kimi: Harness, isolated_env: Path) -> None:
        """Without a model Kimi says so at start: `ao new` fails and rolls back."""
        (isolated_env / ".kimi" / "config.toml").write_text("telemetry = false\n")
        r = kimi.ao("new", "hello")
        assert r.returncode != 0
        assert "no model is configured" in r.stderr, r.stderr
        assert kimi.chat.main_requests() == []  # type: ignore[attr-defined]

    def test_orchestrator_calls_ao_tools_without_asking_and_workers_get_its_env(
        self, kimi: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`ao orchestrate` with Kimi: ao's MCP server is in its config, its tools run
        without a question (approved for the session at launch), and the worker that
        `create_task` starts gets the orchestrator's environment, a secret variable
        included, though Kimi starts MCP servers with a handful of variables only."""
        chat: FakeChat = kimi.chat  # type: ignore[attr-defined]
        monkeypatch.setenv("KIMI_TEST_SECRET_TOKEN", "tok-5Q")
        kimi.configure("kimicode", permissions="accept-edits")
        goal = {"goal": "WORKER-K: write token.txt", "verify": ["test -s token.txt"]}
        chat.route("ORCH-K", fm.tool("create_task", goal), fm.text("A worker started."))
        command = 'printf %s "$KIMI_TEST_SECRET_TOKEN" > token.txt'
        chat.route("WORKER-K", fm.tool("Shell", {"command": command}), fm.text("Written."))
        r = kimi.ao("orchestrate", "ORCH-K: get the token written", "--json", timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        orch = json.loads(r.stdout)["data"]["id"]

        def task() -> dict[str, object] | None:
            rows = kimi.ok("task", "list")
            assert isinstance(rows, list)
            return rows[0] if rows and rows[0].get("session") else None

        found = wait_for(task, 60, "the task create_task starts")
        assert isinstance(found, dict) and found["parent"] == orch  # AO_SESSION_ID reached it
        worker = str(found["session"])
        assert kimi.status(orch)["activity"] != "needs_input"  # the MCP tool did not ask
        kimi.wait_activity(worker, "needs_input", timeout=60)  # its command asks (accept-edits)
        assert kimi.ok("send", worker, "y")["status"] == "delivered"  # type: ignore[index]
        kimi.wait_activity(worker, "ready", timeout=30)
        token = Path(str(kimi.status(worker)["worktree"])) / "token.txt"
        assert token.read_text() == "tok-5Q"
        kimi.wait_activity(orch, "ready", timeout=30)
        assert "A worker started." in kimi.screen(orch)

"""Cursor CLI adapter against screens *written* from its documented strings (not recorded).

Cursor's CLI (``cursor-agent``) is distributed only through cursor.com's installer,
which is not reachable from ao's development machines (npm, PyPI and Debian only), so
there is no end-to-end test. ``screens_more/cursor-*.txt`` are reconstructions built
from the strings other orchestrators document for it (busy ``ctrl+c to stop`` and
``⬢ Generating…``, approval ``Run this command?`` / ``Run (once) (y)`` / ``Skip (esc or
n)``, menus ``↑/↓ to navigate``, idle placeholders ``Plan, search, build anything`` and
``Add a follow-up``); see screens_more/README.md and docs/agents-more.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ao_plugins.agent_cursor import CursorAgent, chats_dir, newest_chat, screen

from ao.sdk.contracts import LaunchContext, Observation, PaneState

SCREENS = Path(__file__).parent / "screens_more"


def load(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("cursor-idle", "ready", "input is idle"),
        ("cursor-done", "ready", "input is idle"),
        ("cursor-busy", "working", "busy: ⬢ Generating…"),
        ("cursor-approval", "needs_input", "approval prompt: Run this command?"),
        ("cursor-trust", "needs_input", "workspace-trust question"),
        ("cursor-menu", "needs_input", "a menu is open"),
        ("cursor-login", "blocked", "not logged in"),
        ("cursor-usage", "blocked", "usage limit"),
        ("cursor-bad-key", "blocked", "authentication failed: Warning: The provided API key"),
        # a question in the model's reply, above an idle input, is not chrome
        ("cursor-transcript-question", "ready", "input is idle"),
    ],
)
def test_screen(name: str, state: str, detail: str) -> None:
    reading = screen.read(load(name))
    assert reading is not None
    assert (reading.state, reading.detail.startswith(detail)) == (state, True), reading


def test_trust_dialog_uses_its_key() -> None:
    answer = screen.find_dialog(load("cursor-trust"))
    assert answer is not None and (answer.name, answer.keys) == ("trust-workspace", ("a",))
    assert screen.find_dialog(load("cursor-approval")) is None  # approvals are never automatic


def test_launch(tmp_path: Path) -> None:
    ctx = LaunchContext("d-1", tmp_path, "fix it", model="gpt-5", rules="be brief",
                        permissions="bypass", state_dir=tmp_path / "s")  # fmt: skip
    spec = CursorAgent().launch(ctx)
    assert spec.argv == ["cursor-agent", "--model", "gpt-5", "--force", "--sandbox", "disabled",
                         "--approve-mcps", "be brief\n\nfix it"]  # fmt: skip
    assert spec.prompt_delivery == "argv"
    long = CursorAgent({"command": ["agent"]}).launch(LaunchContext("d-1", tmp_path, "x" * 9000))
    assert long.argv == ["agent"] and long.prompt_delivery == "post-launch"
    assert not list(tmp_path.glob("*.md"))


def test_resume_finds_the_newest_chat_of_the_worktree(tmp_path: Path) -> None:
    cwd = str(tmp_path / "wt")
    base = chats_dir(cwd, tmp_path)
    for chat, updated, has in (("old", 1, True), ("new", 3, True), ("empty", 9, False)):
        (base / chat).mkdir(parents=True)
        meta = {"updatedAtMs": updated, "hasConversation": has}
        (base / chat / "meta.json").write_text(json.dumps(meta))
    assert newest_chat(cwd, tmp_path) == "new"
    assert newest_chat(str(tmp_path / "other"), tmp_path) is None


def test_activity_needs_a_screen() -> None:
    pane = PaneState(alive=True, running=True, pid=1, current_command="cursor-agent")
    agent = CursorAgent()
    assert agent.activity(Observation(pane, None, {})).state == "unknown"
    assert agent.activity(Observation(pane, load("cursor-busy"), {})).state == "working"
    assert agent.activity(Observation(pane, "booting", {})).state == "starting"
    dead = PaneState(alive=True, running=False, exit_status=1)
    assert agent.activity(Observation(dead, "", {})).state == "exited"


def test_auth_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CURSOR_API_KEY", raising=False)
    assert CursorAgent().auth().kind == "none"
    monkeypatch.setenv("CURSOR_API_KEY", "key")
    assert CursorAgent().auth().kind == "api-key"

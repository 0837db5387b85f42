"""The screen rules against screens recorded from the real CLIs (fast; no CLI needed).

Recorded with tmux 200x50 from Claude Code 2.1.330 and Codex 0.169.0 while driving them
against tests/agents/fakemodel.py (see docs/agents.md for how to record more).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ao_plugins.agent_claude import screen as claude_screen
from ao_plugins.agent_codex import screen as codex_screen

from ao.sdk.agentkit import choose_option, find_prompt_box, screen_lines

SCREENS = Path(__file__).parent / "screens"


def load(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("claude-done", "ready", "prompt box is idle"),
        ("claude-busy", "working", "Ebbing"),
        ("claude-retrying-529", "working", "retrying after 529"),
        ("claude-permission-bash", "needs_input", "Do you want to proceed?"),
        ("claude-permission-write", "needs_input", "Do you want to create hello.txt?"),
        ("claude-trust", "needs_input", "trust-folder"),
        ("claude-api-key-dialog", "needs_input", "api-key-confirm"),
        ("claude-bypass-warning", "needs_input", "bypass-permissions-accept"),
        ("claude-usage-limit", "blocked", "usage limit reached; resets 5:25am"),
        ("claude-not-logged-in", "blocked", "Not logged in"),
        ("claude-invalid-api-key", "blocked", "Invalid API key"),
        # the 429 text is a model-area message, not chrome: the screen alone says ready
        # (the transcript's API error makes it blocked; see test_native.py)
        ("claude-api-key-429", "ready", "prompt box is idle"),
    ],
)
def test_claude_screen(name: str, state: str, detail: str) -> None:
    reading = claude_screen.read(load(name))
    assert reading is not None
    assert (reading.state, detail in reading.detail) == (state, True), reading


def test_claude_auth_retry_is_blocked() -> None:
    """The recorded 529 retry line, as Claude prints it for a retried 401."""
    text = load("claude-retrying-529").replace("529 Overloaded", "401 invalid x-api-key")
    reading = claude_screen.read(text)
    assert reading is not None and reading.state == "blocked"
    assert "authentication failed (401" in reading.detail


@pytest.mark.parametrize(
    ("name", "dialog", "keys"),
    [
        ("claude-trust", "trust-folder", ("Down", "Enter")),  # the cursor starts on "No, exit"
        ("claude-api-key-dialog", "api-key-confirm", ("Up", "Enter")),  # on "No (recommended)"
        ("claude-bypass-warning", "bypass-permissions-accept", ("Down", "Enter")),
        ("claude-done", None, None),
        ("claude-permission-bash", None, None),  # permissions are never auto-answered
        ("claude-busy", None, None),
    ],
)
def test_claude_dialogs(name: str, dialog: str | None, keys: tuple[str, ...] | None) -> None:
    answer = claude_screen.find_dialog(load(name))
    if dialog is None:
        assert answer is None
    else:
        assert answer is not None and (answer.name, answer.keys) == (dialog, keys)


def test_claude_trust_with_cursor_already_on_yes() -> None:
    text = (
        load("claude-trust")
        .replace("❯ No, exit", "  No, exit")
        .replace("   Yes, I trust", " ❯ Yes, I trust")
    )
    answer = claude_screen.find_dialog(text)
    assert answer is not None and answer.keys == ("Enter",)


def test_claude_tool_output_above_the_box_is_ignored() -> None:
    """Words like 'esc to interrupt' or a permission question in the transcript do not count."""
    noise = "● Bash(echo 'Do you want to proceed? esc to interrupt · Usage limit reached')\n" * 30
    reading = claude_screen.read(noise + load("claude-done"))
    assert reading is not None and reading.state == "ready"


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("codex-start", "ready", "composer is idle"),
        ("codex-done", "ready", "composer is idle"),
        ("codex-busy", "working", "Working (0s"),
        ("codex-approval", "needs_input", "Would you like to run the following command?"),
        ("codex-trust", "needs_input", "trust-folder"),
        ("codex-sign-in", "blocked", "not logged in"),
        ("codex-401-reconnecting", "blocked", "401 Unauthorized"),
        ("codex-startup-composer", "starting", "no status line yet"),
        ("codex-usage-limit", "ready", "composer is idle"),  # the rollout says blocked
    ],
)
def test_codex_screen(name: str, state: str, detail: str) -> None:
    reading = codex_screen.read(load(name))
    assert reading is not None
    assert (reading.state, detail in reading.detail) == (state, True), reading


def test_codex_dialogs() -> None:
    answer = codex_screen.find_dialog(load("codex-trust"))
    assert answer is not None and (answer.name, answer.keys) == ("trust-folder", ("Enter",))
    assert codex_screen.find_dialog(load("codex-approval")) is None  # never auto-approved
    assert codex_screen.find_dialog(load("codex-sign-in")) is None


def test_codex_update_offer_skips() -> None:
    screen = (
        "  ✨ Update available! 0.169.0 -> 0.170.0\n\n"
        "› 1. Update now (runs `npm install -g @openai/codex`)\n"
        "  2. Skip\n"
        "  3. Skip until next version\n\n"
        "  Press enter to continue\n"
    )
    answer = codex_screen.find_dialog(screen)
    assert answer is not None and answer.keys == ("Down", "Enter")


# ----------------------------------------------------------------------------- agentkit


def test_side_panel_is_cut_off() -> None:
    lines = screen_lines(load("claude-permission-bash"))
    assert all("│" not in line for line in lines)
    assert any(line.strip() == "Do you want to proceed?" for line in lines)


def test_prompt_box_found_only_near_the_bottom() -> None:
    lines = screen_lines(load("claude-done"))
    box = find_prompt_box(lines, "❯")
    assert box is not None and box.input == ("❯",)
    assert any("for shortcuts" in line for line in box.footer)
    assert find_prompt_box([*lines, *["filler"] * 20], "❯") is None


def test_choose_option_skips_description_lines() -> None:
    menu = [
        "> 1. Sign in with ChatGPT",
        "     Usage included with Plus",
        "  2. Sign in with Device Code",
        "     Sign in from another device",
        "  3. Sign in another way",
    ]
    import re

    assert choose_option(menu, re.compile("another way"), ">") == ("Down", "Down", "Enter")
    assert choose_option(menu, re.compile("nowhere"), ">") is None
    assert choose_option(menu[1:], re.compile("another way"), ">") is None  # no cursor

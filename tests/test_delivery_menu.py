"""Answering agents' permission menus with keys, on screens recorded from the real CLIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ao.delivery import menu_keys

SCREENS = Path(__file__).parent / "agents" / "screens"


@pytest.mark.parametrize(
    ("screen", "text", "keys"),
    [
        ("claude-permission-bash.txt", "no", ("4",)),
        ("claude-permission-bash.txt", "n", ("4",)),
        ("claude-permission-bash.txt", "yes", ("1",)),
        ("claude-permission-bash.txt", " 2 ", ("2",)),
        ("codex-approval.txt", "y", ("y",)),
        ("codex-approval.txt", "no", ("Escape",)),
        ("codex-approval.txt", "2", ("p",)),
    ],
)
def test_menu_answers_pick_the_named_option(screen: str, text: str, keys: tuple[str, ...]) -> None:
    assert menu_keys((SCREENS / screen).read_text(), text) == keys


@pytest.mark.parametrize("text", ["9", "please use a different file name", ""])
def test_text_that_names_no_option_is_typed_instead(text: str) -> None:
    assert menu_keys((SCREENS / "claude-permission-bash.txt").read_text(), text) is None


def test_a_screen_without_a_menu_is_left_alone() -> None:
    assert menu_keys((SCREENS / "claude-done.txt").read_text(), "no") is None
    assert menu_keys("Deploy to prod? [y/N] ", "y") is None

"""Answering agents' permission menus with keys, on screens recorded from the real CLIs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ao.sdk.contracts import Activity, Evidence, Observation, PaneState, RuntimeHandle
from ao.session.delivery import MENU_SETTLE, deliver, menu_keys

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


class _SlowMenuPane:
    """A pane whose agent announced an approval natively before drawing its menu.

    This stands in for the real CLI only to control *when* the menu appears; the real
    Codex run of the same case is tests/agents/test_codex.py.
    """

    def __init__(self, menu_after: int) -> None:
        self.captures = 0
        self.menu_after = menu_after
        self.keys: list[str] = []
        self.pasted: list[str] = []

    # runtime
    def probe(self) -> dict[str, PaneState]:
        return {"s": PaneState(alive=True, running=True)}

    def capture(self, handle: RuntimeHandle, lines: int) -> str:
        self.captures += 1
        if self.keys:
            return "• Working (1s)"
        menu = (SCREENS / "codex-approval.txt").read_text()
        return menu if self.captures > self.menu_after else "› "

    def send_keys(self, handle: RuntimeHandle, *keys: str) -> None:
        self.keys += keys

    def paste(self, handle: RuntimeHandle, text: str) -> None:
        self.pasted.append(text)

    # agent
    def activity(self, obs: Observation) -> Activity:
        if self.keys:
            return Activity("working", Evidence("native", "turn running"))
        return Activity("needs_input", Evidence("native", "awaiting approval: rm -rf x"))

    def settle_delay(self) -> float:
        return 0.0


def test_a_choice_waits_for_the_menu_instead_of_being_typed() -> None:
    """ "no" typed and submitted into a menu drawn a moment later would approve."""
    pane = _SlowMenuPane(menu_after=5)
    handle = RuntimeHandle("tmux", "s", "%1")
    result = deliver(pane, pane, handle, "no", wait=1.0)  # type: ignore[arg-type]
    assert pane.pasted == [] and pane.keys == ["Escape"]
    assert result.status == "delivered" and "Escape" in result.detail


def test_typing_into_the_same_question_is_not_a_new_turn() -> None:
    """Text pasted while the agent still asks the same question proves nothing."""

    class Stuck(_SlowMenuPane):
        def capture(self, handle: RuntimeHandle, lines: int) -> str:
            return "Which file? "

        def activity(self, obs: Observation) -> Activity:
            return Activity("needs_input", Evidence("native", "asked: which file?"))

    pane = Stuck(menu_after=0)
    handle = RuntimeHandle("tmux", "s", "%1")
    result = deliver(pane, pane, handle, "a.txt", wait=1.0, confirm_timeout=0.3, enter_retries=1)  # type: ignore[arg-type]
    assert pane.pasted == ["a.txt"] and pane.keys == ["Enter", "Enter"]
    assert result.status == "unconfirmed"


def test_keys_wait_until_a_just_drawn_menu_settles() -> None:
    """A menu drawn a moment ago drops keys (Claude Code): pause before pressing."""

    class Timed(_SlowMenuPane):
        def __init__(self) -> None:
            super().__init__(menu_after=3)
            self.menu_seen_at: float | None = None
            self.pressed_at: float | None = None

        def capture(self, handle: RuntimeHandle, lines: int) -> str:
            shown = super().capture(handle, lines)
            if self.menu_seen_at is None and "Would you like" in shown:
                self.menu_seen_at = time.monotonic()
            return shown

        def send_keys(self, handle: RuntimeHandle, *keys: str) -> None:
            self.pressed_at = time.monotonic()
            super().send_keys(handle, *keys)

    pane = Timed()
    result = deliver(pane, pane, RuntimeHandle("tmux", "s", "%1"), "y", wait=1.0)  # type: ignore[arg-type]
    assert result.status == "delivered" and pane.keys == ["y"]
    assert pane.menu_seen_at is not None and pane.pressed_at is not None
    assert pane.pressed_at - pane.menu_seen_at >= MENU_SETTLE


class _TranscriptPane(_SlowMenuPane):
    """An agent that was ready on its transcript; ``records`` says whether Enter reached it.

    The screen changes after every Enter (the input box redraws) whether or not the
    agent took the text, as real TUIs do.
    """

    def __init__(self, records: bool) -> None:
        super().__init__(menu_after=0)
        self.records = records
        self.finished_at = time.time() - 30  # the previous turn's last record
        self.enters = 0

    def capture(self, handle: RuntimeHandle, lines: int) -> str:
        return f"> {'' if self.enters else ''.join(self.pasted)}\n  redraw {self.enters}"

    def send_keys(self, handle: RuntimeHandle, *keys: str) -> None:
        super().send_keys(handle, *keys)
        self.enters += keys.count("Enter")
        if self.records:
            self.finished_at = time.time()  # a fast turn: prompt and answer already written

    def activity(self, obs: Observation) -> Activity:
        age = time.time() - self.finished_at
        return Activity("ready", Evidence("native:transcript", "the turn finished", age))


def test_a_redrawn_screen_is_no_proof_when_the_transcript_did_not_move() -> None:
    pane = _TranscriptPane(records=False)
    handle = RuntimeHandle("tmux", "s", "%1")
    result = deliver(pane, pane, handle, "hi", wait=1.0, confirm_timeout=0.3, enter_retries=1)  # type: ignore[arg-type]
    assert result.status == "unconfirmed", result
    assert pane.keys == ["Enter", "Enter"]


def test_a_transcript_record_after_enter_proves_even_a_finished_turn() -> None:
    pane = _TranscriptPane(records=True)
    handle = RuntimeHandle("tmux", "s", "%1")
    result = deliver(pane, pane, handle, "hi", wait=1.0, confirm_timeout=1.0)  # type: ignore[arg-type]
    assert result.status == "delivered" and "recorded the input" in result.detail, result
    assert pane.keys == ["Enter"]

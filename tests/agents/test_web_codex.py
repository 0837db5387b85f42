"""The dashboard's page answering a real agent CLI's permission prompt: Codex under `ao`
against the scripted model, its approval menu shown as buttons in a real browser
(tests/browserkit.py), one click delivered through the same verified send as `ao send`,
and the command it approved actually run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browserkit import artifacts, css, terminal_text, until
from tests.webkit import start_board_in

from . import fakemodel as fm
from .conftest import Harness

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_permission_prompt_is_answered_from_the_page(codex: Harness, browser: WebDriver) -> None:
    codex.fake.script(fm.needs_permission("echo allowed > perm.txt"), fm.text("Ran it.", delay=2))
    board = start_board_in(codex.repo.parent)
    try:
        browser.get(f"{board.url}/?token={board.token}")
        until(browser, lambda d: css(d, "#conn")[0].text == "live", what="the event stream")
        assert codex.ao("new", "run the command").returncode == 0

        needs = '[data-group="needs"] article[data-session="d-1"]'
        until(browser, lambda d: css(d, needs), 40, "the session under “Needs you”")
        until(browser, lambda d: "Asks:" in css(d, needs)[0].text, what="its question")
        css(browser, f"{needs} a.sid")[0].click()
        # the menu as Codex draws it, one button per option
        until(browser, lambda d: "Yes, proceed" in terminal_text(d), 30, "the prompt on screen")
        button = until(browser, lambda d: css(d, '#answers button[data-reply="1"]'), 20,
                       "the menu's buttons")[0]  # fmt: skip
        assert "Yes, proceed" in button.text
        assert any("No" in b.text for b in css(browser, "#answers button.answer"))
        browser.save_screenshot(str(artifacts() / "dashboard-codex-permission.png"))
        button.click()
        until(browser, lambda d: css(d, "#message-status")[0].text.startswith("delivered"), 40,
              "the answer delivered")  # fmt: skip
        worktree = Path(codex.metadata("d-1")["worktree"])
        until(browser, lambda d: (worktree / "perm.txt").exists(), 30, "the approved command")
        assert (worktree / "perm.txt").read_text().strip() == "allowed"
        until(browser, lambda d: "Ran it." in terminal_text(d), 30, "the model's reply")
        codex.wait_activity("d-1", "ready", timeout=30)
        time.sleep(1.5)  # one more snapshot: the card has left "Needs you"
        assert not css(browser, "#answers:not([hidden])")
    finally:
        board.stop()

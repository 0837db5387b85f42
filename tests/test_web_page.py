"""The dashboard's page in a real browser (Debian's headless Chromium through Selenium,
tests/browserkit.py) against the real server (`ao dashboard`), real tmux sessions of the
shell agent and real git: the token kept in a cookie, a session made by `ao new` showing
up within 2 s, its live terminal, a message delivered, input unlocked and typed, the
terminal resized, a question answered with its buttons, the new-session form, stop and
restore, and "Open PR" against the fake GitHub. Screenshots of the fleet and of a session
land in the test artifacts.

The same with a real agent CLI's permission prompt: tests/agents/test_web_codex.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.browserkit import artifacts, css, terminal_text, until
from tests.fakes.fakegithub import FakeGitHub
from tests.github_kit import fake  # noqa: F401  (fixture)
from tests.sessionkit import Project
from tests.webkit import Board, start_board

pytestmark = [pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]
REPO = "acme/demo"


def login(driver: WebDriver, board: Board) -> None:
    """Open the URL `ao dashboard` printed; the page is live once its stream is open."""
    driver.get(f"{board.url}/?token={board.token}")
    until(driver, lambda d: d.current_url == f"{board.url}/", what="the token to leave the URL")
    until(driver, lambda d: css(d, "#conn")[0].text == "live", what="the event stream")


def card(driver: WebDriver, sid: str, group: str | None = None) -> object:
    where = f'[data-group="{group}"]' if group else "[data-group]"
    found = css(driver, f'{where} article[data-session="{sid}"]')
    return found[0] if found else None


def message_status(driver: WebDriver) -> str:
    return str(css(driver, "#message-status")[0].text)


def test_the_fleet_and_a_session_in_a_real_browser(
    board: Board, proj: Project, browser: WebDriver
) -> None:
    login(browser, board)
    cookie = browser.get_cookie("ao_token")
    assert cookie is not None and cookie["value"] == board.token
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # scripts cannot read it

    r = proj.ao("new", "echo hello-page-$((40+2))")
    assert r.returncode == 0, r.stderr
    made = time.monotonic()
    until(browser, lambda d: card(d, "d-1"), 5, "the new session's card")
    assert time.monotonic() - made <= 2.0, "the session took more than 2 s to appear"
    until(browser, lambda d: "echo hello-page" in card(d, "d-1").text, what="its task on the card")  # type: ignore[union-attr]
    text = card(browser, "d-1").text  # type: ignore[union-attr]
    assert "shell" in text and "demo" in text and "ao/d-1" in text, text
    browser.save_screenshot(str(artifacts() / "dashboard-fleet.png"))

    # its page: the live terminal shows what the agent printed
    css(browser, 'article[data-session="d-1"] a.sid')[0].click()
    until(browser, lambda d: "hello-page-42" in terminal_text(d), what="the agent's output")
    until(browser, lambda d: "live" in css(d, "#term-state")[0].text, what="the terminal")
    until(browser, lambda d: "waits for input" in css(d, "#why")[0].text, what="`ao why` evidence")
    until(browser, lambda d: "session.started" in css(d, "#timeline")[0].text, what="the timeline")

    # a message goes through the verified send, and says so
    css(browser, "#message-text")[0].send_keys("echo sent-$((6*7))")
    css(browser, "#send-btn")[0].click()
    until(browser, lambda d: message_status(d).startswith("delivered"), 30, "delivered")
    until(browser, lambda d: "sent-42" in terminal_text(d), what="the message's output")
    until(browser, lambda d: "message.sent" in css(d, "#timeline")[0].text, what="its event")

    # keystrokes reach the agent only once input is unlocked
    keys = css(browser, "#terminal .xterm-helper-textarea")[0]
    css(browser, "#terminal")[0].click()
    ActionChains(browser).send_keys_to_element(keys, "echo locked-$((1+1))\n").perform()
    time.sleep(1.0)
    assert "locked-2" not in proj.ao("logs", "d-1").stdout
    css(browser, "#lock-btn")[0].click()
    until(browser, lambda d: "unlocked" in css(d, "#lock-btn")[0].text, what="input unlocked")
    ActionChains(browser).send_keys_to_element(keys, "echo typed-$((7*7))\n").perform()
    until(browser, lambda d: "typed-49" in terminal_text(d), what="typed keys echoed")
    assert "typed-49" in proj.ao("logs", "d-1").stdout

    # the terminal follows the window: a smaller one, a smaller terminal (and tmux window)
    before = css(browser, "#term-state")[0].text
    browser.set_window_size(900, 700)
    until(browser, lambda d: css(d, "#term-state")[0].text != before, what="a new size")
    state = css(browser, "#term-state")[0].text
    cols = int(state.split("·")[1].strip().split("×")[0])
    name = proj.tmux_names()[0]
    width = proj.server.cmd("display-message", "-p", "-t", f"={name}:", "#{window_width}")
    assert int(width.stdout[0]) == cols, (state, width.stdout)
    browser.set_window_size(1280, 900)
    time.sleep(0.5)
    browser.save_screenshot(str(artifacts() / "dashboard-session.png"))

    # stop it from the page; it leaves the fleet; restore brings it back
    css(browser, "#stop-btn")[0].click()
    browser.switch_to.alert.accept()
    until(browser, lambda d: "stopped" in css(d, "#action-note")[0].text, 30, "stopped")
    until(browser, lambda d: css(d, "#gone")[0].is_displayed(), what="it is not running")
    assert "not running" in browser.find_element(By.CSS_SELECTOR, ".badges").text
    css(browser, "a.back")[0].click()
    until(browser, lambda d: not card(d, "d-1") and css(d, "#stopped-btn"), what="no live card")
    css(browser, "#stopped-btn")[0].click()
    until(browser, lambda d: css(d, '#stopped article[data-session="d-1"]'), what="it, stopped")
    browser.back()
    until(browser, lambda d: css(d, "#restore-btn") and css(d, "#restore-btn")[0].is_displayed(),
          what="the session's page again")  # fmt: skip
    css(browser, "#restore-btn")[0].click()
    until(browser, lambda d: "restored" in css(d, "#action-note")[0].text, 60, "restored")
    until(browser, lambda d: "#" in terminal_text(d), 20, "the restored agent's terminal")


def test_a_question_is_answered_with_its_buttons(proj: Project, browser: WebDriver) -> None:
    proj.configure(shell_options={"questionPattern": r"Proceed\? \[y/n\]\s*$"})
    board = start_board(proj)
    try:
        login(browser, board)
        task = "printf 'Proceed? [y/n] '; read reply; echo answered-$reply"
        assert proj.ao("new", task).returncode == 0
        until(browser, lambda d: card(d, "d-1", "needs"), 20, "the card under “Needs you”")
        assert "Proceed?" in card(browser, "d-1", "needs").text  # type: ignore[union-attr]
        css(browser, 'article[data-session="d-1"] a.sid')[0].click()
        until(browser, lambda d: css(d, '#answers button[data-reply="yes"]'), what="answer buttons")
        assert "Proceed?" in css(browser, "#answers")[0].text
        css(browser, '#answers button[data-reply="yes"]')[0].click()
        until(
            browser, lambda d: message_status(d).startswith("delivered"), 30, "the answer delivered"
        )
        until(browser, lambda d: "answered-yes" in terminal_text(d), what="the agent got it")
        until(browser, lambda d: css(d, "#answers")[0].get_attribute("hidden") is not None,
              what="the buttons gone")  # fmt: skip
        browser.get(f"{board.url}/")
        until(browser, lambda d: card(d, "d-1", "done"), 10, "the card back under “Done”")
    finally:
        board.stop()


def test_the_new_session_form_starts_one(board: Board, proj: Project, browser: WebDriver) -> None:
    login(browser, board)
    css(browser, "#new-btn")[0].click()
    until(browser, lambda d: css(d, "select[name=project] option"), what="the projects")
    Select(css(browser, "select[name=project]")[0]).select_by_value("demo")
    css(browser, "#new-text")[0].send_keys("echo from-the-form-$((5*5))")
    css(browser, "#new-form button[type=submit]")[0].click()
    until(browser, lambda d: d.current_url.endswith("#/s/demo/d-1"), 40, "the new session's page")
    until(browser, lambda d: "from-the-form-25" in terminal_text(d), what="its terminal")


def test_without_the_token_the_page_is_read_only(
    board: Board, proj: Project, browser: WebDriver
) -> None:
    assert proj.ao("new", "echo hi").returncode == 0
    browser.get(f"{board.url}/")  # no token, no cookie: reads work on loopback
    until(browser, lambda d: card(d, "d-1"), what="the fleet")
    assert "Read-only" in css(browser, "#auth")[0].text
    assert not css(browser, "#new-btn")[0].is_enabled()
    css(browser, 'article[data-session="d-1"] a.sid')[0].click()
    until(
        browser, lambda d: "refused" in css(d, "#term-state")[0].text, what="the terminal refused"
    )
    assert not css(browser, "#send-btn")[0].is_enabled()
    assert not css(browser, "#lock-btn")[0].is_enabled()


def test_open_pr_from_the_page_and_its_link_on_the_card(
    fake: FakeGitHub,  # noqa: F811
    proj: Project,
    git_repo: Path,
    browser: WebDriver,
) -> None:
    """ "Open PR" commits, pushes and opens the pull request (the fake GitHub over real
    HTTP); the card and the session's page then link to it."""
    fake.repo(REPO, git_dir=git_repo.parent / "origin.git")
    proj.configure(repo=REPO)
    board = start_board(proj)  # with the fake's address and token in its environment
    try:
        login(browser, board)
        assert proj.ao("new", "echo ready-for-a-pr").returncode == 0
        until(browser, lambda d: card(d, "d-1"), what="the card")
        (worktree,) = [r["worktree"] for r in proj.ao_json("list")]  # type: ignore[union-attr]
        (Path(worktree) / "feature.txt").write_text("the agent's work\n")
        css(browser, 'article[data-session="d-1"] a.sid')[0].click()
        until(browser, lambda d: css(d, "#pr-btn")[0].is_displayed(), what="the Open PR button")
        css(browser, "#pr-btn")[0].click()
        until(browser, lambda d: "PR opened" in css(d, "#action-note")[0].text, 60, "the PR")
        (pull,) = fake.repos[REPO].pulls.values()
        assert pull.head == "ao/d-1"
        link = until(browser, lambda d: css(d, "#pr-link"), 10, "the PR's link")[0]
        assert link.get_attribute("href").endswith(f"/pull/{pull.number}")
        assert not css(browser, "#pr-btn")[0].is_displayed()  # a link now, not a button
        css(browser, "a.back")[0].click()
        until(browser, lambda d: f"PR #{pull.number}" in card(d, "d-1").text, what="on the card")  # type: ignore[union-attr]
    finally:
        board.stop()


def test_the_orchestrator_is_pinned_first_and_interactive(
    board: Board, proj: Project, browser: WebDriver
) -> None:
    """A session recorded as the orchestrator (as `ao orchestrate` records it: `role`)
    heads the fleet in its own group, and its page works like any other's."""
    from ao.session.context import Context
    from ao.store.record import ORCHESTRATOR

    assert proj.ao("new", "echo worker-one").returncode == 0
    assert proj.ao("new", "echo planner-$((6*7))", "--name", "d-orchestrator").returncode == 0
    Context.load(proj.repo.parent).project("demo").store.update("d-orchestrator", role=ORCHESTRATOR)
    login(browser, board)
    until(browser, lambda d: card(d, "d-orchestrator", "orchestrator"), what="the pinned row")
    groups = [g.get_attribute("data-group") for g in css(browser, "section[data-group]")]
    assert groups[0] == "orchestrator", groups
    assert card(browser, "d-1", "orchestrator") is None and card(browser, "d-1")  # a worker
    css(browser, 'article[data-session="d-orchestrator"] a.sid')[0].click()
    until(browser, lambda d: "planner-42" in terminal_text(d), what="its terminal")
    css(browser, "#message-text")[0].send_keys("echo told-$((7*6))")
    css(browser, "#send-btn")[0].click()
    until(browser, lambda d: message_status(d).startswith("delivered"), 30, "delivered")
    until(browser, lambda d: "told-42" in terminal_text(d), what="the message's output")

"""The dashboard's page on a phone-sized screen, in a real browser (Debian's headless
Chromium through Selenium, tests/browserkit.py, emulating a 390 x 844 phone: a mobile
viewport that honours the page's `<meta name=viewport>`, touch, device pixel ratio 2)
against the real server (`ao dashboard`), real tmux sessions of the shell agent and real
git.

What a phone user relies on, measured in the browser: the document never scrolls sideways;
the fleet's cards (id, status, the "Needs you" group and its question) are on the first
screen and inside it, a 64-character id included; the new-session form's fields and its
Start button are inside the screen and start a session that then shows in the list; a
session's terminal fits the screen's width, also when a wider screen already watches it
(or made it wider); the message box and Send are on screen and deliver to the agent (seen
in `ao logs`); Stop and Restore are not clipped and work. Every control tapped is hit-tested
where the finger lands (nothing covers or clips it) and is at least 24 px on each side
(WCAG 2.5.8); text fields use 16 px text (iOS zooms into smaller ones on focus).
Screenshots (`phone-*.png`) land in the test artifacts.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import (
    JavascriptException,
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browserkit import artifacts, css, open_browser, terminal_text
from tests.sessionkit import Project
from tests.webkit import Board, Term, start_board

pytestmark = [pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(360)]

WIDTH, HEIGHT = 390, 844  # a phone's viewport in CSS pixels (an iPhone 12 to 15)
MIN_TARGET = 24  # WCAG 2.2, 2.5.8 Target Size (Minimum), in CSS pixels
LONG_ID = "nightly_build_of_the_android_client_with_the_new_login_screen_v2"  # 64: the most
QUESTION = r"Proceed\? \[y/n\]\s*$"


# ----------------------------------------------------------------------------- the phone


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium emulating a phone: its viewport, a mobile one, and touch."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    driver = open_browser(profile, width=WIDTH, height=HEIGHT)
    try:
        metrics = {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 2, "mobile": True}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        driver.execute_cdp_cmd(
            "Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5}
        )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(
    driver: WebDriver, check: Callable[[WebDriver], t.Any], timeout: float = 30.0, what: str = ""
) -> t.Any:
    """``check``'s first true answer (an element not there yet counts as not yet); on a
    timeout, a screenshot in the artifacts."""
    ignored = (
        IndexError, AttributeError, NoSuchElementException, StaleElementReferenceException,
        JavascriptException,
    )  # fmt: skip
    try:
        return WebDriverWait(driver, timeout, 0.1, ignored).until(check)
    except TimeoutException:
        shot = artifacts() / f"phone-timeout-{int(time.time())}.png"
        driver.save_screenshot(str(shot))
        raise AssertionError(f"timed out after {timeout:g}s: {what} ({shot})") from None


def login(driver: WebDriver, board: Board) -> None:
    driver.get(f"{board.url}/?token={board.token}")
    wait(driver, lambda d: d.current_url == f"{board.url}/", what="the token to leave the URL")
    wait(driver, lambda d: css(d, "#conn")[0].text == "live", what="the event stream")


def viewport(driver: WebDriver) -> dict[str, int]:
    return t.cast(
        dict[str, int],
        driver.execute_script(
            "const e = document.documentElement;"
            "return {inner: innerWidth, client: e.clientWidth, scroll: e.scrollWidth,"
            " bodyScroll: document.body.scrollWidth, x: scrollX};"
        ),
    )


def no_sideways_scroll(driver: WebDriver, where: str) -> None:
    """The page is as wide as the phone: nothing makes the document scroll sideways (a
    mobile browser would rather zoom the page out, widening its layout viewport)."""
    v = viewport(driver)
    assert v["client"] == WIDTH, f"not a phone's viewport: {v}"
    assert max(v["inner"], v["scroll"], v["bodyScroll"]) <= WIDTH, (
        f"{where}: the document is wider than the phone: {v}; too wide: {too_wide(driver)}"
    )
    driver.execute_script("window.scrollTo(10000, scrollY)")
    assert driver.execute_script("return scrollX") == 0, f"{where}: it scrolls sideways"


def too_wide(driver: WebDriver) -> list[str]:
    """The elements that stick out of the phone's width (for the failure's message)."""
    return t.cast(
        list[str],
        driver.execute_script(
            "return [...document.querySelectorAll('body *')].filter((e) => {"
            " const r = e.getBoundingClientRect();"
            " return r.width && r.right > arguments[0] + 0.5 && !e.closest('.xterm');"
            "}).slice(0, 8).map((e) => `${e.tagName}.${e.className} ${e.textContent.slice(0, 40)}`);",
            WIDTH,
        ),
    )


# what a finger meets where it lands: the element's box once the page is scrolled to put
# it in the middle of the screen, and what the browser hit-tests at its centre and at four
# points 4 px inside its corners (covered by a sticky header, or clipped by an ancestor, it
# is not what is hit)
REACH = """
const el = arguments[0];
// only the document scrolls, as a finger scrolls it (scrollIntoView would also scroll a
// container that clips the element, which a finger cannot)
const at = el.getBoundingClientRect();
if (!el.closest("dialog")) window.scrollBy(0, at.top + at.height / 2 - innerHeight / 2);
const r = el.getBoundingClientRect();
const hits = (x, y) => { const got = document.elementFromPoint(x, y); return Boolean(got
  && (got === el || el.contains(got) || [...(el.labels || [])].some((l) => l.contains(got)))); };
const i = Math.min(4, r.width / 2, r.height / 2);
return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,
  height: r.height, vw: innerWidth, vh: innerHeight, visible: el.checkVisibility(),
  font: parseFloat(getComputedStyle(el).fontSize),
  clipped: el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible",
  hit: [[r.left + r.width / 2, r.top + r.height / 2], [r.left + i, r.top + i],
        [r.right - i, r.top + i], [r.left + i, r.bottom - i], [r.right - i, r.bottom - i]]
        .map(([x, y]) => hits(x, y))};
"""


def reachable(driver: WebDriver, el: WebElement, what: str, *, target: bool = True) -> None:
    """``el`` is shown whole inside the phone's screen, nothing covers or clips it, and (a
    ``target``, something tapped) it is big enough for a finger."""
    box = t.cast(dict[str, t.Any], driver.execute_script(REACH, el))
    where = f"{what}: {json.dumps(box)}"
    assert box["visible"], f"not shown: {where}"
    assert box["left"] >= -0.5 and box["right"] <= box["vw"] + 0.5, f"off the side: {where}"
    assert box["top"] >= -0.5 and box["bottom"] <= box["vh"] + 0.5, f"off the screen: {where}"
    assert not box["clipped"], f"its content is cut: {where}"
    assert all(box["hit"]), f"covered or clipped where a finger lands: {where}"
    if target:
        assert min(box["width"], box["height"]) >= MIN_TARGET, f"too small to tap: {where}"


def typed_without_zoom(driver: WebDriver, el: WebElement, what: str) -> None:
    """A field's text is 16 px at least: iOS zooms the page into a smaller one on focus."""
    size = float(
        driver.execute_script("return parseFloat(getComputedStyle(arguments[0]).fontSize)", el)
    )
    assert size >= 16, f"{what}: {size}px text, the phone zooms in when it gets the focus"


def rect(driver: WebDriver, el: WebElement) -> dict[str, float]:
    """Where ``el`` is on the screen, in CSS pixels."""
    script = "const r = arguments[0].getBoundingClientRect(); return r.toJSON();"
    return t.cast(dict[str, float], driver.execute_script(script, el))


def inside(driver: WebDriver, inner: WebElement, outer: WebElement) -> bool:
    """``inner``'s box lies within ``outer``'s."""
    a, b = rect(driver, inner), rect(driver, outer)
    return a["width"] > 0 and all(
        (
            a["left"] >= b["left"] - 0.5,
            a["right"] <= b["right"] + 0.5,
            a["top"] >= b["top"] - 0.5,
            a["bottom"] <= b["bottom"] + 0.5,
        )
    )


def live_ids(proj: Project) -> list[str]:
    """The ids `ao list` shows (the live sessions)."""
    return [row["id"] for row in t.cast(list[dict[str, str]], proj.ao_json("list"))]


def card(driver: WebDriver, sid: str, group: str = "") -> WebElement:
    where = f'[data-group="{group}"]' if group else "[data-group]"
    return css(driver, f'{where} article[data-session="{sid}"]')[0]


# ----------------------------------------------------------------------------- the fleet


def test_the_fleet_and_the_new_session_form_on_a_phone(proj: Project, phone: WebDriver) -> None:
    proj.configure(shell_options={"questionPattern": QUESTION})
    board = start_board(proj)
    try:
        login(phone, board)
        no_sideways_scroll(phone, "the empty fleet")
        # one that asks (a long task, a long branch), one with the longest id there is
        task = "printf 'Proceed? [y/n] '; read reply; echo answered-$reply # " + "x" * 150
        branch = "feature/a-branch-name-far-too-long-for-the-width-of-any-phone-screen"
        r = proj.ao("new", task, "--branch", branch)
        assert r.returncode == 0, r.stderr
        r = proj.ao("new", "echo a long id", "--name", LONG_ID)
        assert r.returncode == 0, r.stderr
        wait(phone, lambda d: card(d, "d-1", "needs"), 30, "d-1 under “Needs you”")
        wait(phone, lambda d: "Proceed?" in card(d, "d-1").text, 30, "its question on the card")
        wait(phone, lambda d: card(d, LONG_ID), 30, "the long id's card")
        phone.execute_script("window.scrollTo(0, 0)")
        phone.save_screenshot(str(artifacts() / "phone-fleet.png"))
        no_sideways_scroll(phone, "the fleet")

        # what needs you is on the first screen, whole: the group, the card, its id, status
        # and question (read where it is, without scrolling)
        phone.execute_script("window.scrollTo(0, 0)")
        heading = css(phone, '[data-group="needs"] h2')[0]
        assert heading.text.split() == ["Needs", "you", "1"], heading.text
        asks = card(phone, "d-1", "needs")
        box = rect(phone, asks)
        assert box["left"] >= 0 and box["right"] <= WIDTH, f"the card sticks out: {box}"
        assert box["top"] >= 0 and box["bottom"] <= HEIGHT, f"not on the first screen: {box}"
        parts = {"a.sid": "d-1", ".badge.status": "needs input", ".question": "Proceed?"}
        for part, expected in parts.items():
            el = asks.find_element("css selector", part)
            assert expected in el.text, (part, el.text)
            assert inside(phone, el, asks), f"{part} is not inside its card"
            reachable(phone, el, f"the card's {part}", target=part == "a.sid")
        for part in (".branch", ".task"):  # long ones are cut with an ellipsis, inside the card
            assert inside(phone, asks.find_element("css selector", part), asks), part

        long_card = card(phone, LONG_ID)
        sid = long_card.find_element("css selector", "a.sid")
        assert sid.text.replace("\n", "") == LONG_ID  # all of it, wrapped, none cut off
        assert inside(phone, sid, long_card), "the long id leaves its card"
        reachable(phone, sid, "the long id")
        status = long_card.find_element("css selector", ".badge.status")
        assert status.text and inside(phone, status, long_card), status.text
        reachable(phone, status, "the long id's status", target=False)
        reachable(phone, css(phone, "#stopped-btn")[0], "Show stopped sessions")

        # the new-session form: every field inside the screen, usable, and it starts one
        phone.execute_script("window.scrollTo(0, 0)")
        new = css(phone, "#new-btn")[0]
        reachable(phone, new, "New session")
        new.click()
        wait(phone, lambda d: css(d, "select[name=project] option"), 30, "the projects")
        wait(phone, lambda d: css(d, "#new-dialog")[0].get_attribute("open") is not None, 30, "it")
        fields = {
            "the project": "select[name=project]",
            "the agent": "select[name=agent]",
            "“a task”": "input[name=source][value=task]",
            "“an issue”": "input[name=source][value=issue]",
            "the task": "#new-text",
            "Start": "#new-form button[type=submit]",
            "Cancel": "#new-cancel",
        }
        for what, selector in fields.items():
            tapped = "input" not in selector  # a radio button: its label is tapped
            reachable(phone, css(phone, selector)[0], f"the form's {what}", target=tapped)
        for what in ("the project", "the agent", "the task"):
            typed_without_zoom(phone, css(phone, fields[what])[0], what)
        no_sideways_scroll(phone, "the new-session form")
        Select(css(phone, fields["the project"])[0]).select_by_value("demo")
        css(phone, fields["the task"])[0].send_keys("echo from-the-phone-$((5*5))")
        phone.save_screenshot(str(artifacts() / "phone-new-session.png"))
        css(phone, fields["Start"])[0].click()
        page = r".*#/s/demo/(d-\d+)"
        started = wait(phone, lambda d: re.fullmatch(page, d.current_url), 60, "its page")
        made = started.group(1)
        assert made != "d-1", made
        wait(phone, lambda d: "from-the-phone-25" in terminal_text(d), 30, "its terminal")
        assert made in live_ids(proj)

        # back to the fleet (a finger-sized link): the new session is in the list
        back = css(phone, "a.back")[0]
        reachable(phone, back, "← fleet")
        back.click()
        wait(phone, lambda d: card(d, made), 30, "the new session's card in the list")
        made_card = card(phone, made)
        assert "from-the-phone" in made_card.text, made_card.text
        reachable(phone, made_card.find_element("css selector", "a.sid"), "its id")
        no_sideways_scroll(phone, "the fleet with three sessions")
    finally:
        board.stop()


# ----------------------------------------------------------------------------- a session


def term_size(driver: WebDriver) -> tuple[int, int]:
    """The terminal's columns and rows, as its status line says (``live · 52×32``)."""
    found = re.search(r"(\d+)×(\d+)", css(driver, "#term-state")[0].text)
    assert found, css(driver, "#term-state")[0].text
    return int(found.group(1)), int(found.group(2))


FIT = """
const box = document.getElementById("terminal"), screen = box.querySelector(".xterm-screen");
const b = box.getBoundingClientRect(), s = screen.getBoundingClientRect();
return {box: box.clientWidth, boxScroll: box.scrollWidth, screen: s.width, left: b.left,
  right: b.right, vw: innerWidth};
"""


def terminal_fits(driver: WebDriver) -> dict[str, float] | None:
    """The terminal's box inside the screen and its text inside the box (no sideways
    scrolling in it), or None."""
    fit = t.cast(dict[str, float], driver.execute_script(FIT))
    ok = (
        fit["left"] >= 0 and fit["right"] <= fit["vw"]
        and 0 < fit["screen"] <= fit["box"] and fit["boxScroll"] <= fit["box"]
    )  # fmt: skip
    return fit if ok else None


def window_width(proj: Project) -> int:
    (name,) = proj.tmux_names()
    width = proj.server.cmd("display-message", "-p", "-t", f"={name}:", "#{window_width}")
    return int(width.stdout[0])


def test_a_session_on_a_phone(board: Board, proj: Project, phone: WebDriver) -> None:
    r = proj.ao("new", "echo hello-phone-$((6*7))")
    assert r.returncode == 0, r.stderr
    # a wide screen already watches it: the view runs at 200 columns
    desktop = Term(board, "d-1", cols=200, rows=50)

    def watching(check: Callable[[WebDriver], t.Any], timeout: float, what: str) -> t.Any:
        """``wait``, the wide screen reading its terminal meanwhile (as a browser does: a
        viewer that reads nothing holds the server back)."""

        def reading(driver: WebDriver) -> t.Any:
            desktop.pump(0.02)
            return check(driver)

        return wait(phone, reading, timeout, what)

    try:
        desktop.see("hello-phone-42", 30)
        watching(lambda _: window_width(proj) == 200, 30, "tmux's window at 200 columns")

        login(phone, board)
        watching(lambda d: card(d, "d-1"), 30, "the card")
        sid = card(phone, "d-1").find_element("css selector", "a.sid")
        reachable(phone, sid, "the card's id")
        sid.click()
        watching(lambda d: "hello-phone-42" in terminal_text(d), 30, "the agent's output")
        watching(lambda d: "live" in css(d, "#term-state")[0].text, 30, "the terminal")

        # the terminal fits the phone, and the session's window follows the phone's size
        fit = watching(terminal_fits, 30, "the terminal to fit the screen")
        cols, rows = term_size(phone)
        assert 10 <= cols < 80 and rows >= 10, (cols, rows, fit)
        watching(lambda d: window_width(proj) == cols, 30, f"tmux's window at {cols} columns")
        no_sideways_scroll(phone, "the session")

        # the wide screen asks for 200 columns again: every viewer is told (one view, one
        # size), the phone's terminal scrolls inside its box, never the page; reconnecting
        # takes the phone's size back
        desktop.send(type="resize", cols=200, rows=50)
        watching(lambda d: term_size(d)[0] == 200, 30, "the view's new size on the phone")
        assert terminal_fits(phone) is None  # what the check above measures, failing
        no_sideways_scroll(phone, "the session, its terminal at 200 columns")
        reconnect = css(phone, ".term-bar button.link")[0]
        assert reconnect.text == "reconnect"
        reachable(phone, reconnect, "reconnect")
        reconnect.click()
        watching(lambda d: term_size(d) == (cols, rows), 30, "the phone's size again")
        watching(terminal_fits, 30, "the terminal to fit again")
        watching(lambda d: window_width(proj) == cols, 30, "tmux's window follows")
    finally:
        desktop.close()

    # the message box and Send: on screen, finger-sized, and the message reaches the agent
    text = css(phone, "#message-text")[0]
    send = css(phone, "#send-btn")[0]
    reachable(phone, text, "the message box")
    typed_without_zoom(phone, text, "the message box")
    reachable(phone, send, "Send")
    text.send_keys("echo from-the-phone-$((6*7+1))")
    reachable(phone, send, "Send")
    send.click()
    outcome = css(phone, "#message-status")[0]
    wait(phone, lambda _: outcome.text.startswith("delivered"), 60, "delivered")
    ran = "from-the-phone-43"
    wait(phone, lambda _: ran in proj.ao("logs", "d-1").stdout, 30, "the agent ran it (ao logs)")
    wait(phone, lambda d: "from-the-phone-43" in terminal_text(d), 30, "in the phone's terminal")
    reachable(phone, css(phone, "#message-status")[0], "the message's outcome", target=False)
    reachable(phone, css(phone, "#lock-btn")[0], "the input lock")
    for section in css(phone, ".s-side section"):  # why, details, events: inside the screen
        box = rect(phone, section)
        assert box["left"] >= 0 and box["right"] <= WIDTH, (section.text[:40], box)
    no_sideways_scroll(phone, "the session after a message")
    phone.execute_script("window.scrollTo(0, 0)")
    phone.save_screenshot(str(artifacts() / "phone-session.png"))

    # Stop, then Restore: whole, on screen, and they work
    stop = css(phone, "#stop-btn")[0]
    reachable(phone, stop, "Stop")
    reachable(phone, css(phone, "#pr-btn")[0], "Open PR")
    stop.click()
    WebDriverWait(phone, 30).until(expected_conditions.alert_is_present())
    phone.switch_to.alert.accept()
    wait(phone, lambda d: "stopped" in css(d, "#action-note")[0].text, 60, "stopped")
    wait(phone, lambda d: css(d, "#gone")[0].is_displayed(), 30, "it is not running")
    assert live_ids(proj) == []
    restore = css(phone, "#restore-btn")[0]
    wait(phone, lambda _: restore.is_displayed(), 30, "the Restore button")
    reachable(phone, restore, "Restore")
    reachable(phone, css(phone, "#action-note")[0], "what Stop did", target=False)
    no_sideways_scroll(phone, "the stopped session")
    restore.click()
    wait(phone, lambda d: "restored" in css(d, "#action-note")[0].text, 60, "restored")
    wait(phone, lambda _: live_ids(proj) == ["d-1"], 30, "d-1 running again")
    wait(phone, lambda d: "#" in terminal_text(d), 30, "the restored agent's terminal")
    wait(phone, terminal_fits, 30, "the restored terminal to fit")
    wait(phone, lambda d: css(d, "#stop-btn")[0].is_displayed(), 30, "Stop, once restored")
    reachable(phone, css(phone, "#stop-btn")[0], "Stop, once restored")
    no_sideways_scroll(phone, "the restored session")
    phone.execute_script("window.scrollTo(0, 0)")
    phone.save_screenshot(str(artifacts() / "phone-session-restored.png"))

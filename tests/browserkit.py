"""A real browser for the dashboard's page tests: Debian's headless Chromium driven by
Selenium through Debian's chromedriver (both from apt: `chromium`, `chromium-driver`).
Nothing downloads a browser or a driver: the paths are given, Selenium Manager is told to
stay offline, and Chromium's own network features (updates, sync, Google services) are off.

Screenshots go to ``$AO_TEST_ARTIFACTS`` (default: ``test-artifacts/`` at the repository's
root, ignored by git).
"""

from __future__ import annotations

import os
import shutil
import time
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

if t.TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("AO_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AO_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--metrics-recording-only", "--password-store=basic",
)  # fmt: skip


def artifacts() -> Path:
    """Where the tests leave screenshots for a person (and CI) to look at."""
    path = Path(os.environ.get("AO_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def have_browser() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def open_browser(profile: Path, width: int = 1280, height: int = 900) -> WebDriver:
    """Headless Chromium with a throwaway profile, through Debian's chromedriver."""
    if not have_browser():
        pytest.skip(
            f"no {CHROMIUM} or {CHROMEDRIVER}: apt-get install chromium chromium-driver "
            "(scripts/install-system-test-deps.sh)"
        )
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser/driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    service = Service(executable_path=CHROMEDRIVER, log_output=str(profile / "driver.log"))
    return webdriver.Chrome(service=service, options=options)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    driver = open_browser(profile)
    try:
        yield driver
    finally:
        logs = _console(driver)
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        if logs:
            print("browser console:\n" + "\n".join(logs))


def _console(driver: WebDriver) -> list[str]:
    try:
        return [f"{e.get('level')}: {e.get('message')}" for e in driver.get_log("browser")]
    except Exception:
        return []


def until(
    driver: WebDriver, check: Callable[[WebDriver], t.Any], timeout: float = 15.0, what: str = ""
) -> t.Any:
    """Poll ``check`` until it returns something true (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = check(driver)
            if last:
                return last
        except Exception as exc:  # an element not there yet, a stale one
            last = exc
        if time.monotonic() > deadline:
            shot = artifacts() / f"timeout-{int(time.time())}.png"
            driver.save_screenshot(str(shot))
            raise AssertionError(f"timed out after {timeout:g}s: {what} (last: {last!r}; {shot})")
        time.sleep(0.05)


def css(driver: WebDriver, selector: str) -> list[WebElement]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def terminal_text(driver: WebDriver) -> str:
    """What the page's terminal shows (xterm.js's rendered rows)."""
    rows = css(driver, "#terminal .xterm-rows")
    return rows[0].text if rows else ""

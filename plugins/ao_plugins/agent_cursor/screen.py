"""Cursor CLI's screen, read only through its chrome at the bottom of the pane.

Cursor's CLI could not be installed where ao is developed (it is not on npm or PyPI),
so these rules come from documented strings, not from recordings of the real TUI:

- busy: the status line ``ctrl+c to stop``, or a spinner glyph (``⬡``/``⬢`` or braille)
  before a gerund and an ellipsis (``⬢ Generating…``);
- waiting for a person: approval prompts (``Run this command?``, ``waiting for approval``,
  ``Run (once) (y)``, ``Allow … (y)``, ``Skip (esc or n)``, ``Keep (n)``), the menu
  footer ``↑/↓ to navigate``, the workspace-trust question;
- idle: the input's placeholders ``Plan, search, build anything`` (new chat) and ``Add a
  follow-up`` (after a reply), or the ``→``/``❯`` input line;
- blocked (only with no input on screen): not logged in, a refused key
  (``ERROR_BAD_USER_API_KEY``, ``Unauthorized User API key``, ``Not authenticated``), a
  usage limit.

The tests check them against screens written from those strings
(tests/agents/screens_more/cursor-*.txt); see docs/agents-more.md.
"""

from __future__ import annotations

import dataclasses
import re

from ao.sdk.agentkit import screen_lines, unboxed
from ao.sdk.contracts import ActivityState, DialogAnswer
from ao.sdk.textsafe import strip_controls

BUSY = re.compile(r"ctrl\+c to stop", re.I)
SPINNER = re.compile(r"^[⬡⬢⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\s+[A-Z][a-z]+ing\b.*(?:…|\.\.\.)")
APPROVAL = re.compile(
    r"run this command\?|waiting for approval|\(y\) \(enter\)|skip \(esc or n\)|keep \(n\)",
    re.I,
)
APPROVAL_LINE = re.compile(r"\(y\)", re.I)
APPROVAL_WORD = re.compile(r"\ballow\b|run \(once\)|→ run|^run ", re.I)
MENU = re.compile(r"↑/↓ to navigate")
TRUST = re.compile(r"trust (?:this|the) (?:workspace|folder|directory)|workspace trust", re.I)
TRUST_OPTION = re.compile(r"\[(\w)\]\s*Trust this workspace", re.I)
IDLE = re.compile(r"Plan, search, build anything|Add a follow-up")
INPUT = re.compile(r"^[→❯]\s")
LOGIN = re.compile(
    r"not logged in|please log ?in|run `?(?:cursor-)?agent login|"
    r"authentication (?:required|failed)",
    re.I,
)
# a key the service refused (its error code and messages, as Cursor documents them)
BAD_KEY = re.compile(
    r"ERROR_BAD_USER_API_KEY|(?:Bad|Unauthorized) User API key|Not authenticated|"
    r"provided API key is invalid",
    re.I,
)
USAGE = re.compile(
    r"usage limit|hit your (?:usage )?limit|out of (?:fast )?requests|quota exceeded", re.I
)


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the screen's chrome says: a state and the line that decided it."""

    state: ActivityState
    detail: str


def find_dialog(screen: str) -> DialogAnswer | None:
    """The workspace-trust question, answered with its "Trust this workspace" key."""
    lines = [unboxed(line) for line in screen_lines(screen, 24)]
    if not any(TRUST.search(line) for line in lines):
        return None
    key = next((m.group(1) for m in map(TRUST_OPTION.search, lines) if m), None)
    return DialogAnswer("trust-workspace", (key,)) if key else None


def read(screen: str) -> Reading | None:
    """The state Cursor's chrome shows, or None when none of it is recognised."""
    lines = [unboxed(line) for line in screen_lines(screen, 40)]
    lines = [line for line in lines if line]
    if not lines:
        return None
    bottom = lines[-14:]
    # questions count only below the idle input's placeholder: above it, they are transcript
    idle_at = max((i for i, x in enumerate(bottom) if IDLE.search(x)), default=-1)
    asking = bottom[idle_at + 1 :]
    approval = next((line for line in asking if APPROVAL.search(line)), None)
    approval = approval or next(
        (x for x in asking if APPROVAL_LINE.search(x) and APPROVAL_WORD.search(x)), None
    )
    if approval is not None:
        question = next((x for x in reversed(asking) if x.rstrip().endswith("?")), approval)
        return Reading("needs_input", f"approval prompt: {question[:100]}")
    if any(TRUST.search(line) for line in asking):
        return Reading("needs_input", "workspace-trust question")
    if any(MENU.search(line) for line in asking[-3:]):
        asked = next((x for x in reversed(asking) if x.rstrip().endswith("?")), "choose an option")
        return Reading("needs_input", f"a menu is open: {asked[:100]}")
    status = next((line for line in bottom if BUSY.search(line) or SPINNER.match(line)), None)
    if status is not None:
        return Reading("working", f"busy: {status[:100]}")
    if any(IDLE.search(line) for line in bottom) or any(INPUT.match(x) for x in bottom[-6:]):
        return Reading("ready", "input is idle")
    # with no input box on screen, a login or usage notice is what the CLI shows
    text = "\n".join(bottom)
    usage = USAGE.search(text)
    if usage:
        return Reading("blocked", f"usage limit: {usage.group(0)}")
    refused = next((line for line in bottom if BAD_KEY.search(line)), None)
    if refused is not None:
        said = " ".join(strip_controls(refused).lstrip("✗⚠ ").split())[:160]
        return Reading("blocked", f"authentication failed: {said}")
    if LOGIN.search(text):
        return Reading("blocked", "not logged in (run `cursor-agent login` or set CURSOR_API_KEY)")
    return None

"""Pi's screen, read only through its own chrome at the bottom of the pane.

The bottom of Pi's TUI: a status line (``⠧ Working...`` while a turn runs, ``⠏ Retrying
(3/3) in 8s... (escape to cancel)`` after an API error), the editor between two ``────``
rules, then two footer lines (``<cwd> (<branch>)`` and ``↑240 ↓60 $0.002 0.1%/128k
(auto)  <model>``). API errors are printed as ``Error: <status> <message>`` lines just
above (trusted here only next to the retry status, which only the CLI draws).
Strings are those of Pi 0.73 (see docs/agents-more.md).
"""

from __future__ import annotations

import dataclasses
import re

from ao.sdk.agentkit import is_rule, screen_lines
from ao.sdk.contracts import ActivityState
from ao.sdk.textsafe import strip_controls

from .native import AUTH_ERROR, USAGE_ERROR, classify

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
WORKING = re.compile(rf"^[{SPINNER}]\s+(.*)")
RETRY = re.compile(r"Retrying \((\d+)/(\d+)\) in (\w+)")
ERROR_LINE = re.compile(r"^Error: (.+)")
FOOTER = re.compile(r"\d+(?:\.\d+)?%/\d+k")


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the screen's chrome says: a state and the line that decided it."""

    state: ActivityState
    detail: str


def read(screen: str) -> Reading | None:
    """The state Pi's chrome shows, or None when no chrome is recognised."""
    lines = [line.strip() for line in screen_lines(screen, 40)]
    if len(lines) < 3:
        return None
    tail = lines[-8:]
    rules = [i for i, line in enumerate(tail) if is_rule(line)]
    if len(rules) < 2 or not any(FOOTER.search(line) for line in tail[rules[-1] + 1 :]):
        return None
    top = len(lines) - len(tail) + rules[0]
    above = lines[max(0, top - 4) : top]
    status = above[-1] if above else ""
    working = WORKING.match(status)
    if working:
        retry = RETRY.search(status)
        if retry:
            error = next((m.group(1) for m in map(ERROR_LINE.match, reversed(above)) if m), "")
            if AUTH_ERROR.search(error) or USAGE_ERROR.search(error):
                # retrying cannot fix a bad key or a spent quota
                return Reading("blocked", f"{classify(error).detail} (retrying)")
            return Reading("working", f"retrying ({retry.group(1)}/{retry.group(2)}): {error[:80]}")
        return Reading("working", f"busy: {working.group(1)[:80]}")
    # an ``Error: …`` line above an idle editor may as well be model text: the session
    # file (``stopReason: error``) is what tells (``last_error`` for when it has no turn)
    return Reading("ready", "prompt is idle")


def last_error(screen: str, exited: bool = False) -> str | None:
    """The last ``Error: …`` line Pi printed above its editor (anywhere once it exited).

    Only trustworthy while no model reply exists: Pi refuses a turn before any request
    (``Error: No API key found for anthropic.``) without writing its session file, and
    exits at start (``Error: Model "p/m" not found.``) when a model has no credentials.
    """
    lines = [line.strip() for line in screen_lines(screen, 40)]
    if not exited:
        tail = lines[-8:]
        rules = [i for i, line in enumerate(tail) if is_rule(line)]
        if len(rules) < 2:
            return None
        top = len(lines) - len(tail) + rules[0]
        lines = lines[max(0, top - 16) : top]
    found = next((m for m in map(ERROR_LINE.match, reversed(lines)) if m), None)
    return " ".join(strip_controls(found.group(1)).split())[:160] if found else None

"""OpenCode's screen, read only through its own chrome at the bottom of the pane.

The TUI ends with the prompt box (``┃`` gutter, the input, ``┃  Build · <model>``, a
``╹▀▀▀`` bottom edge) and one footer line: ``<dir>  <tokens>  ctrl+p commands  • OpenCode
1.18.33`` when idle, ``⬝⬝■■■■■■  esc interrupt  …`` while a turn runs (with the status,
e.g. ``[retrying in 5s attempt #3]``, after the spinner). A permission request replaces
the input with ``△ Permission required`` and ``Allow once   Allow always   Reject``. A
wide terminal adds a sidebar on the right (title, context, LSP); patterns are anchored
at the left edge so the sidebar (whose title the model writes) never matches.
Strings are those of OpenCode 1.18 (see docs/agents-more.md).
"""

from __future__ import annotations

import dataclasses
import re

from ao.sdk.agentkit import screen_lines
from ao.sdk.contracts import ActivityState

BOX_EDGE = re.compile(r"^\s*╹▀{10,}")
BUSY = re.compile(r"esc (?:again to )?interrupt", re.I)
RETRY = re.compile(r"^\s*[⬝■]+\s+(.*?)\s*\[retrying in (\w+) attempt #(\d+)\]")
PERMISSION = re.compile(r"^\s*┃\s{1,4}△ Permission required")
IDLE_FOOTER = re.compile(r"ctrl\+p commands")
USAGE = re.compile(r"exceeded your current quota|insufficient_quota|usage limit|quota", re.I)
AUTH = re.compile(r"\b401\b|Incorrect API key|invalid api key|Unauthorized|No API key", re.I)


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the screen's chrome says: a state and the line that decided it."""

    state: ActivityState
    detail: str


def read(screen: str) -> Reading | None:
    """The state OpenCode's chrome shows, or None when no chrome is recognised."""
    lines = screen_lines(screen, 40)
    if not lines:
        return None
    bottom = lines[-30:]
    if any(PERMISSION.match(line) for line in bottom):  # only the live dialog draws it
        asked = next(
            (
                re.split(r"\s{3,}", line.strip(" ┃"))[0]
                for line in bottom
                if line.lstrip(" ┃").startswith(("$ ", "→ ", "← "))
            ),
            "",
        )
        return Reading("needs_input", "permission prompt" + (f": {asked[:100]}" if asked else ""))
    footer = lines[-1]
    edge = any(BOX_EDGE.match(line) for line in lines[-4:])
    retry = RETRY.match(footer)
    if retry:
        message, delay, attempt = retry.groups()
        if USAGE.search(message):
            return Reading("blocked", f"usage limit reached: {message[:100]} (retrying)")
        if AUTH.search(message):
            return Reading("blocked", f"authentication failed: {message[:100]} (retrying)")
        return Reading("working", f"retrying in {delay} (attempt {attempt}): {message[:80]}")
    if BUSY.search(footer):
        return Reading("working", "busy: esc interrupt")
    if edge and IDLE_FOOTER.search(" ".join(lines[-3:])):
        return Reading("ready", "prompt is idle")
    return None

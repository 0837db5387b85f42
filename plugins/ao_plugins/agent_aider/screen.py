"""Aider's screen, read only through its own chrome at the bottom of the pane.

Aider prints a ``────`` rule, the files in the chat, and its prompt (``> ``; ``code> ``,
``ask> ``, ``architect> ``, ``multi> `` in other modes) as the last line when it waits
for a message. While the model works the last line is a spinner ``█░ Waiting for
<model>``. Questions are the last line too, ending in ``(Y)es/(N)o [Yes]:`` (or with
``(A)ll/(S)kip all/(D)on't ask again``). Strings are those of Aider 0.86 (see
docs/agents-more.md).
"""

from __future__ import annotations

import dataclasses
import re

from ao.sdk.agentkit import is_rule, screen_lines
from ao.sdk.contracts import ActivityState, DialogAnswer

PROMPT = re.compile(r"^(?:(?:code|ask|architect|help|context)\s*)?(?:multi)?>\s?$")
WAITING = re.compile(r"Waiting for (\S+)")
QUESTION = re.compile(r"\(Y\)es/\(N\)o(?:/\(A\)ll)?(?:/\(S\)kip all)?(?:/\(D\)on't ask again)?"
                      r" \[(?:Yes|No)\]:\s*$")  # fmt: skip
RETRYING = re.compile(r"^Retrying in [\d.]+ seconds")
USAGE = re.compile(r"exceeded your current quota|insufficient_quota|credit balance|billing", re.I)
AUTH = re.compile(r"AuthenticationError|not able to authenticate you", re.I)
# questions ao answers itself (never an edit, a file or a command)
DIALOGS = (
    ("gitignore", re.compile(r"Add \.aider\* to \.gitignore"), "n"),
    ("analytics", re.compile(r"Allow collection of anonymous analytics", re.I), "n"),
    ("release-notes", re.compile(r"see what's new in this version", re.I), "n"),
    ("docs-url", re.compile(r"Open documentation url for more info\?", re.I), "n"),
    ("github-issue", re.compile(r"Open a GitHub Issue pre-filled", re.I), "n"),
    ("update-offer", re.compile(r"Newer aider version .* available|Run pip install\?", re.I), "n"),
)


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the screen's chrome says: a state and the line that decided it."""

    state: ActivityState
    detail: str


def _bottom(screen: str) -> list[str]:
    return [line.strip() for line in screen_lines(screen, 30)]


def find_dialog(screen: str) -> DialogAnswer | None:
    """A question on the last line that ao answers (with "n"), and its keys."""
    lines = _bottom(screen)
    if not lines or not QUESTION.search(lines[-1]):
        return None
    for name, pattern, answer in DIALOGS:
        if pattern.search(lines[-1]):
            return DialogAnswer(name, (answer, "Enter"))
    return None


def read(screen: str) -> Reading | None:
    """The state Aider's chrome shows, or None when no chrome is recognised."""
    lines = _bottom(screen)
    if not lines:
        return None
    last = lines[-1]
    if QUESTION.search(last):
        subject = lines[-2] if len(lines) > 1 and not is_rule(lines[-2]) else ""
        about = f" ({subject[:60]})" if subject and not QUESTION.search(subject) else ""
        return Reading("needs_input", f"question: {last[:120]}{about}")
    waiting = WAITING.search(last)
    if waiting:
        recent = " ".join(lines[-8:-1])
        if USAGE.search(recent) and any(RETRYING.match(line) for line in lines[-8:]):
            return Reading("blocked", "usage limit reached (Aider keeps retrying)")
        return Reading("working", f"busy: waiting for {waiting.group(1)}")
    if PROMPT.match(last) and any(is_rule(line) for line in lines[-6:-1]):
        return Reading("ready", f"prompt {last!r} is idle")
    return None

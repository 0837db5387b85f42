"""Codex's screen, read only through its own chrome near the bottom of the pane.

The composer (``› Ask Codex to do anything`` or ``› <draft>``), the footer under it,
the status row just above it (``• Working (3s • esc to interrupt)``), and the overlays
Codex draws instead of the composer (approval, trust, update, sign-in). Transcript
cells further up are never matched. Strings are those of Codex 0.169.
"""

from __future__ import annotations

import dataclasses
import re

from ao.sdk.agentkit import choose_option, screen_lines, unboxed
from ao.sdk.contracts import ActivityState, DialogAnswer

CURSOR = "›"
MENU_LINE = re.compile(r"^\s*›\s*\d+\.\s")
BUSY = re.compile(r"\(\s*\d+[hms]?[^()]*•\s*esc to interrupt\s*\)", re.I)
UNAUTHORIZED = re.compile(r"\b(401 Unauthorized|403 Forbidden)\b")
APPROVAL = re.compile(
    r"Would you like to (?:run the following command|make the following edits)|"
    r"Do you want to approve|Press enter to confirm or esc to cancel",
    re.I,
)
QUESTION_FOOTER = re.compile(
    r"Press enter to (?:confirm|continue)|esc to cancel|enter continue", re.I
)
SIGN_IN = re.compile(r"Sign in with ChatGPT|Choose how you want to use Codex|"
                     r"Sign in with Device Code|Provide your own API key", re.I)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Dialog:
    """A dialog ao may answer: its signature and the option to choose."""

    name: str
    signature: re.Pattern[str]
    choose: re.Pattern[str]


DIALOGS = (
    Dialog(
        "trust-folder",
        re.compile(r"Trust this folder\?|Do you trust the contents of this directory", re.I),
        re.compile(r"Trust and continue|Yes, continue"),
    ),
    Dialog(
        "update-offer",
        re.compile(r"Update available!", re.I),
        re.compile(r"\d\.\s+Skip\s*$|\bSkip\s*$"),
    ),
    Dialog(
        "model-migration",
        re.compile(r"Choose how you'?d like Codex to proceed", re.I),
        re.compile(r"Use existing model|Keep current model", re.I),
    ),
)


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the screen's chrome says: a state and the line that decided it."""

    state: ActivityState
    detail: str


def find_dialog(screen: str) -> DialogAnswer | None:
    """A known dialog in the bottom of ``screen`` and the keys that answer it."""
    lines = screen_lines(screen, 30)
    text = "\n".join(lines)
    for dialog in DIALOGS:
        if dialog.signature.search(text):
            keys = choose_option(lines, dialog.choose, CURSOR)
            if keys is not None:
                return DialogAnswer(dialog.name, keys)
    return None


def read(screen: str) -> Reading | None:
    """The state Codex's chrome shows, or None when no chrome is recognised."""
    lines = screen_lines(screen, 40)
    if not lines:
        return None
    bottom = lines[-14:]
    text = "\n".join(bottom)
    dialog = find_dialog(screen)
    if dialog is not None:
        return Reading("needs_input", f"{dialog.name} dialog on screen")
    if SIGN_IN.search(text):
        return Reading("blocked", "not logged in (Codex shows its sign-in screen)")
    if APPROVAL.search(text):
        question = next((unboxed(x) for x in bottom if APPROVAL.search(x)), bottom[-1])
        return Reading("needs_input", f"approval prompt: {question[:100]}")
    composer = _composer(lines)
    if composer is None:
        if any(QUESTION_FOOTER.search(line) for line in bottom[-3:]):
            return Reading("needs_input", f"a question is on screen: {unboxed(bottom[0])[:100]}")
        return None
    above = [unboxed(line) for line in lines[max(0, composer - 4) : composer]]
    footer = [unboxed(line) for line in lines[composer + 1 :]]
    busy = next((line for line in above if BUSY.search(line)), None)
    if busy is not None:
        denied = next((m for m in map(UNAUTHORIZED.search, above) if m), None)
        if denied:
            return Reading("blocked", f"authentication failed ({denied.group(1)}), reconnecting")
        return Reading("working", f"busy: {busy[:100]}")
    if not any(" · " in line and "for shortcuts" not in line for line in footer):
        # the bare composer Codex draws for a moment at start-up, before sign-in or
        # trust screens replace it: ready only once the status line (model · dir) is up
        return Reading("starting", "the composer is drawn; no status line yet")
    return Reading("ready", "the composer is idle")


def _composer(lines: list[str]) -> int | None:
    """Index of the composer line among the last few lines (menus excluded)."""
    for index in range(len(lines) - 1, max(-1, len(lines) - 7), -1):
        line = lines[index]
        if line.lstrip().startswith(CURSOR) and not MENU_LINE.match(line):
            return index
    return None

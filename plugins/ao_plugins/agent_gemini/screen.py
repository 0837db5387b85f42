"""Gemini CLI's screen, read only through its own chrome at the bottom of the pane.

The idle chrome, from the bottom up: the footer (``workspace (/directory) … /model``
and its values), the input line (``>   Type your message or @path/to/file``; ``*`` in
YOLO mode, ``!`` in shell mode), optionally framed by half-block bars (``▄▄▄``/``▀▀▀``
with true colour), the approval-mode hint, a ``────`` rule, and the status line above
it (``⠙ Thinking... (esc to cancel, 2s)`` while busy, ``? for shortcuts`` on its right).
Dialogs (trust, tool approval, usage limit, sign-in) replace the input area with a
rounded box ending in a ``● 1. …`` option list. Transcript text further up is never
matched. Strings are those of Gemini CLI 0.61 (see docs/agents-more.md).
"""

from __future__ import annotations

import dataclasses
import re

from ao.sdk.agentkit import choose_option, is_rule, screen_lines, unboxed
from ao.sdk.contracts import ActivityState, DialogAnswer
from ao.sdk.textsafe import strip_controls

from .native import AUTH_ERROR, USAGE_ERROR, classify_error

CURSOR = "●"
HALF_BLOCKS = frozenset("▄▀")
INPUT = re.compile(r"^(?:[>*!]|\(r:\))\s")
BUSY = re.compile(r"\(esc to cancel(?:, ([^)]*))?\)", re.I)
OPTION = re.compile(rf"^\s*(?:{CURSOR}\s*)?\d+\.\s+\S")
API_ERROR = re.compile(r"^✕ \[API Error: (.*)")
PERMISSION = re.compile(
    r"Apply this change\?|Allow execution of|Do you want to proceed\?|"
    r"Do you want to allow this read\?|Ready to start implementation\?|"
    r"Do you want to accept and load these policies\?",
)
USAGE = re.compile(r"Usage limit reached for ([^\s.]+(?:\.[^\s.]+)*)|You have exhausted your", re.I)
# the option of the dialog the CLI shows when a model call failed for good
GIVE_UP = re.compile(rf"^\s*(?:{CURSOR}\s*)?\d+\.\s+Keep trying\b")
LOGIN = re.compile(
    r"How would you like to authenticate|Waiting for authentication|Sign in with Google",
    re.I,
)


@dataclasses.dataclass(frozen=True)
class Dialog:
    """A dialog ao may answer: how to recognise it and which option to take."""

    name: str
    signature: re.Pattern[str]
    choose: re.Pattern[str]


DIALOGS = (
    Dialog(
        "trust-folder",
        re.compile(r"Do you trust the files in this folder\?"),
        re.compile(r"\d\.\s+Trust folder\b"),
    ),
    Dialog(
        "privacy-notice",
        re.compile(r"Allow Google to use this data", re.I),
        re.compile(r"\d\.\s+No\b"),
    ),
)


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the screen's chrome says: a state and the line that decided it."""

    state: ActivityState
    detail: str


def chrome_lines(screen: str, last: int = 40) -> list[str]:
    """Non-blank bottom lines with half-block bars (true-colour box edges) dropped."""
    return [line for line in screen_lines(screen, last) if not (set(line.strip()) <= HALF_BLOCKS)]


def find_dialog(screen: str) -> DialogAnswer | None:
    """A known dialog at the bottom of ``screen`` and the keys that answer it."""
    lines = chrome_lines(screen, 30)
    if _input_line(lines) is not None:
        return None
    text = "\n".join(lines)
    for dialog in DIALOGS:
        if dialog.signature.search(text):
            plain = [line.replace("│", " ") for line in lines]  # keep the columns
            keys = choose_option(plain, dialog.choose, CURSOR)
            if keys is not None:
                return DialogAnswer(dialog.name, keys)
    return None


def _input_line(lines: list[str]) -> int | None:
    """Index of the input line: right under the last rule (past the mode hint).

    Only the prompt area may follow that rule (input lines, then the footer); a dialog
    box below it means the prompt is hidden, so a ``> …`` line there is history.
    """
    rules = [i for i in range(max(0, len(lines) - 40), len(lines)) if is_rule(lines[i])]
    if not rules:
        return None
    after = lines[rules[-1] + 1 :]
    if any(line.lstrip()[:1] in ("╭", "╰", "│") for line in after):
        return None
    for offset, line in enumerate(after[:3]):
        if INPUT.match(unboxed(line)):
            return rules[-1] + 1 + offset
    return None


def read(screen: str) -> Reading | None:
    """The state Gemini's chrome shows, or None when no chrome is recognised."""
    lines = chrome_lines(screen, 40)
    if not lines:
        return None
    at = _input_line(lines)
    if at is None:
        return _without_input(lines)
    rule = max(i for i in range(at) if is_rule(lines[i]))
    above = [unboxed(line) for line in lines[max(0, rule - 4) : rule]]
    status = above[-1] if above else ""
    busy = BUSY.search(status)
    if busy:
        phrase = status[: busy.start()].strip(" ⠁⠂⠄⡀⢀⠠⠐⠈⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
        return Reading("working", f"busy: {phrase or 'model call'} ({busy.group(1) or ''})")
    starts = [i for i, line in enumerate(above) if API_ERROR.match(line)]
    if starts:
        # the CLI's own error line just above the prompt (``✕ [API Error: …]``)
        # (only an account problem is trusted from here; the chat log tells any other)
        error = " ".join(above[starts[-1] : -1 or None])
        verdict = classify_error(error)
        if AUTH_ERROR.search(error) or USAGE_ERROR.search(error):
            return Reading("blocked", verdict.detail)
        return Reading("ready", f"prompt is idle after an API error: {verdict.detail}")
    return Reading("ready", "prompt is idle")


def _without_input(lines: list[str]) -> Reading | None:
    bottom = lines[-24:]
    text = "\n".join(bottom)
    options = any(OPTION.match(unboxed(line)) for line in bottom[-12:])
    dialog = find_dialog(text)
    if dialog is not None:
        return Reading("needs_input", f"{dialog.name} dialog on screen")
    usage = USAGE.search(text)
    if usage:
        model = f" for {usage.group(1)}" if usage.group(1) else ""
        return Reading("blocked", f"usage limit reached{model} (Keep trying / Stop)")
    if LOGIN.search(text):
        return Reading("blocked", "not authenticated: Gemini CLI asks how to sign in (/auth)")
    if any(GIVE_UP.match(unboxed(line)) for line in bottom[-12:]):
        # the CLI's failure dialog (no access to the model…): retrying will not help
        said = _dialog_text(bottom)
        return Reading("blocked", f"the model call failed: {said} (Keep trying / Stop)")
    question = next((unboxed(line) for line in bottom if PERMISSION.search(line)), None)
    if question and options:
        tool = next(
            (unboxed(line)[2:].strip() for line in bottom if unboxed(line).startswith("? ")), ""
        )
        return Reading(
            "needs_input", f"permission prompt: {question}" + (f" ({tool[:80]})" if tool else "")
        )
    if options:
        asked = next((unboxed(x) for x in reversed(bottom) if unboxed(x).endswith("?")), "")
        return Reading(
            "needs_input", f"a question is on screen: {asked[:100] or 'choose an option'}"
        )
    return None


def _dialog_text(lines: list[str]) -> str:
    """The first line of text in the last dialog box (its message), bounded."""
    top = max((i for i, line in enumerate(lines) if line.lstrip().startswith("╭")), default=-1)
    for line in lines[top + 1 :]:
        text = unboxed(line).strip()
        if text and not OPTION.match(text):
            return " ".join(strip_controls(text).split())[:160]
    return "no detail"

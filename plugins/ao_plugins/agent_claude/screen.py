"""Claude Code's screen, read only through its own chrome near the bottom of the pane.

The rules look at the prompt box (``────`` / ``❯ input`` / ``────``), the footer under
it, the status line just above it, and the dialogs Claude draws in place of the box.
Transcript text further up (model replies, tool output) is never matched.
Strings are those of Claude Code 2.1.x (see docs/agents.md).
"""

from __future__ import annotations

import dataclasses
import re

from ao.sdk.agentkit import choose_option, find_prompt_box, screen_lines, unboxed
from ao.sdk.contracts import ActivityState, DialogAnswer

CURSOR = "❯"

# a retried API error on the status line: "✻ 401 invalid x-api-key · retrying in 33s · attempt 7/10"
RETRY = re.compile(r"\b(\d{3})\s+(.*?)\s+·\s+retrying in \d+\w*\s+·\s+attempt\s+(\d+)/(\d+)")
USAGE_FOOTER = re.compile(r"usage limit reached(?:\s+·\s+limit resets ([^·]+))?", re.I)
SPINNER_GLYPHS = "✻✶✳✢✽·*"
NOT_LOGGED_IN = re.compile(r"Not logged in · Please run /login|Invalid API key · ")
# the notice Claude keeps at the right of the line above the prompt box while it has no
# credentials (chrome, unlike the transcript line above)
NO_LOGIN_NOTICE = re.compile(r"Not logged in · run /login\s*$")
LOGIN_SCREEN = re.compile(r"Select login method|Log in with your Anthropic account", re.I)

# tool permission prompts: a question and the dialog's footer at the very bottom
PERMISSION = re.compile(
    r"Do you want to (?:proceed|create|make this edit|allow|run)|"
    r"needs your permission|wants? (?:your )?permission|Claude needs your attention",
    re.I,
)
DIALOG_FOOTER = re.compile(r"Esc to cancel|Enter to confirm|esc to close", re.I)


@dataclasses.dataclass(frozen=True)
class Dialog:
    """A first-run dialog ao may answer: how to recognise it and which option to take."""

    name: str
    signature: re.Pattern[str]
    choose: re.Pattern[str] | None = None  # option to move the cursor to, then Enter
    keys: tuple[str, ...] = ()  # or fixed keys


DIALOGS = (
    Dialog(
        "trust-folder",
        re.compile(
            r"Is this a project you created or one you trust|Quick safety check|"
            r"Do you trust the files in this folder",
            re.I,
        ),
        choose=re.compile(r"Yes, I trust"),
    ),
    Dialog(
        "api-key-confirm",
        re.compile(r"Do you want to use this API key\?"),
        choose=re.compile(rf"^\s*(?:{CURSOR}\s*)?Yes\s*$"),
    ),
    Dialog(
        "bypass-permissions-accept",
        re.compile(r"running in Bypass Permissions mode", re.I),
        choose=re.compile(r"Yes, I accept"),
    ),
    Dialog(
        "theme",
        re.compile(r"Choose the text style that looks best with your terminal|Syntax theme:", re.I),
        keys=("Enter",),
    ),
    Dialog("feedback-survey", re.compile(r"How is Claude doing this session\?", re.I), keys=("0",)),
    Dialog(
        "update-offer",
        re.compile(r"(?:update|new version).*available.*\[y/n\]", re.I),
        keys=("n", "Enter"),
    ),
)


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the screen's chrome says: a state and the line that decided it."""

    state: ActivityState
    detail: str
    # decided by a transcript line above the prompt box (not the chrome): after a
    # restore it may be history, so the session's own transcript comes first
    from_transcript: bool = False


def find_dialog(screen: str) -> DialogAnswer | None:
    """A known first-run dialog in the bottom of ``screen`` and the keys that answer it."""
    lines = screen_lines(screen, 30)
    text = "\n".join(lines)
    for dialog in DIALOGS:
        if not dialog.signature.search(text):
            continue
        if dialog.keys:
            return DialogAnswer(dialog.name, dialog.keys)
        assert dialog.choose is not None
        keys = choose_option(lines, dialog.choose, CURSOR)
        if keys is not None:
            return DialogAnswer(dialog.name, keys)
    return None


def read(screen: str) -> Reading | None:
    """The state Claude's chrome shows, or None when no chrome is recognised."""
    lines = screen_lines(screen, 40)
    if not lines:
        return None
    box = find_prompt_box(lines, CURSOR)
    if box is None:
        return _without_box(lines)
    footer = " · ".join(box.footer)
    above = [line for line in box.above if "/effort" not in line]
    status = next(
        (line for line in above if line[:1] in SPINNER_GLYPHS), above[-1] if above else ""
    )
    retry = next((found for found in map(RETRY.search, above) if found), None)
    if retry and retry.group(1) in ("401", "403"):
        return Reading(
            "blocked", f"authentication failed ({retry.group(1)} {retry.group(2)}), retrying"
        )
    if any(NO_LOGIN_NOTICE.search(line) for line in above[-1:]):
        return Reading("blocked", "not logged in (Claude shows “Not logged in · run /login”)")
    usage = USAGE_FOOTER.search(footer)
    if usage:
        resets = f"; resets {usage.group(1).strip()}" if usage.group(1) else ""
        return Reading("blocked", f"usage limit reached{resets}")
    if "esc to interrupt" in footer.lower():
        if retry:
            return Reading("working", f"retrying after {retry.group(1)} {retry.group(2)}")
        return Reading("working", f"busy: {status or 'esc to interrupt'}"[:120])
    refused = next((line for line in above if NOT_LOGGED_IN.search(line)), None)
    if refused:
        said = refused.lstrip("⎿ ")[:100]
        return Reading("blocked", f"authentication failed: {said}", from_transcript=True)
    return Reading("ready", "prompt box is idle" + (f" after {status!r}" if status else ""))


def _without_box(lines: list[str]) -> Reading | None:
    bottom = lines[-16:]
    text = "\n".join(bottom)
    dialog = find_dialog(text)
    if dialog is not None:
        return Reading("needs_input", f"{dialog.name} dialog on screen")
    if LOGIN_SCREEN.search(text):
        return Reading("blocked", "not logged in (login screen)")
    if any(DIALOG_FOOTER.search(line) for line in bottom[-3:]):
        question = next((unboxed(line) for line in bottom if PERMISSION.search(line)), None)
        if question:
            return Reading("needs_input", f"permission prompt: {question[:100]}")
        asked = next(
            (unboxed(line) for line in reversed(bottom) if line.rstrip().endswith("?")), ""
        )
        return Reading("needs_input", f"a question is on screen: {asked[:100] or bottom[-1][:100]}")
    return None

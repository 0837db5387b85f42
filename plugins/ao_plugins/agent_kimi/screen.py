"""Kimi Code CLI's screen, read only through its own chrome at the bottom of the pane.

The bottom of Kimi's shell, top to bottom: the live area of a running turn (a moon
spinner ``🌘`` while the model thinks, ``⠋ Using Shell (…)`` for a tool call, ``Retrying
after rate limit · attempt 2/3 · 1s``, ``Compacting...``), the input header ``── input
───`` (``╌╌ input · plan ╌╌`` in plan mode) over the typed text, a rule, the mode line
``[yolo  ]agent (<model> ○)  <cwd>  <branch>  <tips>`` and the context line. A
permission request replaces the input header with a panel ``╭─ approval ─…`` (``→ [1]
Approve once`` … ``[3] Reject``); a question of the model's with ``╭─ question ─…``.
Output further up (the transcript) is never matched. Strings are kimi-cli 1.51.0's.
"""

from __future__ import annotations

import dataclasses
import re

from ao.sdk.agentkit import is_rule, screen_lines, unboxed
from ao.sdk.contracts import ActivityState
from ao.sdk.errors import UsageError

MOON = "🌑🌒🌓🌔🌕🌖🌗🌘"
DOTS = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
INPUT = re.compile(r"^(?:──|╌╌) input\b")
MODE = re.compile(r"^(?:(?:yolo|afk|plan)\s+)*(agent|shell)\b(.*)$")
PANEL = re.compile(r"^╭─ (approval|question) ─")
OPTION = re.compile(r"^(?:→\s*)?\[(\d)\]\s+(.+)$")
BUSY_TEXT = re.compile(
    r"^(?:Retrying after .+|Compacting\.\.\.|Connecting to MCP servers\.\.\.|Thinking\b.*)"
)
NO_MODEL = re.compile(r"Model: not set, send /login|LLM not set, send \"/login\"")
LIVE_LINES = 8  # how far above the input header the live area is looked for

# answers to the permission panel -> the option's digit (pressed, it chooses at once)
APPROVALS = {"1": "1", "y": "1", "yes": "1", "approve": "1", "approve once": "1",
             "2": "2", "always": "2", "session": "2", "approve for this session": "2",
             "3": "3", "n": "3", "no": "3", "reject": "3"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the screen's chrome says: a state and the line that decided it."""

    state: ActivityState
    detail: str


@dataclasses.dataclass(frozen=True)
class Panel:
    """A permission request or a question drawn over the input."""

    kind: str  # approval | question
    lines: tuple[str, ...]  # its content lines, borders removed
    options: dict[str, str]  # digit -> label


def _footer(lines: list[str]) -> int | None:
    """Index of the rule above the mode line (the shell's footer), among the last lines."""
    for index in range(len(lines) - 2, max(-1, len(lines) - 6), -1):
        if is_rule(lines[index]) and MODE.match(lines[index + 1].strip()):
            return index
    return None


def find_panel(screen: str) -> Panel | None:
    """The approval or question panel just above the footer, if one is up."""
    lines = screen_lines(screen, 60)
    footer = _footer(lines)
    if footer is None or footer == 0 or not lines[footer - 1].lstrip().startswith("╰"):
        return None
    for start in range(footer - 1, max(-1, footer - 40), -1):
        found = PANEL.match(lines[start].strip())
        if found:
            body = tuple(unboxed(line) for line in lines[start + 1 : footer - 1])
            body = tuple(line for line in body if line)
            options = {m.group(1): m.group(2).strip() for m in map(OPTION.match, body) if m}
            return Panel(found.group(1), body, options)
    return None


def read(screen: str) -> Reading | None:
    """The state Kimi's chrome shows, or None when no chrome is recognised (starting)."""
    lines = screen_lines(screen, 60)
    footer = _footer(lines)
    if footer is None:
        return None
    panel = find_panel(screen)
    if panel is not None:
        return Reading("needs_input", describe(panel))
    header = next(
        (i for i in range(footer - 1, max(-1, footer - 30), -1) if INPUT.match(lines[i].strip())),
        None,
    )
    if header is None:
        return None
    mode = MODE.match(lines[footer + 1].strip())
    has_model = mode is not None and ("(" in mode.group(2) or any(c in mode.group(2) for c in "○●"))
    if not has_model and any(NO_MODEL.search(line) for line in lines):
        return Reading("blocked", "no model is configured (Kimi says: Model: not set)")
    for line in reversed(lines[max(0, header - LIVE_LINES) : header]):
        first = line[:1]
        if first and first in MOON:
            return Reading("working", "busy: the model is thinking")
        if first and first in DOTS:
            return Reading("working", f"busy: {line[1:100].strip()}")
        if BUSY_TEXT.match(line):
            return Reading("working", f"busy: {line[:100]}")
    return Reading("ready", "the input is idle")


def describe(panel: Panel) -> str:
    """One line naming the request: ``approval: Shell is requesting approval to run
    command: echo hi``, ``question: Which colour?``."""
    if panel.kind == "question":
        question = next((line for line in panel.lines if line.startswith("?")), "")
        return f"question: {question.lstrip('? ').strip() or 'the model asks'}"[:140]
    text = [line for line in panel.lines if not OPTION.match(line) and "select" not in line]
    return f"approval: {' '.join(text[:2])}"[:140]


def answer_keys(screen: str, text: str) -> tuple[str, ...] | None:
    """The key that answers the panel on screen as ``text`` says; None without a panel.

    Both panels take an option's digit and act on it at once. The approval panel: 1, y,
    yes (approve once), 2, always (for this session), 3, n, no (reject); its option 4
    asks for feedback text, which ao cannot type into it. The question panel: an
    option's digit or its label. Anything else raises ``UsageError`` instead of being
    typed, since Enter would choose the highlighted option.
    """
    panel = find_panel(screen)
    if panel is None:
        return None
    answer = " ".join(text.lower().split())
    if panel.kind == "approval":
        if answer in APPROVALS and APPROVALS[answer] in panel.options:
            return (APPROVALS[answer],)
        raise UsageError(
            f"Kimi's approval panel takes no text ({text.strip()[:40]!r})",
            hint="answer 1 or yes (approve once), 2 or always (this session), 3 or no (reject)",
        )
    if answer in panel.options:
        return (answer,)
    labels = {label.lower(): digit for digit, label in panel.options.items()}
    if answer in labels:
        return (labels[answer],)
    choices = ", ".join(f"{d} ({label})" for d, label in sorted(panel.options.items()))
    raise UsageError(
        f"Kimi's question takes one of its options ({text.strip()[:40]!r} is none)",
        hint=f"answer with an option's number or label: {choices}",
    )

"""Pi's own records: the session file ao chooses with ``--session <path>``.

A session is JSONL: a ``{"type": "session", "id", "cwd"…}`` header, then entries
(``model_change``, ``thinking_level_change``, ``message``…) linked by ``id``/``parentId``.
``message`` entries hold ``user``, ``assistant`` (``stopReason``: ``stop`` | ``length``
| ``toolUse`` | ``error`` | ``aborted``, ``errorMessage``, ``usage`` with tokens and
``cost.total``) and ``toolResult`` messages. Pi writes the file once the first
assistant message exists, so the first turn shows only on screen.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing as t
from pathlib import Path

from ao.sdk.agentkit import iter_records, tail_records
from ao.sdk.textsafe import one_line as error_line

AUTH_ERROR = re.compile(
    r"\b401\b|\b403\b|Incorrect API key|invalid[_ ]api[_ ]key|Unauthorized|authentication|"
    r"No API key|API key not valid",
    re.I,
)
USAGE_ERROR = re.compile(
    r"exceeded your current quota|insufficient_quota|usage limit|quota|credit balance|"
    r"rate.?limit|\b429\b|out of credits",
    re.I,
)


def agent_dir(environ: t.Mapping[str, str] | None = None) -> Path:
    """Pi's config dir (``$PI_CODING_AGENT_DIR`` or ``~/.pi/agent``)."""
    env = os.environ if environ is None else environ
    configured = env.get("PI_CODING_AGENT_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".pi" / "agent"


@dataclasses.dataclass(frozen=True)
class TurnState:
    """Where the session file says the conversation stands."""

    state: t.Literal["finished", "running", "blocked", "empty"]
    detail: str
    at: float | None = None  # epoch seconds of the deciding message


def turn_state(path: Path) -> TurnState:
    """The state of the last turn, from the file's tail (one bounded read)."""
    for record in reversed(tail_records(path)):
        if record.get("type") != "message":
            continue
        message = record.get("message") or {}
        role = message.get("role")
        at = _ms(message.get("timestamp"))
        if role == "assistant":
            reason = message.get("stopReason")
            if reason == "toolUse":
                return TurnState("running", "a tool is running", at)
            if reason == "error":
                return classify(str(message.get("errorMessage") or "error"), at)
            if reason == "aborted":
                return TurnState("finished", "the turn was interrupted", at)
            return TurnState("finished", f"the model answered ({reason or 'stop'})", at)
        if role == "toolResult":
            return TurnState("running", "a tool result went back to the model", at)
        if role == "user":
            return TurnState("running", "a prompt was submitted", at)
    return TurnState("empty", "no turn yet")


def classify(error: str, at: float | None = None) -> TurnState:
    """An error reply, which blocks the session whatever it was (auth, quota or other).

    Pi writes one per failed attempt while it retries (the screen then shows
    ``Retrying (k/n)``, which the adapter lets win); an interrupt is ``aborted``.
    """
    text = error_line(error)
    if USAGE_ERROR.search(error):
        return TurnState("blocked", f"usage limit reached: {text}", at)
    if AUTH_ERROR.search(error):
        return TurnState("blocked", f"authentication failed: {text}", at)
    return TurnState("blocked", f"the last turn failed: {text}", at)


def _ms(value: object) -> float | None:
    return value / 1000 if isinstance(value, int | float) else None


@dataclasses.dataclass
class Usage:
    """Totals of a session file."""

    session_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    summary: str | None = None


def usage(path: Path) -> Usage:
    """Session id, first prompt, tokens (cache reads count as input) and Pi's own cost."""
    total = Usage()
    cost = 0.0
    priced = False
    for record in iter_records(path):
        if record.get("type") == "session" and total.session_id is None:
            total.session_id = str(record.get("id") or "") or None
        if record.get("type") != "message":
            continue
        message = record.get("message") or {}
        if message.get("role") == "user" and total.summary is None:
            text = _text(message.get("content")).strip()
            total.summary = text.splitlines()[0][:120] if text else None
        if message.get("role") != "assistant":
            continue
        used = message.get("usage") or {}
        total.input_tokens += int(used.get("input") or 0) + int(used.get("cacheRead") or 0)
        total.output_tokens += int(used.get("output") or 0)
        spent = (used.get("cost") or {}).get("total")
        if isinstance(spent, int | float):
            cost += float(spent)
            priced = True
    total.cost_usd = round(cost, 6) if priced else None
    return total


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""

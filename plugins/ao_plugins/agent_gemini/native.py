"""Gemini CLI's own records: the per-session home and its chat log.

- ``$GEMINI_CLI_HOME/.gemini/`` (``~/.gemini`` without the variable) holds
  ``settings.json``, ``trustedFolders.json``, the global ``GEMINI.md`` memory, OAuth
  files (``oauth_creds.json``, ``google_accounts.json``) and, per project,
  ``tmp/<slug>/chats/session-<YYYY-MM-DDTHH-MM>-<first 8 of the session id>.jsonl``.
- The chat log is a JSONL event log: a header ``{sessionId, projectHash, startTime…}``,
  message records ``{id, timestamp, type: user|gemini|info|error|warning, content…}``
  (a ``gemini`` message is written when its stream ends, and written again with
  ``toolCalls`` once its tools finished), ``{"$set": {...}}`` patches (``messages``
  replaces the whole list, e.g. after a cancelled turn) and ``{"$rewindTo": id}``.
  ``gemini`` messages carry ``tokens`` (input, output, cached, thoughts, tool) and ``model``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import typing as t
from collections.abc import Iterable, Mapping
from pathlib import Path

from ao.sdk.agentkit import iso_epoch, iter_records, process_start, read_json, tail_records
from ao.sdk.textsafe import strip_controls

IGNORED_PREFIXES = ("<session_context>", "<hook_context>", "/", "?")
AUTH_ERROR = re.compile(
    r"\b401\b|\b403\b|UNAUTHENTICATED|PERMISSION_DENIED|API key not valid|API_KEY_INVALID|"
    r"invalid authentication credentials|Invalid API key",
    re.I,
)
USAGE_ERROR = re.compile(
    r"exhausted your (?:daily )?quota|quota exceeded|Usage limit reached|RESOURCE_EXHAUSTED|"
    r"\b429\b|exceeded your current quota|exhausted your capacity",
    re.I,
)
_MESSAGE = re.compile(r'"message":\s*"((?:\\.|[^"\\])*)"')
_CODE = re.compile(r'"code":\s*(\d{3})')
# USD per million tokens (input, output, cached input), public list prices by family,
# used only to *estimate* a session's cost
PRICES: tuple[tuple[re.Pattern[str], tuple[float, float, float]], ...] = (
    (re.compile(r"flash-lite"), (0.10, 0.40, 0.025)),
    (re.compile(r"flash"), (0.30, 2.50, 0.075)),
    (re.compile(r"gemini-2\.5-pro|gemini-1\.5-pro"), (1.25, 10.0, 0.31)),
    (re.compile(r"pro"), (2.0, 12.0, 0.20)),
)


def user_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user's own ``.gemini`` directory (``$GEMINI_CLI_HOME/.gemini`` or ``~/.gemini``)."""
    env = os.environ if environ is None else environ
    base = env.get("GEMINI_CLI_HOME")
    return (Path(base).expanduser() if base else Path.home()) / ".gemini"


def chat_path(home: Path, session_id: str | None) -> Path | None:
    """The chat log of ``session_id`` under a CLI home (the dir that holds ``.gemini``)."""
    if not session_id:
        return None
    try:
        found = list((home / ".gemini" / "tmp").glob(f"*/chats/session-*-{session_id[:8]}.jsonl"))
    except OSError:
        return None
    if len(found) > 1:
        found = [p for p in found if _header_id(p) == session_id] or found
    if not found:
        return None
    return max(found, key=lambda p: p.stat().st_mtime if p.exists() else 0.0)


def _header_id(path: Path) -> str | None:
    for record in iter_records(path):
        value = record.get("sessionId")
        return value if isinstance(value, str) else None
    return None


def replay(records: Iterable[Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
    """The message list the CLI itself rebuilds from log records (ids replace in place)."""
    messages: dict[str, dict[str, t.Any]] = {}
    for record in records:
        if isinstance(record.get("$rewindTo"), str):
            ids = list(messages)
            rewind = record["$rewindTo"]
            for key in ids[ids.index(rewind) :] if rewind in ids else ids:
                del messages[key]
        elif isinstance(record.get("id"), str) and "type" in record:
            messages[record["id"]] = dict(record)
        else:
            patch = record.get("$set") if isinstance(record.get("$set"), dict) else record
            listed = patch.get("messages") if isinstance(patch, dict) else None
            if isinstance(listed, list):
                if "$set" in record:
                    messages.clear()
                for msg in listed:
                    if isinstance(msg, dict) and isinstance(msg.get("id"), str):
                        messages[msg["id"]] = dict(msg)
    return list(messages.values())


def text_of(content: object) -> str:
    """The text of a message's ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def is_prompt(message: Mapping[str, t.Any]) -> bool:
    """A user message the human (or ao) typed, not injected context or a slash command."""
    if message.get("type") != "user":
        return False
    text = text_of(message.get("content")).strip()
    return bool(text) and not text.startswith(IGNORED_PREFIXES)


@dataclasses.dataclass(frozen=True)
class TurnState:
    """Where the chat log says the conversation stands."""

    state: t.Literal["finished", "running", "blocked", "empty"]
    detail: str
    at: float | None = None  # epoch seconds of the deciding record


def turn_state(path: Path) -> TurnState:
    """The state of the last turn, from the log's tail (one bounded read)."""
    for message in reversed(replay(tail_records(path))):
        kind = message.get("type")
        at = iso_epoch(message.get("timestamp"))
        if kind == "error":
            return classify_error(text_of(message.get("content")), at)
        if kind == "gemini":
            calls = message.get("toolCalls")
            if calls:
                return TurnState("running", "tool results go back to the model", at)
            if not text_of(message.get("content")).strip():
                return TurnState(
                    "running", "a tool call is pending (running or awaiting approval)", at
                )
            return TurnState("finished", "the model answered", at)
        if kind == "user":
            content = message.get("content")
            if isinstance(content, list) and any(
                isinstance(p, dict) and "functionResponse" in p for p in content
            ):
                return TurnState("running", "a tool result went back to the model", at)
            if is_prompt(message):
                return TurnState("running", "a prompt was submitted", at)
    return TurnState("empty", "no turn yet")


def classify_error(text: str, at: float | None = None) -> TurnState:
    """An error record, which blocks the session whatever it was (auth, quota or other).

    The CLI writes it once its own retries are over; a cancelled request (Escape) is an
    ``info`` record (``Request cancelled.``), never this.
    """
    line = " ".join(strip_controls(text).split()).removeprefix("✕ ")
    message = _MESSAGE.search(line)
    code = _CODE.search(line)
    short = message.group(1) if message else line.removeprefix("[API Error: ").split("]")[0]
    short = (f"{code.group(1)} " if code else "") + short[:160]
    if USAGE_ERROR.search(line):
        return TurnState("blocked", f"usage limit reached: {short}", at)
    if AUTH_ERROR.search(line):
        return TurnState("blocked", f"authentication failed: {short}", at)
    return TurnState("blocked", f"the last turn failed: {short}", at)


@dataclasses.dataclass
class Usage:
    """Token totals of a chat log, each model message counted once."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached: int = 0
    model: str | None = None
    summary: str | None = None
    cost_usd: float | None = None


def usage(path: Path) -> Usage:
    """Tokens (thoughts count as output), model, first prompt and estimated cost."""
    total = Usage()
    cost = 0.0
    priced = False
    for message in replay(iter_records(path)):
        if total.summary is None and is_prompt(message):
            total.summary = text_of(message.get("content")).strip().splitlines()[0][:120]
        if message.get("type") != "gemini":
            continue
        tokens = message.get("tokens") or {}
        inp = int(tokens.get("input") or 0)
        out = int(tokens.get("output") or 0) + int(tokens.get("thoughts") or 0)
        cached = int(tokens.get("cached") or 0)
        total.input_tokens += inp
        total.output_tokens += out
        total.cached += cached
        model = message.get("model")
        total.model = model if isinstance(model, str) else total.model
        price = price_of(total.model)
        if price is not None:
            priced = True
            fresh = max(0, inp - cached)
            cost += (fresh * price[0] + out * price[1] + cached * price[2]) / 1_000_000
    total.cost_usd = round(cost, 6) if priced else None
    return total


def price_of(model: str | None) -> tuple[float, float, float] | None:
    """The price row of a Gemini model family, or None for an unknown model."""
    if not model or "gemini" not in model.lower():
        return None
    name = model.lower()
    return next((row for pattern, row in PRICES if pattern.search(name)), None)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What the CLI's files say about a live session."""

    turn: TurnState | None  # None: no chat log yet
    loading: bool  # the CLI started after the log's last write: it has not opened it yet
    started: float | None  # epoch start of the CLI process, when known
    prompted: bool = False  # the input history has a prompt of this session


def snapshot(home: Path | None, session_id: str | None, pid: int | None) -> Snapshot:
    """The chat log's turn, refined by the input history and the CLI's start time.

    The CLI draws its prompt before it listens to input, and opens (creates, or touches
    when resuming) the chat log once it does: until then the session is still loading.
    """
    started = process_start(pid)
    path = chat_path(home, session_id) if home is not None else None
    try:
        mtime = path.stat().st_mtime if path is not None else None
    except OSError:
        mtime = None
    if path is None or mtime is None:
        return Snapshot(None, started is not None, started)
    turn = turn_state(path)
    submitted = last_input(path.parent.parent / "logs.json", session_id)
    if submitted is not None and submitted[0] > mtime and turn.state != "running":
        turn = TurnState("running", "a prompt was submitted (input history)", submitted[0])
    loading = started is not None and mtime < started
    if (
        turn.state == "blocked"
        and turn.at is not None
        and started is not None
        and turn.at < started  # (the start time from /proc is early, never late)
    ):
        # a failure of the process before a restore: this one has not tried yet
        turn = TurnState("finished", f"{turn.detail} (before gemini restarted)", turn.at)
    return Snapshot(turn, loading, started, prompted=submitted is not None)


def last_input(logs: Path, session_id: str | None) -> tuple[float, str] | None:
    """The newest prompt of ``session_id`` in the CLI's input history (``logs.json``).

    The CLI writes it the moment a prompt is submitted, before the chat log records it,
    so it bridges the gap in which a large prompt is still being processed.
    """
    try:
        entries = json.loads(logs.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entries, list):
        return None
    for entry in reversed(entries):
        if not isinstance(entry, dict) or entry.get("type") != "user":
            continue
        if session_id and entry.get("sessionId") not in (session_id, None):
            continue
        text = str(entry.get("message") or "").strip()
        at = iso_epoch(entry.get("timestamp"))
        if at is None or not text or text.startswith(IGNORED_PREFIXES):
            return None
        return at, text
    return None


def has_oauth(user: Path) -> bool:
    """Whether the user's ``.gemini`` holds a Google login (OAuth tokens)."""
    creds = read_json(user / "oauth_creds.json") or {}
    return bool(creds.get("refresh_token") or creds.get("access_token"))

"""Codex's own records: the rollout JSONL under ``$CODEX_HOME/sessions``.

``sessions/YYYY/MM/DD/rollout-<time>-<session id>.jsonl``, one per conversation (a
resumed conversation appends to its file). Lines are ``{"timestamp", "type",
"payload"}``: ``session_meta`` (id, cwd), ``turn_context`` (model, approval policy),
``response_item`` (messages, ``function_call``/``function_call_output``), and
``event_msg`` (``task_started``, ``task_complete`` with ``error`` when the turn
failed, ``turn_aborted``, ``token_count`` with cumulative ``total_token_usage``).
Each ao session has its own CODEX_HOME, so finding the rollout is a listing of a
directory that holds only that session's files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agentkit import estimate_cost, iso_epoch, iter_records, tail_records
from ao.sdk.textsafe import one_line, strip_controls


def user_home(environ: Mapping[str, str] | None = None) -> Path:
    """The user's own Codex home: ``$CODEX_HOME`` or ``~/.codex``."""
    env = os.environ if environ is None else environ
    configured = env.get("CODEX_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".codex"


def _newest(path: Path, prefix: str = "") -> list[Path]:
    try:
        return sorted((p for p in path.iterdir() if p.name.startswith(prefix)), reverse=True)
    except OSError:
        return []


def rollout(home: Path, session_id: str | None = None) -> Path | None:
    """The rollout of ``session_id``, or the newest rollout under ``home``."""
    for year in _newest(home / "sessions"):
        for month in _newest(year):
            for day in _newest(month):
                for path in _newest(day, "rollout-"):
                    if path.suffix == ".jsonl" and (
                        not session_id or path.stem.endswith(session_id)
                    ):
                        return path
    return None


def session_id_of(path: Path) -> str | None:
    """The conversation id from the rollout's first line (``session_meta``)."""
    for record in iter_records(path):
        if record.get("type") == "session_meta":
            payload = record.get("payload") or {}
            value = payload.get("id") or payload.get("session_id")
            return str(value) if value else None
        break
    return None


@dataclasses.dataclass(frozen=True)
class TurnState:
    """Where the rollout says the conversation stands."""

    state: t.Literal["finished", "running", "approval", "blocked", "empty"]
    detail: str
    at: float | None = None


def turn_state(path: Path) -> TurnState:
    """The last turn's state, from the rollout's tail (one bounded read)."""
    answered: set[str] = set()
    pending: tuple[dict[str, t.Any], float | None] | None = None
    for record in reversed(tail_records(path)):
        kind = record.get("type")
        payload = record.get("payload") or {}
        at = iso_epoch(record.get("timestamp"))
        event = payload.get("type")
        if kind == "event_msg" and event == "task_complete":
            error = payload.get("error")
            if error:
                return _failed(error, at)
            return TurnState("finished", "turn complete", at)
        if kind == "event_msg" and event == "turn_aborted":
            return TurnState(
                "finished", f"turn aborted ({payload.get('reason', 'interrupted')})", at
            )
        if kind == "response_item" and event == "function_call_output":
            answered.add(str(payload.get("call_id")))
        if (
            kind == "response_item"
            and event == "function_call"
            and pending is None
            and str(payload.get("call_id")) not in answered
            and _escalated(payload)
        ):
            pending = (payload, at)
        if kind == "turn_context" and pending is not None:
            asks = (
                payload.get("approval_policy") != "never"
                and payload.get("approvals_reviewer", "user") == "user"
            )
            if asks:
                return TurnState(
                    "approval", f"awaiting approval: {_command(pending[0])}", pending[1]
                )
            pending = None
        if kind == "event_msg" and event == "task_started":
            if pending is not None:
                return TurnState(
                    "approval", f"awaiting approval: {_command(pending[0])}", pending[1]
                )
            return TurnState("running", "turn in progress", at)
    return TurnState("empty", "no turn yet")


def _escalated(payload: Mapping[str, t.Any]) -> bool:
    try:
        args = json.loads(payload.get("arguments") or "{}")
    except ValueError:
        return False
    return isinstance(args, dict) and args.get("sandbox_permissions") == "require_escalated"


def _command(payload: Mapping[str, t.Any]) -> str:
    try:
        args = json.loads(payload.get("arguments") or "{}")
    except ValueError:
        args = {}
    command = args.get("cmd") or args.get("command") or payload.get("name")
    if isinstance(command, list):
        command = " ".join(str(part) for part in command)
    return str(command)[:100]


def _failed(error: object, at: float | None) -> TurnState:
    """A turn Codex ended with an error: it cannot go on by itself, whatever the error.

    Codex retries transient failures itself (``stream_max_retries``) before it writes
    ``task_complete`` with ``error``; an interrupt is ``turn_aborted``, never this.
    """
    info: object = None
    message = str(error)
    if isinstance(error, dict):
        message = str(error.get("message") or error)
        info = error.get("codex_error_info")
    flat = json.dumps(info) if info is not None else ""
    short = error_line(message) or "error"
    if "usage_limit" in flat or "usage limit" in message.lower():
        return TurnState("blocked", f"usage limit reached: {short}", at)
    if (
        '"http_status_code": 401' in flat
        or '"http_status_code": 403' in flat
        or ("401 Unauthorized" in message)
    ):
        return TurnState("blocked", f"authentication failed: {short}", at)
    return TurnState("blocked", f"the last turn failed: {short}", at)


def error_line(message: str, limit: int = 200) -> str:
    """The first line of an error message, bounded, without control characters.

    Codex passes some server answers through as their raw JSON body
    (``{"error": {"message": …}}``): the message inside is the line to show.
    """
    text = strip_controls(message).strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("message"), str):
        text = strip_controls(inner["message"]).strip()
    return one_line(text.splitlines()[0] if text else "", limit)


@dataclasses.dataclass
class Usage:
    """Token totals, model, first prompt and estimated cost of a rollout."""

    session_id: str | None = None
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None
    summary: str | None = None

    @property
    def cost_usd(self) -> float | None:
        return estimate_cost(
            self.model, self.input_tokens - self.cached_input_tokens, self.output_tokens,
            self.cached_input_tokens,
        )  # fmt: skip


def usage(path: Path) -> Usage:
    """Read a whole rollout once (streamed)."""
    total = Usage()
    for record in iter_records(path):
        kind = record.get("type")
        payload = record.get("payload") or {}
        if kind == "session_meta" and total.session_id is None:
            total.session_id = payload.get("id") or payload.get("session_id")
        elif kind == "turn_context":
            total.model = payload.get("model") or total.model
        elif kind == "event_msg" and payload.get("type") == "token_count":
            totals = (payload.get("info") or {}).get("total_token_usage") or {}
            if totals:
                total.input_tokens = int(totals.get("input_tokens") or 0)
                total.cached_input_tokens = int(totals.get("cached_input_tokens") or 0)
                total.output_tokens = int(totals.get("output_tokens") or 0)
        elif total.summary is None and kind == "event_msg":
            total.summary = _user_text(payload)
    return total


def _user_text(payload: Mapping[str, t.Any]) -> str | None:
    text: object = None
    if payload.get("type") == "user_message":
        text = payload.get("message")
    elif payload.get("type") == "item_completed":
        item = payload.get("item") or {}
        if item.get("type") == "UserMessage":
            parts = [c.get("text") for c in item.get("content") or [] if isinstance(c, dict)]
            text = next((p for p in parts if p), None)
    if isinstance(text, str) and text.strip():
        return text.strip().splitlines()[0][:120]
    return None

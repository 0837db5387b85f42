"""Claude Code's own records: the live session registry and the session transcript.

- ``<config>/sessions/<pid>.json``: one file per running interactive CLI, with
  ``sessionId``, ``cwd`` and ``status`` (``busy`` during a model call, ``waiting`` while
  a permission prompt is shown, ``idle`` at the prompt). Removed when the CLI exits.
- ``<config>/projects/<cwd with every non-alphanumeric character as '-'>/<sessionId>.jsonl``:
  the transcript. ``assistant`` lines carry ``message.usage``; API errors are
  assistant lines with ``isApiErrorMessage`` (``error``: ``authentication_failed``,
  ``rate_limit``..., ``apiError: usage_limit_reached`` with ``quotaLimits.resetsAt``);
  ``system``/``turn_duration`` closes a finished turn; ``cost-state`` lines hold the
  CLI's own running cost.

``<config>`` is ``$CLAUDE_CONFIG_DIR`` or ``~/.claude``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.agentkit import estimate_cost, iso_epoch, iter_records, read_json, tail_records
from ao.sdk.textsafe import one_line as error_line

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
MAX_FOLDER = 200  # longer encoded folder names are shortened by the CLI
INTERRUPTED = "[Request interrupted by user"  # the user record Escape leaves


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Claude Code's config directory for the given environment."""
    env = os.environ if environ is None else environ
    configured = env.get("CLAUDE_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".claude"


def encode_cwd(cwd: str) -> str:
    """The transcript folder name Claude derives from a working directory."""
    return _NON_ALNUM.sub("-", cwd)


def live_record(home: Path, pid: int | None, session_id: str | None) -> dict[str, t.Any] | None:
    """The running CLI's registry entry: by the pane's pid, else by the session id."""
    sessions = home / "sessions"
    if pid is not None:
        record = read_json(sessions / f"{pid}.json")
        if record is not None and record.get("pid") in (pid, None):
            return record
    if not session_id:
        return None
    try:
        candidates = list(sessions.glob("*.json"))
    except OSError:
        return None
    for path in candidates:
        record = read_json(path)
        if record is not None and record.get("sessionId") == session_id:
            return record
    return None


def transcript_path(home: Path, cwd: str | None, session_id: str | None) -> Path | None:
    """The transcript of ``session_id``, or None when it does not exist (yet)."""
    if not session_id:
        return None
    if cwd:
        names = {encode_cwd(cwd), encode_cwd(os.path.realpath(cwd))}
        for name in names:
            path = home / "projects" / name / f"{session_id}.jsonl"
            if path.exists():
                return path
        if max(len(name) for name in names) <= MAX_FOLDER:
            return None
    # the CLI shortens long folder names (adding a hash): look the file up by its name
    try:
        return next((home / "projects").glob(f"*/{session_id}.jsonl"), None)
    except OSError:
        return None


@dataclasses.dataclass(frozen=True)
class TurnState:
    """Where the transcript says the conversation stands."""

    state: t.Literal["finished", "running", "blocked", "empty"]
    detail: str
    at: float | None = None  # epoch seconds of the deciding line


def turn_state(path: Path) -> TurnState:
    """The state of the last turn, from the transcript's tail (one bounded read)."""
    for record in reversed(tail_records(path)):
        kind = record.get("type")
        at = iso_epoch(record.get("timestamp"))
        if kind == "system" and record.get("subtype") == "turn_duration":
            return TurnState("finished", "turn finished", at)
        if kind == "assistant":
            if record.get("isApiErrorMessage"):
                return _api_error(record, at)
            reason = (record.get("message") or {}).get("stop_reason")
            if reason in ("end_turn", "stop_sequence", "max_tokens", "refusal"):
                return TurnState("finished", f"model ended the turn ({reason})", at)
            return TurnState("running", f"model turn in progress ({reason or 'streaming'})", at)
        if kind == "user":
            content = (record.get("message") or {}).get("content")
            if isinstance(content, list) and any(
                isinstance(c, dict) and c.get("type") == "tool_result" for c in content
            ):
                return TurnState("running", "a tool result went back to the model", at)
            if record.get("isMeta"):
                continue
            if _text_of(content).startswith(INTERRUPTED):
                return TurnState("finished", "the turn was interrupted", at)
            return TurnState("running", "a prompt was submitted", at)
    return TurnState("empty", "no turn yet")


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return next((str(c.get("text", "")) for c in content if isinstance(c, dict)), "")
    return ""


def _api_error(record: Mapping[str, t.Any], at: float | None) -> TurnState:
    """An API error that ended the turn: blocked whatever it was.

    The CLI writes this record only once its retries are over (it shows ``retrying in
    Ns · attempt k/10`` meanwhile); an interrupt is a user record, never this.
    """
    text = error_line(_text_of((record.get("message") or {}).get("content")))
    error = record.get("error")
    quota = record.get("quotaLimits") or {}
    if record.get("apiError") == "usage_limit_reached" or quota.get("status") == "rejected":
        resets = quota.get("resetsAt")
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(resets)) if resets else None
        return TurnState(
            "blocked", "usage limit reached" + (f"; resets {when}" if when else ""), at
        )
    if error == "authentication_failed" or record.get("apiErrorStatus") in (401, 403):
        return TurnState("blocked", f"authentication failed: {text or error}", at)
    if error in ("rate_limit", "billing_error") or record.get("apiErrorStatus") == 429:
        return TurnState("blocked", f"rate limited: {text or error}", at)
    return TurnState("blocked", f"the last turn failed: {text or error}", at)


@dataclasses.dataclass
class Usage:
    """Token totals of a transcript, each model message counted once."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    model: str | None = None
    summary: str | None = None
    cost_usd: float | None = None


def usage(path: Path) -> Usage:
    """Tokens, model, first prompt and cost from a whole transcript (streamed once)."""
    total = Usage()
    seen: set[str] = set()
    since_cost = Usage()
    for record in iter_records(path):
        kind = record.get("type")
        if kind == "cost-state":
            cost = record.get("totalCostUSD")
            if isinstance(cost, int | float):
                total.cost_usd = float(cost)
                since_cost = Usage()
            continue
        if kind == "user" and total.summary is None and not record.get("isMeta"):
            content = (record.get("message") or {}).get("content")
            if isinstance(content, str) and content.strip():
                total.summary = content.strip().splitlines()[0][:120]
            continue
        if kind != "assistant" or record.get("isApiErrorMessage"):
            continue
        message = record.get("message") or {}
        key = str(message.get("id") or record.get("uuid"))
        if key in seen or message.get("model") == "<synthetic>":
            continue
        seen.add(key)
        numbers = message.get("usage") or {}
        for acc in (total, since_cost):
            acc.input_tokens += int(numbers.get("input_tokens") or 0)
            acc.output_tokens += int(numbers.get("output_tokens") or 0)
            acc.cache_read += int(numbers.get("cache_read_input_tokens") or 0)
            acc.cache_write += int(numbers.get("cache_creation_input_tokens") or 0)
        total.model = message.get("model") or total.model
    extra = estimate_cost(
        total.model, since_cost.input_tokens, since_cost.output_tokens,
        since_cost.cache_read, since_cost.cache_write,
    )  # fmt: skip
    if extra is not None:
        total.cost_usd = round((total.cost_usd or 0.0) + extra, 6)
    return total

"""Kimi Code CLI's own records, in a session's share dir (``KIMI_SHARE_DIR``).

Kimi keeps everything under its share dir (``~/.kimi`` by default): ``config.toml``,
``kimi.json`` (the work dirs it knows, ``{"work_dirs": [{"path", "kaos", …}]}``), and
per session ``sessions/<md5(work dir)>/<session id>/`` with ``context.jsonl`` (the
conversation), ``state.json`` (approval state: ``yolo``, ``auto_approve_actions``) and
``wire.jsonl``: one ``{"timestamp", "message": {"type", "payload"}}`` line per event of
each turn (``TurnBegin``, ``StepBegin``, ``ContentPart``, ``ToolCall``, ``ToolResult``,
``StatusUpdate`` with token usage, ``StepRetry``, ``StepInterrupted`` on a failed step,
``QuestionRequest`` when the model asks the user, ``TurnEnd``). Permission requests are
not recorded there (only the screen shows them). Why a turn failed is in
``logs/kimi.log`` (``… | ERROR | … - Agent step 1 failed: APIStatusError: Error code: 401
- {…}``, or ``LLM not set:`` when no model is configured). Formats of kimi-cli 1.51.0.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import time
import tomllib
import typing as t
from collections.abc import Iterable
from pathlib import Path

from ao.sdk.agentkit import iter_records, read_json, tail_records, write_json, write_private
from ao.sdk.home import private_dir
from ao.sdk.textsafe import one_line

# entries of the user's share dir each session keeps to itself (the rest is linked)
PRIVATE = frozenset(
    {"sessions", "logs", "kimi.json", "user-history", "prompt-cache", "imported_sessions"}
)
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) \| (\w+)\s*\|[^|]*\| (.*)$")
STEP_FAILED = re.compile(r"Agent step \d+ failed: (\w+): (.*)")
NOT_SET = "LLM not set"
MESSAGE = re.compile(r"""['"]message['"]:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")
STATUS = re.compile(r"Error code: (\d{3})")
AUTH_ERROR = re.compile(
    r"\b401\b|\b403\b|Incorrect API key|invalid[_ ]api[_ ]key|Unauthorized|authentication|"
    r"Invalid Authentication|API key not valid",
    re.I,
)
USAGE_ERROR = re.compile(
    r"\b402\b|\b429\b|quota|usage limit|rate.?limit|insufficient_|membership|exceeded", re.I
)
LOG_TAIL = 256 * 1024
CLOCK_SLACK = 2.0  # seconds: the log's clock is local time to the millisecond


def share_dir(environ: t.Mapping[str, str] | None = None) -> Path:
    """Kimi's share dir: ``$KIMI_SHARE_DIR`` or ``~/.kimi``."""
    env = os.environ if environ is None else environ
    configured = env.get("KIMI_SHARE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".kimi"


def session_dir(home: Path, session_id: str | None) -> Path | None:
    """The directory of session ``session_id`` under the share dir ``home``, if it exists."""
    if not session_id or not SESSION_ID.match(session_id):
        return None
    with contextlib.suppress(OSError):
        for path in sorted((home / "sessions").glob(f"*/{session_id}")):
            if (path / "context.jsonl").is_file():
                return path
    return None


def wire_path(home: Path, session_id: str | None) -> Path | None:
    """The session's ``wire.jsonl`` (None until Kimi wrote it)."""
    found = session_dir(home, session_id)
    path = found / "wire.jsonl" if found is not None else None
    return path if path is not None and path.is_file() else None


def log_path(home: Path) -> Path:
    """Kimi's log in the share dir ``home``."""
    return home / "logs" / "kimi.log"


# ----------------------------------------------------------------------------- session state


def seed_session(
    home: Path,
    cwd: str,
    session_id: str,
    *,
    actions: Iterable[str] = (),
    yolo: bool = False,
    config: Path | None = None,
) -> None:
    """Make session ``session_id`` of work dir ``cwd`` exist in ``home`` before Kimi starts,
    with ``actions`` approved for the whole session and ``yolo`` as ao's level says.

    ``kimi --session <id>`` then resumes it (an empty conversation, the first time) and
    reads its ``state.json``: the approvals are those Kimi's own "Approve for this
    session" stores. A conversation that exists is never touched; its saved approvals are
    kept. A new session's plan mode follows the config's ``default_plan_mode``, as Kimi
    does for sessions it creates.
    """
    private_dir(home)
    meta_path = home / "kimi.json"
    meta = read_json(meta_path) or {}
    found = meta.get("work_dirs")
    dirs: list[t.Any] = found if isinstance(found, list) else []
    if not any(isinstance(d, dict) and d.get("path") == cwd and d.get("kaos", "local") == "local"
               for d in dirs):  # fmt: skip
        dirs.append({"path": cwd, "kaos": "local", "last_session_id": None})
        meta["work_dirs"] = dirs
        write_json(meta_path, meta)
    key = hashlib.md5(cwd.encode(), usedforsecurity=False).hexdigest()  # Kimi's own naming
    directory = home / "sessions" / key / session_id
    private_dir(directory)
    if not (directory / "context.jsonl").exists():
        write_private(directory / "context.jsonl", "")
    state_path = directory / "state.json"
    state = read_json(state_path)
    if state is None:
        state = {"version": 1, "plan_mode": _default_plan_mode(config)}
    held = state.get("approval")
    approval: dict[str, t.Any] = held if isinstance(held, dict) else {}
    saved = approval.get("auto_approve_actions")
    kept = {str(a) for a in saved} if isinstance(saved, list) else set()
    approval["auto_approve_actions"] = sorted(kept | set(actions))
    approval["yolo"] = yolo
    state["approval"] = approval
    write_json(state_path, state)


def _default_plan_mode(config: Path | None) -> bool:
    if config is None:
        return False
    try:
        return bool(tomllib.loads(config.read_text(encoding="utf-8")).get("default_plan_mode"))
    except (OSError, tomllib.TOMLDecodeError):
        return False


def read_config(home: Path) -> dict[str, t.Any]:
    """The share dir's ``config.toml`` (``{}`` when missing or broken)."""
    try:
        return tomllib.loads((home / "config.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


# ----------------------------------------------------------------------------- turns


@dataclasses.dataclass(frozen=True)
class TurnState:
    """Where the wire log says the conversation stands."""

    state: t.Literal["finished", "running", "asking", "blocked", "empty"]
    detail: str
    at: float | None = None  # epoch seconds of the deciding record


def _kind(record: t.Mapping[str, t.Any]) -> str:
    message = record.get("message")
    return str(message.get("type") or "") if isinstance(message, dict) else ""


def _payload(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    message = record.get("message")
    payload = message.get("payload") if isinstance(message, dict) else None
    return payload if isinstance(payload, dict) else {}


def _at(record: t.Mapping[str, t.Any]) -> float | None:
    stamp = record.get("timestamp")
    return float(stamp) if isinstance(stamp, int | float) else None


def turn_state(wire: Path, log: Path | None = None) -> TurnState:
    """The state of the last turn, from the wire log's tail (one bounded read), with the
    reason of a failure from Kimi's log."""
    records = [r for r in tail_records(wire) if _kind(r)]
    if not records:
        return TurnState("empty", "no turn yet")
    begins = [i for i, r in enumerate(records) if _kind(r) == "TurnBegin"]
    turn = records[begins[-1] :] if begins else records
    kinds = [_kind(r) for r in turn]
    began, last = _at(turn[0]), _at(turn[-1])
    if "TurnEnd" in kinds:
        if "StepInterrupted" in kinds or "StepBegin" not in kinds:
            failure = last_failure(log, began) if log is not None else None
            if failure is not None:
                return classify(failure, last)
            if "StepInterrupted" in kinds:
                return TurnState("blocked", "the last turn failed (no reason logged)", last)
        replied = next((k for k in reversed(kinds) if k in ("ContentPart", "ToolResult")), None)
        detail = "the model answered" if replied == "ContentPart" else "the turn ended"
        return TurnState("finished", detail, last)
    answered = {_payload(r).get("tool_call_id") for r in turn if _kind(r) == "ToolResult"}
    for record in reversed(turn):
        kind, payload = _kind(record), _payload(record)
        if kind == "QuestionRequest" and payload.get("tool_call_id") not in answered:
            questions = payload.get("questions") or [{}]
            first = questions[0] if isinstance(questions[0], dict) else {}
            question = one_line(str(first.get("question") or "a question"), 100)
            return TurnState("asking", f"question: {question}", _at(record))
        if kind == "StepRetry":
            why = payload.get("status_code") or payload.get("error_type") or "an error"
            attempt = f"{payload.get('next_attempt')}/{payload.get('max_attempts')}"
            return TurnState("running", f"retrying after {why} (attempt {attempt})", _at(record))
        if kind == "ToolCall" and payload.get("id") not in answered:
            name = (payload.get("function") or {}).get("name") or "a tool"
            return TurnState("running", f"a tool is running: {name}", _at(record))
        if kind in ("StepBegin", "ContentPart", "ToolResult"):
            return TurnState("running", "the model is answering", last)
    return TurnState("running", "a prompt was submitted", last)


def last_failure(log: Path, since: float | None) -> str | None:
    """The reason of the last failed turn Kimi logged at or after ``since`` (epoch seconds;
    the log's stamps are local time), e.g. ``APIStatusError: Error code: 401 - {…}`` or
    ``LLM not set``; None when there is none."""
    try:
        with log.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - LOG_TAIL))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    found: str | None = None
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if match is None or match.group(3) != "ERROR":
            continue
        stamp, millis, _level, rest = match.groups()
        if since is not None:
            try:
                at = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
            except (ValueError, OverflowError):
                continue
            if at < since - CLOCK_SLACK:
                continue
        message = rest.split(" - ", 1)[-1]
        failed = STEP_FAILED.search(message)
        if failed:
            found = f"{failed.group(1)}: {failed.group(2)}"
        elif message.startswith(NOT_SET):
            found = NOT_SET
    return found


def classify(failure: str, at: float | None = None) -> TurnState:
    """A failed turn, which blocks the session whatever the error was."""
    if failure == NOT_SET:
        return TurnState(
            "blocked",
            "no model is configured (Kimi says LLM not set): add one to its config.toml, "
            "set KIMI_BASE_URL/KIMI_API_KEY/KIMI_MODEL_NAME, or run `kimi login`",
            at,
        )
    text = readable(failure)
    if USAGE_ERROR.search(failure):
        return TurnState("blocked", f"usage limit reached: {text}", at)
    if AUTH_ERROR.search(failure):
        return TurnState("blocked", f"authentication failed: {text}", at)
    return TurnState("blocked", f"the last turn failed: {text}", at)


def readable(failure: str) -> str:
    """``APIStatusError: Error code: 401 - {'error': {'message': 'Bad key'}}`` → ``401 Bad key``."""
    status = STATUS.search(failure)
    message = MESSAGE.search(failure)
    if status and message:
        return one_line(f"{status.group(1)} {message.group(1) or message.group(2)}", 200)
    return one_line(failure, 200)


# ----------------------------------------------------------------------------- usage


@dataclasses.dataclass
class Usage:
    """Totals of a session's wire log."""

    input_tokens: int = 0
    output_tokens: int = 0
    summary: str | None = None
    turns: int = 0


def usage(wire: Path) -> Usage:
    """First prompt and tokens (cache reads and writes count as input), from every
    ``StatusUpdate`` of the wire log (one per model call)."""
    total = Usage()
    seen: set[str] = set()
    for record in iter_records(wire):
        kind, payload = _kind(record), _payload(record)
        if kind == "TurnBegin":
            total.turns += 1
            if total.summary is None:
                text = _text(payload.get("user_input")).strip()
                total.summary = text.splitlines()[0][:120] if text else None
        if kind != "StatusUpdate" or not isinstance(payload.get("token_usage"), dict):
            continue
        key = str(payload.get("message_id") or len(seen))
        if key in seen:
            continue
        seen.add(key)
        used = payload["token_usage"]
        total.input_tokens += sum(
            int(used.get(k) or 0)
            for k in ("input_other", "input_cache_read", "input_cache_creation")
        )
        total.output_tokens += int(used.get("output") or 0)
    return total


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""

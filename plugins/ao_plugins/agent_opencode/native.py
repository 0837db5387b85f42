"""OpenCode's own records: the log of the session's private data dir, and its export.

Each ao session gives OpenCode its own ``XDG_DATA_HOME`` (``<state>/opencode-data``), so
``<data>/opencode/log/opencode.log`` is written by that session's processes only. It is
logfmt (``timestamp=… level=INFO run=<process> message=… key=value``), appended across
restarts (each process has its own ``run``). The lines that matter:

- ``message=process session.id=ses_… messageID=…``: a model step starts (``level=ERROR``
  with ``error="…"``: the turn ended with that error);
- ``message=stream …`` / ``message="stream error" … error.error="…"``: a model call and
  a failed one (OpenCode retries; the footer shows ``[retrying in 5s attempt #3]``);
- ``message=asking id=per_… permission=bash``: a permission prompt is shown;
- ``message=cancel session.id=…``: the user stopped the turn (Escape twice); the
  ``process`` line that follows has ``level=ERROR error=Aborted``;
- ``message=loop session.id=… step=N``: a step finished, the loop continues;
- ``message="exiting loop" session.id=…``: the turn is over;
- ``message="booting location services"``: the instance is up.

Lines with ``small=true`` belong to side requests (titles, summaries) and are skipped.

The TUI is not the only writer: every OpenCode command run with the same data dir appends
its own run, e.g. ``opencode export`` (``session_info``, so every ``ao status SESSION``)
writes ``creating instance``/``fromDirectory``/``bootstrapping``/``init`` and exits. Such
a run never has a conversation line (``TUI_ONLY``), so the TUI's run is the first one that
started with the pane's process and has one; "the run of the last line" is not (under
load an export's lines land after the TUI's and would read as a CLI with no prompt yet).

Token counts and cost live in OpenCode's SQLite database; ``opencode export <id>``
prints them as JSON (a subprocess, so only ``session_info`` uses it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk import proc
from ao.sdk.agentkit import iso_epoch
from ao.sdk.errors import AoError
from ao.sdk.textsafe import one_line as error_line

FIELD = re.compile(r'(\w[\w.]*)=("(?:\\.|[^"\\])*"|\S*)')
AUTH_ERROR = re.compile(
    r"\b401\b|\b403\b|Incorrect API key|invalid[_ ]api[_ ]key|Unauthorized|authentication|"
    r"API key not valid|No API key|Missing API key|API key is missing|LoadAPIKeyError",
    re.I,
)
# the error of a turn the user stopped (Escape), which is no failure
ABORTED = re.compile(
    r"(?:\w*Error: )?(?:Aborted|The operation was aborted|This operation was aborted)\b", re.I
)
TAIL_BYTES = 128 * 1024
MAX_TAIL_BYTES = 2 * 1024 * 1024  # read when the last 128 kB hold no line of the TUI's run
CLOCK_SLACK = 1.0  # seconds: /proc's start time (whole-second btime) vs the log's stamps
# messages only the interactive CLI writes (an ``opencode export`` run has none of them)
TUI_ONLY = frozenset({"booting location services", "process", "stream", "stream error",
                      "loop", "asking", "exiting loop"})  # fmt: skip
USAGE_ERROR = re.compile(
    r"exceeded your current quota|insufficient_quota|usage limit|quota exceeded|"
    r"rate limit|\b429\b|credit balance|out of credits|payment required",
    re.I,
)


def data_dir(environ: t.Mapping[str, str] | None = None) -> Path:
    """The user's OpenCode data dir (``$XDG_DATA_HOME/opencode``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "opencode"


def log_path(home: Path) -> Path | None:
    """The newest log of a session's data home (the ``XDG_DATA_HOME`` ao set)."""
    newest: tuple[float, Path] | None = None
    try:
        logs = list((home / "opencode" / "log").glob("*.log"))
    except OSError:
        return None
    for path in logs:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue  # removed since the listing (OpenCode prunes old logs)
        if newest is None or mtime > newest[0]:
            newest = (mtime, path)
    return newest[1] if newest else None


def parse(line: str) -> dict[str, str]:
    """One logfmt line as a dict (quoted values unquoted)."""
    out = {}
    for key, value in FIELD.findall(line):
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                value = value.strip('"')
        out[key] = value
    return out


def tail_lines(path: Path, max_bytes: int = TAIL_BYTES) -> list[str]:
    """The complete lines of the last ``max_bytes`` of a text file."""
    return _tail(path, max_bytes)[0]


def _tail(path: Path, max_bytes: int) -> tuple[list[str], bool]:
    """The complete lines of the file's last ``max_bytes``, and whether that is all of it.

    A line still being written (no newline yet) is left out: cut short, a quoted value
    reads differently (``error="…Incorrect API k`` is no auth error).
    """
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            chunk = fh.read(max_bytes)
    except OSError:
        return [], True
    whole = size <= max_bytes
    lines = chunk.decode("utf-8", "replace").split("\n")
    lines.pop()  # "" after the last newline, or a line not finished yet
    return (lines if whole else lines[1:]), whole


@dataclasses.dataclass(frozen=True)
class TurnState:
    """Where the log says the current process's session stands."""

    state: t.Literal["finished", "running", "asking", "blocked", "idle", "loading"]
    detail: str
    at: float | None = None
    session_id: str | None = None


def turn_state(path: Path, started: float | None = None) -> TurnState:
    """The state of the TUI's session, from the log's tail.

    ``started`` is the CLI process's start (epoch seconds): runs that began before it
    belong to earlier processes. Of the runs since, the TUI's is the first with a
    conversation line; runs without one (``opencode export``…) are other commands that
    share the data dir. Without ``started``, the newest run with such a line. The tail
    read grows (``TAIL_BYTES``, then ``MAX_TAIL_BYTES``) while it holds no such run and
    has not reached back to the process's start.
    """
    for limit in (TAIL_BYTES, MAX_TAIL_BYTES):
        lines, whole = _tail(path, limit)
        records = [r for r in map(parse, lines) if r.get("message")]
        if not records:
            return TurnState("loading", "the log is empty")
        runs: dict[str, list[dict[str, str]]] = {}
        for record in records:
            runs.setdefault(record.get("run", ""), []).append(record)
        # reading further back cannot find a run that began after the process started
        before_start = (
            started is not None
            and (iso_epoch(records[0].get("timestamp")) or 0.0) < started - CLOCK_SLACK
        )
        if started is not None:
            runs = {
                run: mine
                for run, mine in runs.items()
                if (iso_epoch(mine[0].get("timestamp")) or 0.0) >= started - CLOCK_SLACK
            }
        session = next((r["session.id"] for r in reversed(records) if r.get("session.id")), None)
        if not runs:
            return TurnState(
                "loading", "the CLI has not written to its log since it started", None, session
            )
        tui = [mine for mine in runs.values() if any(_tui_only(r) for r in mine)]
        if tui:
            mine = tui[0] if started is not None else tui[-1]
            own = next((r["session.id"] for r in reversed(mine) if r.get("session.id")), None)
            return _fold(mine, own or session)
        if whole or before_start:
            break
    first = next(iter(runs.values())) if started is not None else list(runs.values())[-1]
    return TurnState("loading", "no prompt yet", iso_epoch(first[0].get("timestamp")), session)


def _tui_only(record: Mapping[str, str]) -> bool:
    """A line only the interactive CLI writes: it booted, or its conversation moved."""
    return record.get("message") in TUI_ONLY and record.get("small") != "true"


def _fold(mine: list[dict[str, str]], session: str | None) -> TurnState:
    """The state after one run's lines, folded in order."""
    booted = any(r.get("message") == "booting location services" for r in mine)
    first_at = iso_epoch(mine[0].get("timestamp"))
    state = TurnState("idle" if booted else "loading", "no prompt yet", first_at, session)
    cancelled = False  # Escape (``message=cancel``): the turn's ERROR that follows is no failure
    for record in mine:
        message = record.get("message", "")
        at = iso_epoch(record.get("timestamp"))
        level = record.get("level")
        if record.get("small") == "true":
            continue  # a side request (session title, summary), not the conversation
        if message == "booting location services" and state.state == "loading":
            state = TurnState("idle", "no prompt yet", at, session)
        elif message == "cancel":
            cancelled = True
        elif message == "process" and level == "ERROR":
            error = record.get("error") or ""
            if cancelled or ABORTED.match(error):
                state = TurnState("finished", "the turn was interrupted", at, session)
            else:
                state = classify(error, at, session, final=True)
        elif message == "stream error":
            state = classify(record.get("error.error") or "", at, session, final=False)
        elif message in ("process", "stream", "loop"):
            cancelled = cancelled and message != "process"
            if not (state.state == "blocked" and message == "stream"):
                state = TurnState("running", f"model step ({message})", at, session)
        elif message == "asking":
            tool = record.get("permission") or "a tool"
            patterns = record.get("patterns") or ""
            detail = f"permission requested: {tool} {patterns}".strip()
            state = TurnState("asking", detail[:160], at, session)
        elif message == "exiting loop":
            state = TurnState("finished", "the turn is over", at, session)
    return state


def classify(error: str, at: float | None, session: str | None, *, final: bool) -> TurnState:
    """A logged API error: auth and quota failures block at once (OpenCode keeps retrying
    them); others are retried (``final=False``) until the turn ends with one, which blocks.
    """
    text = error_line(error.removeprefix("AI_APICallError: "))
    if USAGE_ERROR.search(error):
        return TurnState("blocked", f"usage limit reached: {text}", at, session)
    if AUTH_ERROR.search(error):
        return TurnState("blocked", f"authentication failed: {text}", at, session)
    if final:
        return TurnState("blocked", f"the last turn failed: {text}", at, session)
    return TurnState("running", f"retrying after an error: {text}", at, session)


def export(binary: str, session_id: str, home: Path | None, cwd: str | None) -> dict[str, t.Any]:
    """``opencode export <id>`` as JSON (``{}`` when it fails)."""
    env = {"XDG_DATA_HOME": str(home)} if home is not None else None
    # it appends to the session's log like any OpenCode command: errors only, not its
    # ~10 start-up lines per call (``ao status`` calls this every time)
    argv = [binary, "export", "--log-level", "ERROR", session_id]
    try:
        result = proc.run(argv, timeout=30, check=False, env=env, cwd=cwd or None)
    except AoError:
        return {}
    text = result.stdout
    start = text.find("{")
    try:
        data = json.loads(text[start:]) if start >= 0 else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}

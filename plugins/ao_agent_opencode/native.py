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
- ``message=loop session.id=… step=N``: a step finished, the loop continues;
- ``message="exiting loop" session.id=…``: the turn is over;
- ``message="booting location services"``: the instance is up.

Lines with ``small=true`` belong to side requests (titles, summaries) and are skipped.

Token counts and cost live in OpenCode's SQLite database; ``opencode export <id>``
prints them as JSON (a subprocess, so only ``session_info`` uses it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import typing as t
from datetime import datetime
from pathlib import Path

from ao import proc
from ao.errors import AoError

FIELD = re.compile(r'(\w[\w.]*)=("(?:\\.|[^"\\])*"|\S*)')
AUTH_ERROR = re.compile(
    r"\b401\b|\b403\b|Incorrect API key|invalid[_ ]api[_ ]key|Unauthorized|authentication|"
    r"API key not valid|No API key|Missing API key",
    re.I,
)
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
    try:
        logs = list((home / "opencode" / "log").glob("*.log"))
    except OSError:
        return None
    return max(logs, key=lambda p: p.stat().st_mtime) if logs else None


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


def tail_lines(path: Path, max_bytes: int = 128 * 1024) -> list[str]:
    """The complete lines of the last ``max_bytes`` of a text file."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            chunk = fh.read()
    except OSError:
        return []
    lines = chunk.decode("utf-8", "replace").splitlines()
    return lines[1:] if size > max_bytes else lines


@dataclasses.dataclass(frozen=True)
class TurnState:
    """Where the log says the current process's session stands."""

    state: t.Literal["finished", "running", "asking", "blocked", "error", "idle", "loading"]
    detail: str
    at: float | None = None
    session_id: str | None = None


def turn_state(path: Path, started: float | None = None) -> TurnState:
    """The state of the newest process's session, from the log's tail.

    Lines older than ``started`` (the CLI process's start) belong to an earlier run.
    """
    records = [parse(line) for line in tail_lines(path)]
    records = [r for r in records if r.get("message")]
    if not records:
        return TurnState("loading", "the log is empty")
    run = records[-1].get("run")
    mine = [r for r in records if r.get("run") == run]
    first_at = _epoch(mine[0].get("timestamp")) if mine else None
    if started is not None and (_epoch(records[-1].get("timestamp")) or 0.0) < started - 1.0:
        return TurnState("loading", "the CLI has not written to its log since it started")
    session = next((r["session.id"] for r in reversed(records) if r.get("session.id")), None)
    booted = any(r.get("message") == "booting location services" for r in mine)
    state = TurnState("idle" if booted else "loading", "no prompt yet", first_at, session)
    for record in mine:
        message = record.get("message", "")
        at = _epoch(record.get("timestamp"))
        level = record.get("level")
        if record.get("small") == "true":
            continue  # a side request (session title, summary), not the conversation
        if message == "booting location services" and state.state == "loading":
            state = TurnState("idle", "no prompt yet", at, session)
        elif message == "process" and level == "ERROR":
            state = classify(record.get("error") or "", at, session, final=True)
        elif message == "stream error":
            state = classify(record.get("error.error") or "", at, session, final=False)
        elif message in ("process", "stream", "loop"):
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
    """A logged API error: auth and quota failures block; others end or retry the turn."""
    text = " ".join(error.split()).removeprefix("AI_APICallError: ")[:160]
    if USAGE_ERROR.search(error):
        return TurnState("blocked", f"usage limit reached: {text}", at, session)
    if AUTH_ERROR.search(error):
        return TurnState("blocked", f"authentication failed: {text}", at, session)
    if final:
        return TurnState("error", f"the last turn ended with an error: {text}", at, session)
    return TurnState("running", f"retrying after an error: {text}", at, session)


def _epoch(stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def process_start(pid: int | None) -> float | None:
    """Epoch seconds at which process ``pid`` started (Linux ``/proc``), or None."""
    if not pid:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text(encoding="ascii").splitlines()
            if line.startswith("btime ")
        )
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def export(binary: str, session_id: str, home: Path | None, cwd: str | None) -> dict[str, t.Any]:
    """``opencode export <id>`` as JSON (``{}`` when it fails)."""
    env = {"XDG_DATA_HOME": str(home)} if home is not None else None
    try:
        result = proc.run(
            [binary, "export", session_id], timeout=30, check=False, env=env, cwd=cwd or None
        )
    except AoError:
        return {}
    text = result.stdout
    start = text.find("{")
    try:
        data = json.loads(text[start:]) if start >= 0 else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}

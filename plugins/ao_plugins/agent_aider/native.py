"""Aider's own records, kept in ao's state dir instead of the repository.

- ``aider.chat.history.md`` (``--chat-history-file``): the markdown transcript Aider
  appends to as it goes: ``#### <prompt>`` for each user message, the model's reply as
  plain text, and tool output as ``> …`` lines (``> Tokens: 768 sent, 17 received. Cost:
  $0.01 message, $0.03 session.``, ``> Applied edit to x``, ``> Commit 281836f …``,
  ``> litellm.AuthenticationError: …``, ``> litellm.RateLimitError: …``, ``> Retrying in
  0.5 seconds...``). A question is logged only once answered (``> Create new file?
  (Y)es/(N)o [Yes]: y``).
- ``aider-waiting``: written by ``--notifications-command`` each time Aider, after a
  model call, stops to wait for the user (at its prompt or at a question): it holds the
  transcript's size at that moment.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing as t
from pathlib import Path

from ao.sdk.textsafe import strip_controls

HISTORY = "aider.chat.history.md"
WAITING = "aider-waiting"
INPUT_HISTORY = "aider.input.history"
AUTH_ERROR = re.compile(
    r"AuthenticationError|not able to authenticate you|Incorrect API key|invalid[_ ]api[_ ]key|"
    r"\b401\b|No API key|API key not valid",
    re.I,
)
USAGE_ERROR = re.compile(
    r"exceeded your current quota|insufficient_quota|credit balance|out of credits|"
    r"usage limit|quota exceeded|billing",
    re.I,
)
RATE_LIMIT = re.compile(r"RateLimitError|rate limited you", re.I)
# an API error Aider prints for a failed model call (litellm's exception, first line)
FAILURE = re.compile(r"^litellm\.\w+(?:Error|Exception)\b")
FAILED = "the last turn failed: "
STARTED = "# aider chat started at"  # Aider (re)started: what failed before is over
# transcript lines that mean Aider works again: a prompt, a model call, a command
BUSY_LINE = re.compile(r"^(?:#### |> Tokens:|> Running |> Retrying in )")
TOKENS = re.compile(r"Tokens: ([\d.]+)(k?) sent.*?, ([\d.]+)(k?) received\.")
COST = re.compile(r"Cost: \$([\d.]+) message, \$([\d.]+) session\.")


def tail_lines(path: Path, max_bytes: int = 64 * 1024) -> list[str]:
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


def mtime(path: Path) -> float | None:
    """``path``'s modification time, or None when it does not exist."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None


@dataclasses.dataclass(frozen=True)
class TurnState:
    """Where Aider's files say the conversation stands."""

    state: t.Literal["waiting", "running", "blocked", "empty"]
    detail: str
    at: float | None = None


def turn_state(state_dir: Path) -> TurnState:
    """The state of the last turn from the transcript's tail and the waiting marker.

    The marker holds the transcript's size when Aider last stopped for the user. Only
    the lines written since count: a new prompt, a model call or a command running
    means it works again; answers and edit/commit notes alone mean it is back at its
    prompt (a question it answered itself, ``--yes-always``, used up the notification).
    """
    history = state_dir / HISTORY
    written = mtime(history)
    marker = state_dir / WAITING
    waited = mtime(marker)
    lines = tail_lines(history)
    prompt = max((i for i, line in enumerate(lines) if line.startswith("#### ")), default=None)
    if prompt is None:
        if waited is not None:
            return TurnState("waiting", "Aider waits for input", waited)
        return TurnState("empty", "no prompt yet", written)
    after = [line.rstrip() for line in lines[prompt + 1 :]]
    problem = _problem(after)
    since = _since(history, marker) if waited is not None else None
    if since is not None and not any(BUSY_LINE.match(line) for line in since):
        if problem is not None:
            return TurnState("blocked", problem, written)
        return TurnState("waiting", "Aider waits for input after its reply", waited)
    if problem is not None and "usage limit" in problem:
        return TurnState("blocked", problem, written)  # still retrying, but it cannot succeed
    tokens = [line for line in after if line.startswith("> Tokens:")]
    detail = "the model replied; Aider is applying it" if tokens else "a prompt was submitted"
    return TurnState("running", detail, written)


def _since(history: Path, marker: Path) -> list[str] | None:
    """Transcript lines written after the marker's offset (None when it has none)."""
    try:
        offset = int(marker.read_text(encoding="ascii").strip() or "-1")
        with history.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if offset < 0 or offset > size or size - offset > 256 * 1024:
                return None
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace").splitlines()
    except (OSError, ValueError):
        return None


def _problem(lines: list[str]) -> str | None:
    """The failure of the turn after the last prompt: quota, auth or any API error Aider
    printed, unless a model call succeeded or Aider restarted since.

    While Aider retries (``> Retrying in …``) the turn counts as running; the failure
    stands once it waits for the user again.
    """
    found = None
    for line in lines:
        text = line.removeprefix("> ").strip()
        if text.startswith("Tokens:") or line.startswith(STARTED):
            found = None
        elif USAGE_ERROR.search(text):
            found = f"usage limit reached: {_short(text)}"
        elif AUTH_ERROR.search(text):
            # the first line names the error; Aider's hint under it does not
            if found is None or found.startswith(FAILED):
                found = f"authentication failed: {_short(text)}"
        elif FAILURE.match(text) and (found is None or found.startswith(FAILED)):
            found = f"{FAILED}{_short(text)}"
    return found


def _short(text: str) -> str:
    text = re.sub(r"^litellm\.\w+: (?:\w+: )?(?:\w+Exception - )?", "", text)
    return " ".join(strip_controls(text).split())[:160]


@dataclasses.dataclass
class Usage:
    """Totals of a transcript."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    summary: str | None = None


def usage(state_dir: Path) -> Usage:
    """Tokens and Aider's own cost (its running ``session`` total) from the transcript."""
    total = Usage()
    try:
        text = (state_dir / HISTORY).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return total
    session_cost = 0.0
    last = 0.0
    for line in text.splitlines():
        if line.startswith("#### ") and total.summary is None:
            total.summary = line[5:].strip()[:120] or None
        if not line.startswith("> "):
            continue
        tokens = TOKENS.search(line)
        if tokens:
            total.input_tokens += _count(tokens.group(1), tokens.group(2))
            total.output_tokens += _count(tokens.group(3), tokens.group(4))
        cost = COST.search(line)
        if cost:
            now = float(cost.group(2))
            # the session total restarts when Aider restarts: add up each run's last total
            if now < last:
                session_cost += last
            last = now
    if last or session_cost:
        total.cost_usd = round(session_cost + last, 6)
    return total


def _count(number: str, kilo: str) -> int:
    return round(float(number) * (1000 if kilo else 1))


def git_exclude(worktree: Path) -> Path | None:
    """The ``info/exclude`` file of the repository that holds ``worktree`` (no git call)."""
    for folder in (worktree, *worktree.parents):
        dotgit = folder / ".git"
        if dotgit.is_dir():
            return dotgit / "info" / "exclude"
        if dotgit.is_file():
            try:
                line = dotgit.read_text(encoding="utf-8").strip()
            except OSError:
                return None
            if not line.startswith("gitdir:"):
                return None
            gitdir = Path(line.split(":", 1)[1].strip())
            gitdir = gitdir if gitdir.is_absolute() else (folder / gitdir).resolve()
            try:
                common = gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip()
            except OSError:
                common = gitdir
            return common.resolve() / "info" / "exclude"
    return None

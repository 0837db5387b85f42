"""Shared helpers for agent adapters: screen chrome, native log tails, settings files,
version probes (``ao.sdk.agent.AgentBase`` is the base class that uses them).

Everything here is cheap and side-effect free except ``probe_version`` (one subprocess
per binary per process, cached) and the writers (``write_private``, ``write_json``,
``link_shared``, ``write_instructions``). Adapters import ``ao.sdk`` modules only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import tempfile
import time
import typing as t
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from ao.sdk import proc
from ao.sdk.errors import AoError
from ao.sdk.home import private_dir
from ao.sdk.textsafe import strip_controls

VERSION_RE = re.compile(r"\d+\.\d+\.\d+(?:[-.][0-9A-Za-z.]+)?")
_RULE_CHARS = frozenset("─━═╌-")
# box-drawing borders and the no-break space some TUIs pad their input line with
_BORDERS = str.maketrans({"│": " ", "┃": " ", "╭": " ", "╮": " ", "╰": " ", "╯": " ", "\xa0": " "})

# ----------------------------------------------------------------------------- screen


def screen_lines(screen: str, last: int = 40) -> list[str]:
    """The last ``last`` lines of ``screen`` (controls stripped, right-trimmed), blanks dropped.

    Adapters match their chrome (prompt box, footer, dialogs) against these lines only,
    never against the whole scrollback, so tool output above cannot trigger a rule.
    A side panel (a ``│`` in the same column on most lines) is cut off, and lines that
    hold nothing but borders count as blank.
    """
    text = strip_controls(screen).replace("\xa0", " ")
    lines = _cut_side_panel([line.rstrip() for line in text.splitlines()])
    return [line for line in lines if unboxed(line)][-last:]


def _cut_side_panel(lines: list[str]) -> list[str]:
    columns: dict[int, int] = {}
    for line in lines:
        col = line.find("│", 20)
        if col > 0:
            columns[col] = columns.get(col, 0) + 1
    if not columns:
        return lines
    col, count = max(columns.items(), key=lambda item: item[1])
    if count < max(5, len(lines) // 2):
        return lines
    return [line[:col].rstrip() if len(line) > col and line[col] == "│" else line for line in lines]


def is_rule(line: str, min_width: int = 20) -> bool:
    """A horizontal rule drawn by a TUI (``────``), as it frames a prompt box."""
    text = line.strip()
    return len(text) >= min_width and set(text) <= _RULE_CHARS


def unboxed(line: str) -> str:
    """``line`` with box borders and no-break spaces turned into plain spaces, stripped."""
    return line.translate(_BORDERS).strip()


@dataclasses.dataclass(frozen=True)
class PromptBox:
    """A prompt box found near the bottom of a screen: rule, input lines, rule, footer."""

    above: tuple[str, ...]  # the few lines just above the top rule (status / spinner line)
    input: tuple[str, ...]
    footer: tuple[str, ...]


def find_prompt_box(lines: Sequence[str], marker: str, *, window: int = 14) -> PromptBox | None:
    """The last ``rule / <marker> input / rule / footer`` block within the last ``window`` lines.

    ``lines`` come from ``screen_lines`` (no blanks). The footer is what follows the
    bottom rule; ``above`` holds up to three lines preceding the top rule.
    """
    start = max(0, len(lines) - window)
    rules = [i for i in range(start, len(lines)) if is_rule(lines[i])]
    for bottom_pos in range(len(rules) - 1, 0, -1):
        top, bottom = rules[bottom_pos - 1], rules[bottom_pos]
        body = [unboxed(line) for line in lines[top + 1 : bottom]]
        if body and body[0].startswith(marker):
            return PromptBox(
                above=tuple(unboxed(line) for line in lines[max(0, top - 3) : top]),
                input=tuple(body),
                footer=tuple(unboxed(line) for line in lines[bottom + 1 :]),
            )
    return None


def first_match(patterns: Iterable[re.Pattern[str]], lines: Iterable[str]) -> re.Match[str] | None:
    """The first match of any pattern in any line (patterns outermost)."""
    lines = list(lines)
    for pattern in patterns:
        for line in lines:
            found = pattern.search(line)
            if found:
                return found
    return None


def choose_option(
    lines: Sequence[str],
    wanted: re.Pattern[str],
    cursor: str,
    *,
    up: str = "Up",
    down: str = "Down",
) -> tuple[str, ...] | None:
    """Keys that move a menu's ``cursor`` onto the option matching ``wanted``, then Enter.

    Menus mark the selected option with a cursor glyph (``❯``, ``›``, ``>``) in front of
    its text. Options are the lines whose text starts in the same column as the
    selected option's text (deeper-indented description lines are not options).
    Returns None unless both the cursor and the wanted option are found, so a caller
    never presses Enter on the wrong option.
    """
    at = column = None
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(cursor) and stripped[len(cursor) :].strip():
            at = index
            rest = stripped[len(cursor) :]
            column = len(line) - len(stripped) + len(cursor) + len(rest) - len(rest.lstrip())
    if at is None or column is None:
        return None
    menu = [
        i
        for i, line in enumerate(lines)
        if i == at or (len(line) - len(line.lstrip()) == column and line.strip())
    ]
    target = next((i for i in menu if wanted.search(lines[i])), None)
    if target is None:
        return None
    steps = menu.index(target) - menu.index(at)
    move = (down,) * steps if steps > 0 else (up,) * -steps
    return (*move, "Enter")


# ----------------------------------------------------------------------------- native files


def read_json(path: Path) -> dict[str, t.Any] | None:
    """A JSON object from ``path``, or None when missing, partial or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tail_records(path: Path, max_bytes: int = 256 * 1024) -> list[dict[str, t.Any]]:
    """The JSON objects of the last ``max_bytes`` of a JSONL file, oldest first.

    Reads one bounded chunk from the end (O(1) in the file's length); a line cut by
    the chunk boundary and lines that are not JSON objects are skipped.
    """
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            chunk = fh.read()
    except OSError:
        return []
    lines = chunk.split(b"\n")
    if size > max_bytes:
        lines = lines[1:]  # the first line is probably cut
    records = []
    for raw in lines:
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def iter_records(path: Path) -> t.Iterator[dict[str, t.Any]]:
    """Every JSON object line of a JSONL file, streamed (for whole-log summaries)."""
    try:
        fh = path.open("rb")
    except OSError:
        return
    with fh:
        for raw in fh:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def age_of(path: Path) -> float | None:
    """Seconds since ``path`` was last modified, or None when it does not exist."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        return None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only (mode 0600)."""

    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).chmod(0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


_JSONC_COMMENT = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.S)


def read_jsonc(path: Path) -> dict[str, t.Any]:
    """A JSON-with-comments object from ``path`` (``//`` and ``/* */``), or ``{}`` when
    missing, unreadable or not an object."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(_JSONC_COMMENT.sub(lambda m: m.group(1) or "", text))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def iso_epoch(stamp: object) -> float | None:
    """Epoch seconds of an ISO-8601 timestamp (``...Z`` allowed); None when it is not one."""
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


# ----------------------------------------------------------------------------- settings files


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as indented JSON, privately and atomically (``write_private``)."""
    write_private(path, json.dumps(data, indent=2) + "\n")


def link_shared(user: Path, target: Path, private: Container[str] = ()) -> None:
    """Symlink each entry of the user's config dir ``user`` into a session's ``target``
    (logins, downloaded tools), except the ``private`` names the session keeps to itself.

    Idempotent: an existing entry or link is left alone; an unreadable ``user`` links nothing.
    """
    with contextlib.suppress(OSError):
        for source in user.iterdir():
            link = target / source.name
            if source.name not in private and not link.exists() and not link.is_symlink():
                link.symlink_to(source)


def write_instructions(target: Path, user_file: Path, rules: str | None) -> None:
    """A session's global instructions file (``AGENTS.md``, ``GEMINI.md``): the user's own
    file followed by the project's agent ``rules``; removed when there are neither."""
    parts = []
    with contextlib.suppress(OSError):
        parts.append(user_file.read_text(encoding="utf-8"))
    if rules:
        parts.append(rules)
    if parts:
        write_private(target, "\n\n".join(part.strip() for part in parts) + "\n")
    elif target.exists():
        target.unlink()


# ----------------------------------------------------------------------------- environment


SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


def passthrough_env(
    prefixes: Sequence[str], names: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Non-secret variables of the caller's environment an agent CLI reads.

    A runtime's server may give a new session the environment *it* started with, which
    may predate the user's current shell; passing these explicitly makes a base URL or
    config dir set now take effect. Names that look like secrets are left to that
    environment so they never appear on a command line.
    """
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for key, value in env.items():
        if not (key.startswith(tuple(prefixes)) or key in names):
            continue
        if any(word in key.upper() for word in SECRET_WORDS):
            continue
        out[key] = value
    return out


# ----------------------------------------------------------------------------- versions


_OUTPUTS: dict[tuple[str, float, tuple[str, ...]], str | None] = {}


def probe_output(binary: str, args: Sequence[str], timeout: float = 10.0) -> str | None:
    """stdout+stderr of ``binary args``, cached per process and binary file; None if missing."""
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        key = (os.path.realpath(path), Path(path).stat().st_mtime, tuple(args))
    except OSError:
        return None
    if key not in _OUTPUTS:
        try:
            result = proc.run([path, *args], timeout=timeout, check=False)
            _OUTPUTS[key] = result.stdout + "\n" + result.stderr
        except AoError:
            _OUTPUTS[key] = None
    return _OUTPUTS[key]


def probe_version(
    binary: str, args: Sequence[str] = ("--version",), timeout: float = 10.0
) -> str | None:
    """The first ``x.y.z`` that ``binary --version`` prints (cached); None when unknown."""
    output = probe_output(binary, args, timeout)
    found = VERSION_RE.search(output) if output else None
    return found.group(0) if found else None


def version_tuple(version: str | None) -> tuple[int, ...]:
    """``"2.1.330"`` → ``(2, 1, 330)``; unknown → ``()``."""
    if not version:
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


# ----------------------------------------------------------------------------- cost


# USD per million tokens: (input, output, cache read, cache write). Public list prices
# by model family, used to *estimate* a session's cost from its recorded tokens.
PRICES: dict[str, tuple[float, float, float, float]] = {
    "claude-opus-4-0": (15.0, 75.0, 1.5, 18.75),
    "claude-opus-4-1": (15.0, 75.0, 1.5, 18.75),
    "claude-opus": (5.0, 25.0, 0.5, 6.25),
    "claude-sonnet": (3.0, 15.0, 0.3, 3.75),
    "claude-haiku-3": (0.25, 1.25, 0.03, 0.3),
    "claude-haiku": (1.0, 5.0, 0.1, 1.25),
    "gpt-5-mini": (0.25, 2.0, 0.025, 0.0),
    "gpt-5-nano": (0.05, 0.4, 0.005, 0.0),
    "gpt-5": (1.25, 10.0, 0.125, 0.0),
    "gpt-4.1": (2.0, 8.0, 0.5, 0.0),
    "o3": (2.0, 8.0, 0.5, 0.0),
    "o4-mini": (1.1, 4.4, 0.275, 0.0),
}


def price_of(model: str | None) -> tuple[float, float, float, float] | None:
    """The price row of the longest family prefix of ``model`` (None when unknown)."""
    if not model:
        return None
    name = model.lower().removeprefix("anthropic/").removeprefix("openai/")
    best = max((key for key in PRICES if name.startswith(key)), key=len, default=None)
    return PRICES[best] if best else None


def estimate_cost(
    model: str | None,
    input_tokens: int,
    output_tokens: int,
    cache_read: int = 0,
    cache_write: int = 0,
) -> float | None:
    """Estimated USD for the given token counts, or None for a model without a known price."""
    price = price_of(model)
    if price is None:
        return None
    inp, out, read, write = price
    total = input_tokens * inp + output_tokens * out + cache_read * read + cache_write * write
    return round(total / 1_000_000, 6)

"""Turn a CI job log into the excerpt an agent needs: what failed, then how it ended.

``trim_log`` is a pure function over the log's lines (so a multi-megabyte download is
streamed once, never held whole). It strips terminal escape sequences and GitHub
Actions' timestamps and group markers, collects lines that name failing tests or errors
(pytest, unittest, jest/vitest, go test, cargo, mocha, tsc/eslint, ``##[error]``), and
keeps the last lines before the job's own ``Process completed with exit code`` line —
the post-job cleanup after it is noise. The result is bounded in lines and characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ao.sdk.forge import LogExcerpt, failure_pattern
from ao.sdk.textsafe import strip_controls

# `2024-05-01T12:00:00.1234567Z ` at the start of every Actions log line
_TIMESTAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
_NOISE = re.compile(r"^##\[(?:group|endgroup|debug|command)\]|^\[command\]")
_EXIT = re.compile(r"^##\[error\]Process completed with exit code \d+")
_FAILURE = failure_pattern(r"##\[error\]")


def clean_line(line: str) -> str:
    """One log line without escape sequences, timestamps or trailing space."""
    return _TIMESTAMP.sub("", strip_controls(line).replace("\n", " ")).rstrip()


def trim_log(
    lines: Iterable[str],
    *,
    max_failures: int = 30,
    tail: int = 40,
    max_chars: int = 6000,
) -> str:
    """The failing-test lines and the last ``tail`` lines of a CI log, within ``max_chars``."""
    excerpt = LogExcerpt(_FAILURE, max_failures=max_failures, tail=tail)
    ended: list[str] | None = None
    for raw in lines:
        line = clean_line(raw)
        if not line.strip() or _NOISE.match(line):
            continue
        if ended is not None:
            continue  # post-job cleanup after the exit line
        if _EXIT.match(line):
            ended = [*excerpt.last, line]
            continue
        excerpt.add(line)
    return excerpt.text(ended if ended is not None else list(excerpt.last), max_chars)


def summary_excerpt(title: str | None, summary: str | None, text: str | None) -> str:
    """An excerpt from a check run's own output (non-Actions CI apps)."""
    body = "\n".join(p for p in (title, summary, text) if p)
    return trim_log(body.splitlines(), tail=60) if body else ""

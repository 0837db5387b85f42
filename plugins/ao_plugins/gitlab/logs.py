"""Turn a GitLab CI job trace into the excerpt an agent needs: what failed, then how it ended.

``trim_trace`` is a pure function over the trace's lines (a multi-megabyte trace is
streamed once, never held whole). It strips terminal escape sequences and the runner's
collapsible-section markers (``section_start:<ts>:<name>``), drops the runner's own
sections (preparing the executor, fetching sources, caches, artifacts, cleanup), collects
lines that name failing tests or errors (pytest, unittest, jest/vitest, go test, cargo,
mocha, tsc/eslint), and keeps the last lines before the runner's ``ERROR: Job failed``
line. The result is bounded in lines and characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ao.sdk.forge import LogExcerpt, failure_pattern
from ao.sdk.textsafe import strip_controls

_SECTION = re.compile(r"^section_(start|end):\d+:([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?")
# the runner's own sections: noise for someone fixing the code
RUNNER_SECTIONS = frozenset(
    {
        "prepare_executor",
        "prepare_script",
        "get_sources",
        "restore_cache",
        "download_artifacts",
        "resolve_secrets",
        "cleanup_file_variables",
        "upload_artifacts_on_failure",
        "upload_artifacts_on_success",
        "archive_cache",
        "archive_cache_on_failure",
    }
)
_RUNNER = re.compile(
    r"^(?:Running with gitlab-runner |\s*on \S+ \S+, system ID: |"
    r"Preparing the \"|Using \S+ executor|Job succeeded$)"
)
_EXIT = re.compile(r"^ERROR: Job failed\b")
_FAILURE = failure_pattern()


def _pieces(raw: str) -> Iterable[str]:
    """The parts of one raw trace line: markers and text separated by carriage returns."""
    for part in raw.split("\r"):
        yield strip_controls(part).replace("\n", " ").rstrip()


def trim_trace(
    lines: Iterable[str],
    *,
    max_failures: int = 30,
    tail: int = 40,
    max_chars: int = 6000,
) -> str:
    """Failing-test lines and the last ``tail`` script lines of a trace, in ``max_chars``."""
    excerpt = LogExcerpt(_FAILURE, max_failures=max_failures, tail=tail)
    sections: list[str] = []
    exit_line: str | None = None
    for raw in lines:
        for line in _pieces(raw):
            marker = _SECTION.match(line)
            if marker:
                kind, name = marker.groups()
                if kind == "start":
                    sections.append(name)
                elif name in sections:
                    del sections[sections.index(name) :]
                line = line[marker.end() :].strip()
                if not line:
                    continue
            if not line.strip() or (sections and sections[0] in RUNNER_SECTIONS):
                continue
            if _EXIT.match(line):
                exit_line = line
                continue
            if _RUNNER.match(line):
                continue
            excerpt.add(line)
    end = [*excerpt.last, exit_line] if exit_line else list(excerpt.last)
    return excerpt.text(end, max_chars)

"""The append-only event log of a project (``events.jsonl``), a versioned public contract.

Each line: ``{"v", "id", "ts", "type", "priority", "session", "project", "message", "data"}``.
Appends are single ``write`` calls on an ``O_APPEND`` descriptor under the events lock, so
concurrent writers never interleave; readers skip a torn last line.
"""

from __future__ import annotations

import json
import os
import time
import typing as t
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from ao.locks import locked
from ao.paths import ProjectPaths

EVENT_VERSION = 1


def append(
    paths: ProjectPaths,
    type: str,
    *,
    message: str = "",
    session: str | None = None,
    priority: str = "info",
    data: Mapping[str, t.Any] | None = None,
) -> dict[str, t.Any]:
    """Record one event and return it."""
    event = {
        "v": EVENT_VERSION,
        "id": uuid.uuid4().hex,
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z",
        "type": type,
        "priority": priority,
        "session": session,
        "project": paths.project_id,
        "message": message,
        "data": dict(data or {}),
    }
    line = (json.dumps(event, ensure_ascii=False, default=str) + "\n").encode()
    paths.root.mkdir(parents=True, exist_ok=True)
    with locked(paths.locks / "events.lock"):
        fd = os.open(paths.events, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    return event


def read(path: Path) -> Iterator[dict[str, t.Any]]:
    """Every complete event in the log, oldest first."""
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # torn last line: a writer is mid-append or crashed
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        return

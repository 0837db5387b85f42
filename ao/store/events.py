"""The append-only event log of a project (``events.jsonl``), a versioned public contract.

Each line: ``{"v", "id", "ts", "type", "priority", "session", "project", "message", "data"}``.
Appends are single ``write`` calls on an ``O_APPEND`` descriptor under the events lock, so
concurrent writers never interleave. Known secrets and credential-shaped strings are
redacted (``ao.sdk.redact``) from the message and data before anything is written; the log is
readable by its owner only. Readers skip every line they cannot use: a torn last line,
one that is not UTF-8 or not a JSON object, or one whose fields are missing or of the
wrong type.
"""

from __future__ import annotations

import json
import time
import typing as t
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from ao.sdk.redact import redact, redact_data
from ao.store.locks import append_private, locked
from ao.store.paths import ProjectPaths

EVENT_VERSION = 1
# field -> (accepted types, default when absent; None: the field is required)
_FIELDS: dict[str, tuple[tuple[type, ...], t.Any]] = {
    "id": ((str,), None),
    "ts": ((str,), None),
    "type": ((str,), None),
    "v": ((int,), EVENT_VERSION),
    "priority": ((str,), "info"),
    "session": ((str, type(None)), None),
    "project": ((str, type(None)), None),
    "message": ((str,), ""),
    "data": ((dict,), {}),
}
_REQUIRED = ("id", "ts", "type")


def append(
    paths: ProjectPaths,
    type: str,
    *,
    message: str = "",
    session: str | None = None,
    priority: str = "info",
    data: Mapping[str, t.Any] | None = None,
) -> dict[str, t.Any]:
    """Record one event (secrets redacted from ``message`` and ``data``) and return it."""
    at = time.time()  # one reading: two could straddle a second and go back by ~1 s
    event = {
        "v": EVENT_VERSION,
        "id": uuid.uuid4().hex,
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
        + f".{int(at * 1000) % 1000:03d}Z",
        "type": type,
        "priority": priority,
        "session": session,
        "project": paths.project_id,
        "message": redact(message),
        "data": redact_data(dict(data or {})),
    }
    line = (json.dumps(event, ensure_ascii=False, default=str) + "\n").encode()
    with locked(paths.locks / "events.lock"):
        append_private(paths.events, line)
    return event


def usable(doc: t.Any) -> dict[str, t.Any] | None:
    """``doc`` as an event if every field it has is of the right type and ``id``, ``ts``
    and ``type`` are there (absent optional fields get their defaults), else None."""
    if not isinstance(doc, dict) or any(key not in doc for key in _REQUIRED):
        return None
    event = dict(doc)
    for key, (types, default) in _FIELDS.items():
        if key not in event:
            event[key] = dict(default) if isinstance(default, dict) else default
        elif not isinstance(event[key], types) or isinstance(event[key], bool):
            return None
    return event


def read(path: Path) -> Iterator[dict[str, t.Any]]:
    """Every usable event in the log, oldest first; lines ``usable`` refuses are skipped.

    A line that is not UTF-8 or not JSON is skipped too, as is a torn last line (a
    writer is mid-append or crashed).
    """
    try:
        with path.open("rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # torn last line: a writer is mid-append or crashed
                try:
                    event = usable(json.loads(raw.decode("utf-8")))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    continue
                if event is not None:
                    yield event
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return

"""Flat ``key=value`` files: the on-disk format of session metadata.

One ``key=value`` per line; keys match ``[a-z][a-z0-9_]*``; values escape ``\\``,
newline and carriage return so that any string round-trips.
"""

from __future__ import annotations

import re

from ao.sdk.errors import UsageError

KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def escape(value: str) -> str:
    """Escape a value for one line of a key=value file."""
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def unescape(value: str) -> str:
    """Invert ``escape``; an unknown escape keeps its backslash."""
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append(_UNESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def dumps(data: dict[str, str]) -> str:
    """Serialise a mapping; keys are validated, ``schema`` first, others sorted."""
    lines = []
    for key in sorted(data, key=lambda k: (k != "schema", k)):
        if not KEY_RE.fullmatch(key):
            raise UsageError(f"invalid metadata key {key!r}", hint="keys match [a-z][a-z0-9_]*")
        lines.append(f"{key}={escape(data[key])}")
    return "\n".join(lines) + "\n"


def loads(text: str) -> dict[str, str]:
    """Parse a key=value file; lines without ``=`` or with bad keys are ignored."""
    data: dict[str, str] = {}
    for line in text.split("\n"):  # not splitlines(): values may hold U+2028, \x85, \x0c
        key, sep, value = line.partition("=")
        if sep and KEY_RE.fullmatch(key):
            data[key] = unescape(value)
    return data

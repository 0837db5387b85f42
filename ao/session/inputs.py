"""Bounded text from users: a task or a message is at most ``MAX_TEXT_BYTES``.

Every way text reaches an agent (``ao new TASK``, ``ao new -``, ``ao send TEXT``, ``ao
send -``, ``ao send --file F`` and the core functions other front-ends call) shares one
limit. Streams and files are read up to the limit plus one byte, never further: ``--file
/dev/zero`` is refused at once instead of filling memory.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from ao.sdk.errors import UsageError

MAX_TEXT_BYTES = 1_000_000


def _too_large(what: str, limit: int) -> UsageError:
    return UsageError(
        f"{what} is larger than {_size(limit)}",
        hint="put it in a file the agent can read, and pass a short text naming that file",
    )


def _size(limit: int) -> str:
    return f"{limit // 1_000_000} MB" if limit % 1_000_000 == 0 else f"{limit} bytes"


def check_text_size(text: str, what: str = "the message", limit: int = MAX_TEXT_BYTES) -> str:
    """``text`` unchanged, or a UsageError when its UTF-8 form exceeds ``limit`` bytes.

    The core calls it on every task and message, whatever front-end passed them.
    """
    # at most 4 bytes per character: short texts need no encoding to be known small
    if len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit:
        raise _too_large(what, limit)
    return text


def read_bounded(stream: t.BinaryIO, what: str, limit: int = MAX_TEXT_BYTES) -> str:
    """Read UTF-8 text from ``stream``: at most ``limit`` + 1 bytes, over ``limit`` refused."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    if size > limit:
        raise _too_large(what, limit)
    return decode_utf8(data, what)


def read_text_file(path: Path, what: str | None = None, limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of the file at ``path`` (bounded like :func:`read_bounded`).

    A file that cannot be opened or read is a UsageError naming it.
    """
    name = what or str(path)
    try:
        with Path(path).open("rb") as fh:
            return read_bounded(t.cast(t.BinaryIO, fh), name, limit)
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check the path and its permissions"
        ) from None


def decode_utf8(data: bytes, what: str) -> str:
    """``data`` decoded as UTF-8, or a UsageError naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{what} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}",
            hint="convert it first, e.g. `iconv -t UTF-8`",
        ) from None

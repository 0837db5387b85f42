"""The one lock discipline for every writer of ao state.

Locks are advisory ``fcntl.flock`` locks on files under the project's ``locks/``
directory. The kernel releases them when the holder dies, so a crashed writer never
leaves a lock that blocks others; ``ao gc`` only removes unused lock files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ao.errors import ConflictError


@contextlib.contextmanager
def locked(path: Path, *, timeout: float = 10.0, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or shared) lock on ``path`` for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConflictError(
                        f"could not lock {path} within {timeout:g}s",
                        hint="another ao process is writing; retry, or run `ao gc`",
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)


def try_lock(path: Path) -> int | None:
    """Take an exclusive lock without waiting; return the fd to keep it, or None if held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_create(path: Path, text: str) -> None:
    """Create ``path`` with ``text``, failing (FileExistsError) if it exists, like ``O_EXCL``.

    The content is written to a temporary file first and hard-linked into place, so a
    reader never sees an empty or half-written file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

"""The one lock discipline for every writer of ao state, and its private file writers.

Locks are advisory ``fcntl.flock`` locks on files under the project's ``locks/``
directory. The kernel releases them when the holder dies, so a crashed writer never
leaves a lock that blocks others; ``ao gc`` only removes unused lock files.

Files ao writes under ``$AO_HOME`` are the owner's alone (0600, directories 0700), made
so with explicit modes: the process umask is never changed, because the runtime's server
and the agents inherit it and write into the user's repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from ao.sdk.errors import ConflictError
from ao.sdk.home import PRIVATE_FILE_MODE, is_private, private_dir
from ao.store import faults

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC


@contextlib.contextmanager
def locked(path: Path, *, timeout: float = 10.0, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or shared) lock on ``path`` for the duration of the block."""
    fd = _open_lock(path)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                if _still_linked(fd, path):
                    break
                os.close(fd)  # the file was removed (gc, archive) while we waited: retry
                fd = _open_lock(path)
                continue
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
    while True:
        fd = _open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if _still_linked(fd, path):
            return fd
        os.close(fd)


def _still_linked(fd: int, path: Path) -> bool:
    """Whether the locked file is still the one at ``path``: a lock on a file someone
    unlinked meanwhile would not exclude a process that opens the path anew."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    locked_st = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (locked_st.st_dev, locked_st.st_ino)


def _open_lock(path: Path) -> int:
    """The lock file's fd: created 0600 (and its directory 0700) when missing."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    _private_fd(fd)
    return fd


def atomic_write(path: Path, text: str | bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half.

    ``text`` is written as UTF-8; bytes (a pickle) as they are.

    ``mode`` defaults to 0600 under ``$AO_HOME`` (ao's own state); elsewhere (the
    user's config file) an existing file keeps its mode and a new one gets the usual
    umask default. On failure (a full disk) the temporary file is removed and the
    target is untouched; the error names the path.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _write_file(tmp, _bytes(text), _mode_for(path, mode), os.O_TRUNC, path)
    faults.point("write.before-rename")
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_create(path: Path, text: str | bytes, *, mode: int | None = None) -> None:
    """Create ``path`` with ``text``, failing (FileExistsError) if it exists, like ``O_EXCL``.

    The content is written to a temporary file first and hard-linked into place, so a
    reader never sees an empty or half-written file. Modes as for :func:`atomic_write`.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        _write_file(tmp, _bytes(text), _mode_for(path, mode), os.O_TRUNC, path)
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def append_private(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` with one ``O_APPEND`` write; the file is created 0600.

    Lines appended this way by concurrent writers never interleave. A file an older ao
    created readable by others is tightened. Errors name ``path``.
    """
    try:
        fd = os.open(path, _CREATE | os.O_APPEND, PRIVATE_FILE_MODE)
    except FileNotFoundError:
        private_dir(path.parent)
        fd = os.open(path, _CREATE | os.O_APPEND, PRIVATE_FILE_MODE)
    try:
        _private_fd(fd)
        _write_all(fd, data, path)
    finally:
        os.close(fd)


def write_private(path: Path, text: str | bytes) -> None:
    """Write ``text`` atomically to ``path`` as 0600, creating its directory (0700)."""
    private_dir(path.parent)
    atomic_write(path, text, mode=PRIVATE_FILE_MODE)


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def _mode_for(path: Path, mode: int | None) -> int | None:
    """The mode a new version of ``path`` gets; None: the umask default."""
    if mode is not None:
        return mode
    if is_private(path):
        return PRIVATE_FILE_MODE
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _write_file(tmp: Path, data: bytes, mode: int | None, flags: int, target: Path) -> None:
    """Write ``data`` to ``tmp`` and fsync it; on any failure ``tmp`` is removed."""
    fd = os.open(tmp, _CREATE | flags, 0o666 if mode is None else PRIVATE_FILE_MODE)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        _write_all(fd, data, target)
        try:
            os.fsync(fd)
        except OSError as exc:  # a full disk can surface only here
            _name(exc, target)
            raise
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)


def _write_all(fd: int, data: bytes, path: Path) -> None:
    """``os.write`` until all of ``data`` is written; an error names ``path``."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        _name(exc, path)
        raise


def _name(exc: OSError, path: Path) -> None:
    """Give an ``OSError`` from a write on an fd the path it was about."""
    if exc.filename is None:
        exc.filename = os.fspath(path)


def _private_fd(fd: int) -> None:
    """Take group and other permissions off an open file ao owns."""
    st = os.fstat(fd)
    if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.geteuid():
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o600)

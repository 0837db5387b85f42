"""An ``OSError`` as ao's one-line error: the path, what went wrong, what to do.

Kept apart from ``ao.sdk.errors`` (a leaf every module imports) because naming the state
directory needs ``ao.store.paths``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ao.sdk.errors import FileSystemError
from ao.sdk.home import ao_home


def from_os_error(exc: OSError) -> FileSystemError:
    """``exc`` as one line naming the path and what to do about it.

    The CLI's error boundary uses it for any ``OSError`` that reaches it; core code may
    raise it where it knows better which path was meant.
    """

    if isinstance(exc, FileNotFoundError) and _cwd_gone():
        return FileSystemError(
            "the current directory no longer exists",
            hint="cd to an existing directory and run the command again",
        )
    reason = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
    reason = reason[:1].lower() + reason[1:]
    path = os.fsdecode(exc.filename) if exc.filename is not None else None
    code = exc.errno
    if path is None and code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
        what = f"{reason} (while using {_shown(_home())})"
    elif path is None:
        what = reason
    elif exc.filename2 is not None:
        what = f"{_shown(path)} -> {_shown(os.fsdecode(exc.filename2))}: {reason}"
    else:
        what = f"{_shown(path)}: {reason}"
    hint: str | None
    if code in (errno.ENOSPC, errno.EDQUOT):
        hint = "the disk (or your quota) is full: free some space there and run it again"
    elif code == errno.EROFS:
        hint = "the filesystem is read-only: remount it writable, or set AO_HOME elsewhere"
    elif code in (errno.EACCES, errno.EPERM):
        hint = (
            "you may not write there: fix its owner or permissions (`ls -ld` it), "
            "or set AO_HOME to a directory you own"
        )
    elif code == errno.ENOTDIR and path is not None and (blocker := _file_in_the_way(path)):
        what = f"{blocker} is a file where ao needs a directory"
        hint = f"move it aside (e.g. `mv {blocker} {blocker}.bak`) and run it again"
    elif code == errno.EEXIST and path is not None and (blocker := _file_in_the_way(path)):
        what = f"{blocker} already exists and is not a directory"
        hint = f"if it is in ao's way, move it aside (e.g. `mv {blocker} {blocker}.bak`)"
    elif code == errno.EISDIR:
        hint = "a directory is where ao expects a file: move it aside and run it again"
    elif code == errno.ENOENT:
        hint = "it was removed while ao was using it: run the command again"
    elif code in (errno.EMFILE, errno.ENFILE, errno.ENOMEM):
        hint = "the system is out of resources: close some programs and run it again"
    elif code == errno.EIO:
        hint = "the disk reported an I/O error: check it (`dmesg`) before running it again"
    elif isinstance(exc, ConnectionError | TimeoutError):
        hint = "a service ao talks to did not answer: check it and run the command again"
    elif path is not None:
        hint = "check that path, then run the command again"
    else:
        hint = "run the command again; if it fails the same way, `ao doctor` may say why"
    return FileSystemError(what, hint=hint)


def _shown(path: str) -> str:
    """``path`` as is when printable, else quoted with escapes (one line on a terminal)."""
    return path if path.isprintable() else repr(path)


def _cwd_gone() -> bool:

    try:
        Path.cwd()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def _home() -> str:
    return str(ao_home())


def _file_in_the_way(path: str) -> str | None:
    """``path`` or its nearest existing ancestor when that is not a directory, else None."""

    current = Path(os.path.abspath(path))
    while not (current.exists() or current.is_symlink()):
        if current.parent == current:
            return None
        current = current.parent
    return None if current.is_dir() else _shown(str(current))

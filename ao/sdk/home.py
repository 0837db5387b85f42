"""``$AO_HOME``, ao's state root, and directories only their owner may use.

Part of the plugin SDK: plugins keep their caches under ``ao_home()``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Mapping
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def ao_home() -> Path:
    """The state root: ``$AO_HOME``, else ``~/.agent-orchestrator``."""
    env = os.environ.get("AO_HOME")
    return Path(env).expanduser() if env else Path.home() / ".agent-orchestrator"


def is_private(path: Path) -> bool:
    """Whether ``path`` is ao's own state (under ``ao_home()``): written for the owner only."""
    home = os.path.abspath(ao_home())
    target = os.path.abspath(path)
    if target == home or target.startswith(home.rstrip(os.sep) + os.sep):
        return True
    real_home = os.path.realpath(home)
    real = os.path.realpath(target)
    return real == real_home or real.startswith(real_home.rstrip(os.sep) + os.sep)


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents as directories only the owner may use (0700).

    Directories that already exist are left as they are (see :func:`tighten`). A file
    where a directory belongs is a ``NotADirectoryError`` naming it. The process umask
    is never changed: the runtime's server and the agents inherit it.
    """
    path = Path(path)
    if path.is_dir():
        return path
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        if current.exists() or current.is_symlink():
            raise NotADirectoryError(
                errno.ENOTDIR, "a file is where a directory belongs", os.fspath(current)
            )
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(PRIVATE_DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue
        # mkdir's mode is masked by the umask; a umask that takes owner bits is undone here
        directory.chmod(PRIVATE_DIR_MODE)
    return path


def tighten(path: Path) -> None:
    """Take group and other permissions off ``path`` (from an older ao); best effort.

    Only the owner's own files and directories are touched, never a shared one (sticky
    bit, like ``/tmp``) nor the user's home directory (``AO_HOME=~`` is allowed).
    """
    with contextlib.suppress(OSError):
        st = path.stat()
        mode = stat.S_IMODE(st.st_mode)
        if not mode & 0o077 or mode & stat.S_ISVTX or st.st_uid != os.geteuid():
            return
        if stat.S_ISDIR(st.st_mode) and _is_user_home(path):
            return
        path.chmod(mode & 0o700)


def _is_user_home(path: Path) -> bool:
    try:
        return path.samefile(Path.home())
    except (OSError, RuntimeError, KeyError):
        return False


def memory_dir() -> Path:
    """A directory only this user may use, in memory where the system has one
    (``$XDG_RUNTIME_DIR/ao``, else ``/dev/shm/ao-<uid>``), else ``$AO_HOME/run``: for
    files that must never reach a disk (a launcher's environment) and short socket paths.
    A candidate that is a symlink or someone else's is skipped."""
    candidates = [Path(f"/dev/shm/ao-{os.geteuid()}")]
    if os.environ.get("XDG_RUNTIME_DIR"):
        candidates.insert(0, Path(os.environ["XDG_RUNTIME_DIR"], "ao"))
    for candidate in candidates:
        with contextlib.suppress(OSError):
            if not candidate.parent.is_dir():
                continue
            with contextlib.suppress(FileExistsError):
                candidate.mkdir(PRIVATE_DIR_MODE)
            info = candidate.lstat()  # never through a symlink someone else planted
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
                if stat.S_IMODE(info.st_mode) & 0o077:
                    candidate.chmod(PRIVATE_DIR_MODE)
                return candidate
    return private_dir(ao_home() / "run")


def write_env_file(env: Mapping[str, str], prefix: str, stale: float = 600.0) -> Path:
    """A new 0600 JSON file holding ``env`` in :func:`memory_dir`, for a launcher that reads
    and deletes it; files of ``prefix`` nobody read for ``stale`` seconds (a killed ``ao``)
    are removed here."""
    import json  # lazy: most commands never start a process
    import tempfile  # lazy: as json

    directory = memory_dir()
    cutoff = time.time() - stale
    for old in directory.glob(f"{prefix}*.json"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dict(env), fh)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)

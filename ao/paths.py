"""Where ao keeps its state: ``$AO_HOME`` and one namespace directory per project."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
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
    is never changed: the tmux server and agents inherit it.
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


def config_hash(config_path: Path) -> str:
    """First 12 hex digits of sha256 of the real path of the config file's directory."""
    directory = str(Path(config_path).resolve().parent)
    return hashlib.sha256(directory.encode()).hexdigest()[:12]


class ProjectPaths:
    """The files and directories of one project's namespace under ``$AO_HOME``."""

    def __init__(self, config_path: Path, project_id: str, home: Path | None = None) -> None:
        self.config_path = Path(config_path).resolve()
        self.project_id = project_id
        self.hash = config_hash(self.config_path)
        self.root = (home or ao_home()) / f"{self.hash}-{project_id}"

    @property
    def origin(self) -> Path:
        return self.root / ".origin"

    @property
    def sessions(self) -> Path:
        return self.root / "sessions"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def worktrees(self) -> Path:
        return self.root / "worktrees"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    def outbox(self, session_id: str) -> Path:
        """Messages queued for a busy agent, delivered in file-name order."""
        return self.root / "outbox" / session_id

    def tmux_name(self, session_id: str) -> str:
        """The runtime name of a session: namespaced by the config hash."""
        return f"{self.hash}-{session_id}"

    def ensure(self) -> None:
        """Create the namespace directories (0700) and the ``.origin`` marker (0600).

        Directories an older ao created readable by others are tightened; a file where
        one of them belongs is a ``NotADirectoryError`` naming it, before anything is
        written.
        """
        home = self.root.parent
        dirs = (
            home, home / "locks", home / "cache", self.root, self.sessions, self.archive,
            self.worktrees, self.locks, self.logs, self.root / "agents",
        )  # fmt: skip
        for d in dirs:
            private_dir(d)
            tighten(d)
        if not self.origin.exists():
            with contextlib.suppress(FileExistsError):  # a parallel ensure() wrote it
                fd = os.open(self.origin, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(str(self.config_path) + "\n")
        tighten(self.origin)

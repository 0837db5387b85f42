"""Where ao keeps its state: one namespace directory per project under ``$AO_HOME``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

from ao.sdk.home import ao_home, private_dir, tighten

# a session id is a file name in sessions/ and part of its runtime's name
SESSION_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def config_hash(config_path: Path) -> str:
    """First 12 hex digits of sha256 of the real path of the config file's directory."""
    directory = str(Path(config_path).resolve().parent)
    return hashlib.sha256(directory.encode()).hexdigest()[:12]


def watch_lock_path(config_path: Path) -> Path:
    """The lock that keeps two watchers (or passes) of one config from overlapping."""
    return ao_home() / "locks" / f"watch-{config_hash(config_path)}.lock"


def watcher_name(config_path: Path) -> str:
    """The runtime name of the config's watcher session (``ao start`` runs it)."""
    return f"{config_hash(config_path)}-watch"


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

    def runtime_name(self, session_id: str) -> str:
        """The runtime name of a session: namespaced by the config hash (every project of
        a config shares one runtime namespace, ``{hash}-{id}``, with the watcher's)."""
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

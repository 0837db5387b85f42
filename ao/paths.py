"""Where ao keeps its state: ``$AO_HOME`` and one namespace directory per project."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def ao_home() -> Path:
    """The state root: ``$AO_HOME``, else ``~/.agent-orchestrator``."""
    env = os.environ.get("AO_HOME")
    return Path(env).expanduser() if env else Path.home() / ".agent-orchestrator"


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
        """Create the namespace directories and the ``.origin`` marker if missing."""
        for d in (self.sessions, self.archive, self.worktrees, self.locks, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        if not self.origin.exists():
            self.origin.write_text(str(self.config_path) + "\n", encoding="utf-8")

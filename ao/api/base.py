"""What every part of the API shares: the config it works on and the session lookup.

Import cost matters: the CLI's read-mostly commands (``ao list``, ``status``, ``send``)
go through the API, so the API's modules import only what those commands need at module
level, and the rest of the core (spawn, stop, gc, the lifecycle) inside the methods
that use it. Those are the lazy imports this package allows, each marked ``# lazy``.
"""

from __future__ import annotations

from pathlib import Path

from ao.config import find_config_path, load_config
from ao.session.context import Context, Project
from ao.store.state import Session, validate_session_id


class Base:
    """The config an ``Orchestrator`` works on, loaded on first use and reloaded when the
    file changes, and the one way an id becomes a session."""

    def __init__(self, cwd: Path | str | None = None, config: Path | str | None = None) -> None:
        """Work from ``cwd`` (default: the current directory) on ``config`` (default: the
        CLI's lookup: ``$AO_CONFIG``, else the nearest ``agent-orchestrator.yaml`` above
        ``cwd``, else ``$AO_HOME/config.yaml``). Nothing is read until it is needed."""
        self.cwd = Path(cwd).absolute() if cwd is not None else Path.cwd()
        self._config = Path(config).expanduser().absolute() if config is not None else None
        self._ctx: Context | None = None
        self._stamp: tuple[Path, int, int] | None = None

    @property
    def config_path(self) -> Path | None:
        """The config file this works on, or None when there is none yet."""
        return self._config if self._config is not None else find_config_path(self.cwd)

    @property
    def context(self) -> Context:
        """The loaded config and its plugins (ConfigError when there is no valid config).

        Reloaded when the file changed since the last call, so a long-lived front-end
        sees ``add_project`` and edits by hand.
        """
        path = self.config_path
        if path is None:
            load_config(cwd=self.cwd)  # raises the CLI's "no agent-orchestrator.yaml" error
            raise AssertionError("unreachable")
        try:
            st = path.stat()
            stamp: tuple[Path, int, int] | None = (path, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None  # load_config says what is wrong with it
        if self._ctx is None or stamp is None or stamp != self._stamp:
            self._ctx = Context(load_config(path, cached=True))
            self._stamp = stamp
        return self._ctx

    def _forget_config(self) -> None:
        """Load the config again on next use (after this API edited it)."""
        self._ctx = self._stamp = None

    # ----------------------------------------------------------------- lookup

    def _projects(self, project: str | None) -> list[Project]:
        """``project`` alone, or every project of the config."""
        ctx = self.context
        return [ctx.project(project)] if project else ctx.projects()

    def _select(self, project: str | None) -> Project:
        """An explicit project, else the only one, else the one around ``cwd``."""
        return self.context.select_project(project, cwd=self.cwd)

    def _session(self, session_id: str, project: str | None) -> tuple[Project, Session]:
        """A live session by id (in ``project``, else in any project).

        UsageError for an invalid id or one that several projects hold (then the
        caller must name the project); NotFoundError for an unknown one.
        """
        validate_session_id(session_id)
        return self.context.find_session(session_id, project)

    def _holder(self, session_id: str, project: str | None) -> Project:
        """The project holding ``session_id``, live or archived (same errors)."""
        validate_session_id(session_id)
        return self.context.session_project(session_id, project, archived=True)

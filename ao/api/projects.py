"""Projects: set up a repository (``start``), add and remove projects, list them."""

from __future__ import annotations

import typing as t
from pathlib import Path

from ao.api.base import Base
from ao.sdk.errors import AoError, ConfigError

if t.TYPE_CHECKING:
    from ao.api.inventory import ProjectAdded, ProjectInfo, ProjectRemoved, ProjectStarted
    from ao.session.context import Project


class Projects(Base):
    """The config's projects."""

    def start_project(
        self,
        target: str | None = None,
        *,
        name: str | None = None,
        watch: bool = True,
        dashboard: bool = True,
    ) -> ProjectStarted:
        """Set up ao for a repository and (with ``watch``) run the watcher and, beside it
        (with ``dashboard`` and ``dashboard.enabled``), the dashboard. Safe to re-run.

        ``target``: a path (relative to ``cwd``) or a URL to clone into ``cwd``; default
        ``cwd``. The project goes into the config this API works on, else the one at or
        above the repository, else a new ``agent-orchestrator.yaml`` at its root (kept out
        of git). ``name``: the project id (default: the directory's name). A watcher or
        dashboard that cannot start (no runtime here, a busy port) is reported, not raised.
        The dashboard ends when the watcher ends (``ao.api.dashboard``).
        """
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.inventory import ProjectStarted
        from ao.session.projects import start  # lazy: see ao.api.base

        result = start(target, self.cwd, name=name, config_path=self._config)
        self._forget_config()
        state, detail = (
            ("skipped", "--no-watch") if not watch else self._ensure_watcher(result.config_path)
        )
        board: tuple[str, str, str | None]
        if not dashboard:
            board = ("skipped", "--no-dashboard", None)
        elif state not in ("started", "running", "external"):
            board = ("skipped", "no watcher to run beside" if watch else "--no-watch", None)
        else:
            board = self._ensure_dashboard(result.config_path)
        return ProjectStarted(
            result.config_path, result.project_id, result.created_config, result.added_project,
            result.cloned, result.agent, state, detail, *board,
        )  # fmt: skip

    def _ensure_watcher(self, config_path: Path) -> tuple[str, str]:
        # lazy: only this method needs these, so `ao list` stays light
        from ao.config import load_config
        from ao.lifecycle.watch import ensure_watcher  # lazy: see ao.api.base
        from ao.session.context import Context

        try:
            return ensure_watcher(Context(load_config(config_path, cached=True)))
        except AoError as exc:  # no runtime here: the config is still useful
            return "not started", str(exc)

    def _ensure_dashboard(self, config_path: Path) -> tuple[str, str, str | None]:
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.dashboard import launch
        from ao.config import load_config

        if not load_config(config_path, cached=True).model.dashboard.enabled:
            return "skipped", "dashboard.enabled is false", None
        try:
            return launch(config_path)
        except OSError as exc:  # an unwritable AO_HOME: the project is set up all the same
            return "not started", str(exc), None

    def add_project(self, target: str, *, name: str | None = None) -> ProjectAdded:
        """Add a repository (a path, or a URL to clone into ``cwd``) to the config; a
        repository already in it is reported as such (``added_project`` false)."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.inventory import ProjectAdded
        from ao.session.projects import start  # lazy: see ao.api.base

        config_path = self.config_path
        if config_path is None:
            raise ConfigError("no config to add to", hint="run `ao start` in a repository first")
        result = start(target, self.cwd, name=name, config_path=config_path)
        self._forget_config()
        return ProjectAdded(
            result.config_path, result.project_id, result.added_project, result.cloned
        )

    def remove_project(self, name: str, *, force: bool = False) -> ProjectRemoved:
        """Remove project ``name`` from the config; its state and worktrees stay on disk.
        With live sessions it is a ConflictError unless ``force`` (they keep running,
        unmanaged)."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.inventory import ProjectRemoved
        from ao.session.projects import remove_project  # lazy: see ao.api.base

        ctx = self.context
        proj = ctx.project(name)
        live = len(proj.store.list())
        remove_project(ctx.loaded.path, name, live_sessions=live, force=force)
        self._forget_config()
        return ProjectRemoved(ctx.loaded.path, name, proj.paths.root, live)

    def projects(self) -> list[ProjectInfo]:
        """Every configured project."""
        return [_info(p) for p in self.context.projects()]

    def select_project(self, project: str | None = None) -> ProjectInfo:
        """The project a command acts on: ``project``, else the only one, else the one
        around ``cwd`` (UsageError when several could be meant, NotFoundError for an
        unknown one)."""
        return _info(self._select(project))


def _info(p: Project) -> ProjectInfo:
    # lazy: only this method needs these, so `ao list` stays light
    from ao.api.inventory import ProjectInfo

    return ProjectInfo(
        id=p.id,
        path=p.repo_path,
        prefix=p.prefix,
        default_branch=p.config.default_branch,
        agent=p.config.agent,
        state=p.paths.root,
    )

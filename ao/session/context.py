"""Resolve what a command works on: the config, its projects, their stores and plugins."""

from __future__ import annotations

import dataclasses
import difflib
import shutil
import typing as t
from pathlib import Path

from ao import registry
from ao.config import load_config, require_project
from ao.config.names import default_prefix
from ao.config.snapshot import plain
from ao.sdk.errors import NotFoundError, PluginError, UsageError
from ao.session.agents import choose, inventory
from ao.store import events
from ao.store.paths import ProjectPaths
from ao.store.state import Session, SessionStore
from ao.store.tasks import TaskStore

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from ao.config import LoadedConfig
    from ao.config.models import ProjectConfig
    from ao.sdk.contracts import Agent, Runtime, Scm, Slot, Terminal, Tracker, Workspace

Options = dict[str, t.Any]


@dataclasses.dataclass(frozen=True)
class Project:
    """One configured project with its state namespace."""

    id: str
    config: ProjectConfig
    paths: ProjectPaths
    store: SessionStore

    @property
    def prefix(self) -> str:
        return self.config.session_prefix or default_prefix(self.id)

    @property
    def repo_path(self) -> Path:
        return Path(self.config.path)

    @property
    def tasks(self) -> TaskStore:
        """The project's tasks (``ao task``)."""
        return TaskStore(self.paths)


class Context:
    """The loaded config plus cached plugin instances for one ao invocation."""

    def __init__(
        self, loaded: LoadedConfig, *, plugins: Mapping[tuple[str, str], object] | None = None
    ) -> None:
        """``plugins``: instances to use instead of loading them, keyed by (slot, name):
        how a test puts an in-memory runtime (``tests/fakes/fakeruntime.py``) under the core."""
        self.loaded = loaded
        self.config = loaded.model
        self._plugins: dict[tuple[str, str], t.Any] = dict(plugins or {})

    @classmethod
    def load(cls, cwd: Path | None = None) -> Context:
        """Find and load the config (see ``ao.config.find_config_path``)."""

        return cls(load_config(cwd=cwd, cached=True))

    # ----------------------------------------------------------------- projects

    def project(self, project_id: str) -> Project:
        """The project named ``project_id``."""
        if project_id not in self.config.projects:
            known = ", ".join(sorted(self.config.projects)) or "none"
            raise NotFoundError(
                f"no project {project_id!r} in {self.loaded.path}", hint=f"projects: {known}"
            )
        return Project(
            project_id,
            self.config.projects[project_id],
            paths := ProjectPaths(self.loaded.path, project_id),
            SessionStore(paths),
        )

    def projects(self) -> list[Project]:
        """Every configured project."""
        return [self.project(pid) for pid in self.config.projects]

    def select_project(self, name: str | None, cwd: Path | None = None) -> Project:
        """An explicit project, else the only one, else the one containing ``cwd``."""

        pid, _ = require_project(self.loaded, name, cwd or Path.cwd())
        return self.project(pid)

    def find_session(self, session_id: str, project: str | None = None) -> tuple[Project, Session]:
        """Locate a live session by id across projects (or within ``project``)."""
        proj = self.session_project(session_id, project)
        return proj, proj.store.read(session_id)

    def session_project(
        self, session_id: str, project: str | None = None, *, archived: bool = False
    ) -> Project:
        """The one project holding ``session_id``: live, or also archived with ``archived``.

        The only place that decides which project an id belongs to: an id that (from
        older state) exists in several projects is a UsageError asking for the project,
        never a guess; an unknown id is a NotFoundError with a did-you-mean.
        """
        candidates = [self.project(project)] if project else self.projects()
        found = [
            proj for proj in candidates
            if proj.store.exists(session_id)
            or (archived and proj.store.archived(session_id) is not None)
        ]  # fmt: skip
        if len(found) > 1:
            names = ", ".join(p.id for p in found)
            raise UsageError(
                f"session {session_id!r} exists in several projects ({names})",
                hint=f"pass --project, e.g. --project {found[0].id}",
            )
        if found:
            return found[0]
        live = [s.id for p in candidates for s in p.store.list()]

        close = difflib.get_close_matches(session_id, live, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see `ao list`"
        if archived:
            hint = f"did you mean {close[0]!r}?" if close else "see `ao list --all`"
            raise NotFoundError(f"no session {session_id!r}, live or archived", hint=hint)
        raise NotFoundError(f"no session {session_id!r}", hint=hint)

    # ----------------------------------------------------------------- plugins

    @t.overload
    def _plugin(self, slot: t.Literal["runtime"], name: str, options: Options) -> Runtime: ...
    @t.overload
    def _plugin(self, slot: t.Literal["agent"], name: str, options: Options) -> Agent: ...
    @t.overload
    def _plugin(self, slot: t.Literal["workspace"], name: str, options: Options) -> Workspace: ...
    @t.overload
    def _plugin(self, slot: t.Literal["tracker"], name: str, options: Options) -> Tracker: ...
    @t.overload
    def _plugin(self, slot: t.Literal["scm"], name: str, options: Options) -> Scm: ...
    @t.overload
    def _plugin(self, slot: t.Literal["terminal"], name: str, options: Options) -> Terminal: ...
    def _plugin(self, slot: Slot, name: str, options: Options) -> object:
        """Plugin ``name`` of ``slot``, loaded once (``registry.load`` checks its contract)."""
        key = (slot, name)
        if key not in self._plugins:
            self._plugins[key] = registry.load(slot, name, options)
        return self._plugins[key]

    def runtime(self, name: str | None = None) -> Runtime:
        """The runtime plugin, with its ``plugins.<name>`` options and those the config
        keeps for it elsewhere (``LoadedConfig.runtime_options``)."""
        name = name or self.config.defaults.runtime
        options = {**self._options(name), **self.loaded.runtime_options(name)}
        return self._plugin("runtime", name, options)

    def workspace(self, name: str | None = None) -> Workspace:
        """The workspace plugin, with its ``plugins.<name>`` options."""
        name = name or self.config.defaults.workspace
        return self._plugin("workspace", name, self._options(name))

    def scm(self, name: str) -> Scm:
        """The SCM plugin ``name``."""
        return self._plugin("scm", name, self._options(name))

    def project_scm(self, project: Project) -> Scm | None:
        """The project's SCM plugin, or None when none is installed or it is misconfigured
        (then an ``scm.error`` event says why)."""

        name = project.config.scm or self.config.defaults.scm
        if name not in registry.available("scm"):
            return None  # no SCM plugin installed for this project: PR states stay unknown
        try:
            return self.scm(name)
        except PluginError as exc:  # installed but broken (bad options): say so, keep going
            events.append(project.paths, "scm.error", priority="warning", message=str(exc))
            return None

    def tracker(self, name: str) -> Tracker:
        """The tracker plugin ``name``."""
        return self._plugin("tracker", name, self._options(name))

    def _options(self, name: str) -> dict[str, t.Any]:
        """``plugins.<name>`` as plain data (the cached config hands out read-only views)."""

        return dict(plain(self.config.plugins.get(name)) or {})

    def terminal(self) -> Terminal:
        """The terminal plugin."""
        return self._plugin("terminal", self.config.defaults.terminal, {})

    def agent_name(self, project: Project, requested: str | None = None) -> str:
        """The agent a new session uses: explicit, project, default, or the best installed."""
        name = requested or project.config.agent or self.config.defaults.agent
        if name != "auto":
            return name

        chosen = choose(inventory(self), self.config.defaults.agent_strategy)
        if chosen is None:
            raise PluginError(
                "no agent CLI is installed", hint="install one, or set defaults.agent"
            )
        return chosen

    def agent(self, name: str) -> Agent:
        """The agent plugin ``name`` with its ``agents.<name>`` options."""
        opts = self.config.agents.get(name)
        options = opts.model_dump(exclude_none=True) if opts else {}
        return self._plugin("agent", name, options)


def require_binary(binary: str, what: str) -> str:
    """Path of ``binary`` on PATH, or a UsageError saying how to get it."""
    path = shutil.which(binary)
    if not path:
        raise UsageError(f"{what} needs `{binary}`, which is not on PATH", hint=f"install {binary}")
    return path

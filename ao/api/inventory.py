"""What the application API returns about projects, agents and plugins (see
``ao.api.results``).
"""

from __future__ import annotations

import dataclasses
import typing as t
from pathlib import Path

JSON = dict[str, t.Any]


@dataclasses.dataclass(frozen=True)
class ProjectStarted:
    """What ``start_project`` found or created, and the watcher's state."""

    config: Path
    project: str
    created_config: bool
    added_project: bool
    cloned: bool
    agent: str
    watcher: str  # started | running | external | not started | skipped
    watcher_detail: str
    dashboard: str = "skipped"  # started | running | not started | skipped
    dashboard_detail: str = ""
    dashboard_url: str | None = None  # without the token

    def to_json(self) -> JSON:
        """The data of ``ao start --json``."""
        return {
            "config": str(self.config), "project": self.project,
            "created_config": self.created_config, "added_project": self.added_project,
            "cloned": self.cloned, "agent": self.agent,
            "watcher": {"state": self.watcher, "detail": self.watcher_detail},
            "dashboard": {"state": self.dashboard, "detail": self.dashboard_detail,
                          "url": self.dashboard_url},
        }  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ProjectAdded:
    """A repository ``add_project`` put in the config (or found already there)."""

    config: Path
    project: str
    added_project: bool
    cloned: bool

    def to_json(self) -> JSON:
        """The data of ``ao add-project --json``."""
        return {"config": str(self.config), "project": self.project,
                "added_project": self.added_project, "cloned": self.cloned}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ProjectRemoved:
    """A project ``remove_project`` took out of the config; its state stays."""

    config: Path
    project: str
    state: Path
    live_sessions: int

    def to_json(self) -> JSON:
        """The data of ``ao remove-project --json``."""
        return {"config": str(self.config), "project": self.project, "state": str(self.state),
                "live_sessions": self.live_sessions}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ProjectInfo:
    """One configured project."""

    id: str
    path: Path
    prefix: str  # session ids are <prefix>-<N>
    default_branch: str
    agent: str | None  # the project's agent setting (None: the default)
    state: Path  # its state directory under $AO_HOME

    def to_json(self) -> JSON:
        """As a JSON object."""
        return {"id": self.id, "path": str(self.path), "prefix": self.prefix,
                "default_branch": self.default_branch, "agent": self.agent,
                "state": str(self.state)}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class AgentInfo:
    """One agent adapter as found on this machine."""

    name: str
    installed: bool
    binary: str
    path: str | None
    version: str | None
    auth: str  # subscription | api-key | none | unknown
    auth_detail: str
    default: bool  # the one `defaults.agent: auto` picks
    error: str | None

    def to_json(self) -> JSON:
        """One element of ``ao agents --json``."""
        return {"name": self.name, "installed": self.installed, "binary": self.binary,
                "path": self.path, "version": self.version, "auth": self.auth,
                "auth_detail": self.auth_detail, "default": self.default,
                "error": self.error}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """One registered plugin."""

    slot: str
    name: str
    target: str  # the entry point's module:attribute
    package: str
    version: str

    def to_json(self) -> JSON:
        """One element of ``ao plugins --json``."""
        return {"slot": self.slot, "name": self.name, "target": self.target,
                "package": self.package, "version": self.version}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class DashboardInfo:
    """The dashboard serving a config, as it published itself (``ao.api.dashboard``)."""

    url: str  # without the token
    host: str
    port: int
    pid: int
    started_at: str
    follows_watcher: bool  # `ao start` ran it: it ends when the watcher ends

    def to_json(self) -> JSON:
        """As a JSON object."""
        return {"url": self.url, "host": self.host, "port": self.port, "pid": self.pid,
                "started_at": self.started_at,
                "follows_watcher": self.follows_watcher}  # fmt: skip

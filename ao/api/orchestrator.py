"""``Orchestrator``: the application API every front-end (CLI, HTTP, MCP) calls.

One object per config, from the same lookup as the CLI::

    from ao.api import Orchestrator

    ao = Orchestrator.from_config()
    s = ao.create(project="my-app", task="Fix the login bug")
    print(ao.status(s.id).activity, s.worktree)

Methods take typed arguments and return frozen dataclasses (all importable from
``ao.api``), each with ``to_json()``: the ``data`` of the matching ``ao … --json``
document. They never print, prompt or exit; failures are ``ao.sdk.errors.AoError``
subclasses carrying a message, a hint and the CLI's exit code. See docs/api.md.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from ao.api.agents import Agents
from ao.api.dashboard import Dashboards
from ao.api.fix import Fixes
from ao.api.lifecycle import Lifecycle
from ao.api.projects import Projects
from ao.api.sessions import Sessions
from ao.api.settings import Settings
from ao.api.tasks import Tasks
from ao.api.workspaces import Workspaces

if t.TYPE_CHECKING:
    from ao.api.requests import Request


class Orchestrator(
    Projects, Settings, Fixes, Tasks, Sessions, Workspaces, Lifecycle, Agents, Dashboards
):
    """Projects, sessions, tasks, workspaces, the lifecycle, agents and the dashboard of
    one config."""

    @classmethod
    def from_config(
        cls, cwd: Path | str | None = None, config: Path | str | None = None
    ) -> Orchestrator:
        """The API over ``config``, else the config the CLI would use from ``cwd``
        (``$AO_CONFIG``, else the nearest ``agent-orchestrator.yaml`` above ``cwd``, else
        ``$AO_HOME/config.yaml``), loaded now: ConfigError when there is none or it is
        invalid. ``Orchestrator(cwd, config)`` defers that to first use (``start_project``
        and ``agents`` work without a config)."""
        api = cls(cwd, config)
        api.context  # noqa: B018 - load now, so a bad config fails here
        return api

    def call(self, request: Request) -> t.Any:
        """Run ``request`` (``ao.api.requests``, e.g. parsed from an HTTP body): the result
        of the method it names, called with its fields."""
        return getattr(self, request.method)(**request.arguments())

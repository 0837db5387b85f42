"""The application API: the one thing every front-end (CLI, HTTP, MCP) calls.

``Orchestrator`` (``ao.api.orchestrator``) covers every user-visible operation. Its
results are frozen dataclasses in ``ao.api.results`` (sessions as listed),
``ao.api.outcomes`` (what changed), ``ao.api.inventory`` (projects, agents, plugins) and
``ao.api.reports`` (the lifecycle); ``ao.api.requests`` has its calls as data. Every name
is importable from here, and loaded on first use: importing this package is cheap (no
pydantic, no yaml), since the CLI's read-mostly commands go through it. See docs/api.md.
"""

from __future__ import annotations

import importlib
import typing as t

if t.TYPE_CHECKING:
    from ao.api.fix import FixItemInfo, FixReport
    from ao.api.inventory import (
        AgentInfo,
        DashboardInfo,
        PluginInfo,
        ProjectAdded,
        ProjectInfo,
        ProjectRemoved,
        ProjectStarted,
    )
    from ao.api.orchestrator import Orchestrator
    from ao.api.outcomes import (
        Created,
        GcItem,
        Interrupted,
        IssueSpawn,
        KeysSent,
        Merged,
        Published,
        Stopped,
    )
    from ao.api.reports import (
        ActionTaken,
        Event,
        EventPage,
        NotificationSent,
        NotifierResult,
        PassError,
        PassOutcome,
        PassReport,
        Transition,
    )
    from ao.api.results import Sent, SessionCard, SessionDetail, SessionState
    from ao.api.settings import ConfigChange, ConfigValue
    from ao.api.tasks import TaskInfo

__all__ = [
    "ActionTaken",
    "AgentInfo",
    "ConfigChange",
    "ConfigValue",
    "Created",
    "DashboardInfo",
    "Event",
    "EventPage",
    "FixItemInfo",
    "FixReport",
    "GcItem",
    "Interrupted",
    "IssueSpawn",
    "KeysSent",
    "Merged",
    "NotificationSent",
    "NotifierResult",
    "Orchestrator",
    "PassError",
    "PassOutcome",
    "PassReport",
    "PluginInfo",
    "ProjectAdded",
    "ProjectInfo",
    "ProjectRemoved",
    "ProjectStarted",
    "Published",
    "Sent",
    "SessionCard",
    "SessionDetail",
    "SessionState",
    "Stopped",
    "TaskInfo",
    "Transition",
]

# where each name lives
_HOMES = {
    name: home
    for home, names in (
        ("orchestrator", "Orchestrator"),
        ("results", "SessionState SessionCard SessionDetail Sent"),
        ("tasks", "TaskInfo"),
        ("settings", "ConfigChange ConfigValue"),
        ("fix", "FixItemInfo FixReport"),
        ("outcomes", "Created GcItem Interrupted IssueSpawn KeysSent Merged Published Stopped"),
        ("inventory", "AgentInfo DashboardInfo PluginInfo ProjectAdded ProjectInfo "
                      "ProjectRemoved ProjectStarted"),
        ("reports", "ActionTaken Event EventPage NotificationSent NotifierResult PassError "
                    "PassOutcome PassReport Transition"),
    )
    for name in names.split()
}  # fmt: skip


def __getattr__(name: str) -> t.Any:
    """``ao.api.X``: the class ``X`` from its module, imported on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ao.api' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ao.api.{home}"), name)

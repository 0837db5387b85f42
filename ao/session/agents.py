"""What agent CLIs are installed and logged in, and which one `defaults.agent: auto` picks.

Probes read local files and the environment only (no network): the adapters' optional
capabilities ``Versioned`` (``version()``) and ``AuthReporting`` (``auth()``).
"""

from __future__ import annotations

import dataclasses
import shutil
import typing as t

from ao import registry
from ao.sdk.contracts import AuthReporting, Versioned
from ao.sdk.errors import AoError, PluginError

if t.TYPE_CHECKING:
    from ao.session.context import Context

# Preference when several are usable; `shell` is the always-available last resort.
PREFERENCE = (
    "claude-code", "codex", "gemini", "opencode", "aider", "pi", "kimicode", "cursor", "shell",
)  # fmt: skip
_AUTH_RANK = {"subscription": 0, "api-key": 1, "none": 2}


@dataclasses.dataclass(frozen=True)
class AgentStatus:
    """One agent adapter as found on this machine."""

    name: str
    binary: str
    path: str | None
    version: str | None
    auth: str  # subscription | api-key | none | unknown
    auth_detail: str
    error: str | None = None

    @property
    def installed(self) -> bool:
        return self.path is not None and self.error is None


def inventory(ctx: Context) -> list[AgentStatus]:
    """Every registered agent adapter with its install and auth state."""
    rows = []
    for name in sorted(registry.available("agent"), key=_order):
        try:
            agent = ctx.agent(name)
        except PluginError as exc:
            rows.append(AgentStatus(name, "", None, None, "unknown", "", error=str(exc)))
            continue
        path = shutil.which(agent.binary)
        version = auth = detail = None
        if path:
            try:
                version = agent.version() if isinstance(agent, Versioned) else None
            except AoError:
                version = None
            if isinstance(agent, AuthReporting):
                state = agent.auth()
                auth, detail = state.kind, state.detail
        rows.append(AgentStatus(name, agent.binary, path, version, auth or "none", detail or ""))
    return rows


def _order(name: str) -> tuple[int, str]:
    return (PREFERENCE.index(name) if name in PREFERENCE else len(PREFERENCE) - 1, name)


def choose(rows: list[AgentStatus], strategy: str = "heuristic") -> str | None:
    """The agent `auto` resolves to, or None when nothing is installed."""
    usable = [r for r in rows if r.installed]
    if strategy == "heuristic":
        # a real agent that can authenticate beats one that cannot; shell stays last
        usable.sort(key=lambda r: (r.name == "shell", _AUTH_RANK.get(r.auth, 2), _order(r.name)))
    else:
        usable.sort(key=lambda r: _order(r.name))
    return usable[0].name if usable else None

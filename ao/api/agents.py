"""Agents and plugins: what is installed, which agent a session gets, the machine's checks."""

from __future__ import annotations

import typing as t

from ao.api.base import Base

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ao.api.doctor import Check
    from ao.api.inventory import AgentInfo, PluginInfo
    from ao.selftest.run import AgentResult
    from ao.session.context import Context


class Agents(Base):
    """Agent adapters, plugins and ``doctor``."""

    def _context_or_defaults(self) -> Context:
        """The config's context, or built-in defaults when there is no config yet."""
        if self.config_path is not None:
            return self.context
        # lazy: pydantic, only without a config
        from ao.config import LoadedConfig
        from ao.config.models import AoConfig
        from ao.session.context import Context

        return Context(LoadedConfig(path=self.cwd, model=AoConfig(), raw={}))

    def agents(self) -> list[AgentInfo]:
        """Every agent adapter: installed version and auth state (local files and env only,
        no network), and ``default`` on the one ``defaults.agent: auto`` picks. Works
        without a config (built-in defaults)."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.inventory import AgentInfo
        from ao.session.agents import choose, inventory  # lazy: see ao.api.base

        ctx = self._context_or_defaults()
        rows = inventory(ctx)
        chosen = choose(rows, ctx.config.defaults.agent_strategy)
        return [
            AgentInfo(
                r.name,
                r.installed,
                r.binary,
                r.path,
                r.version,
                r.auth,
                r.auth_detail,
                r.name == chosen,
                r.error,
            )
            for r in rows
        ]

    def choose_agent(self, *, project: str | None = None, agent: str | None = None) -> str:
        """The agent a new session of ``project`` gets: ``agent``, else the project's, else
        the default; ``auto`` resolves to the best installed one (PluginError if none)."""
        return self.context.agent_name(self._select(project), agent)

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin of every slot, built-in and third-party alike."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.inventory import PluginInfo
        from ao.registry import describe

        return [
            PluginInfo(r["slot"], r["name"], r["target"], r["package"], r["version"])
            for r in describe()
        ]

    def doctor(self) -> list[Check]:
        """Whether ao can work here: tools, versions, config, state directory, plugins;
        each check PASS, WARN or FAIL, in the order a user should fix them."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.doctor import run_checks

        return run_checks()

    def check_agents(
        self,
        names: Sequence[str] = (),
        *,
        timeout: float = 60.0,
        progress: Callable[[str], None] | None = None,
    ) -> list[AgentResult]:
        """Self-test installed agent CLIs (``names``, else all) one after another, each in
        a private runtime against a scripted local model: ready, working, ready again,
        needs_input must all be detected."""
        from ao.selftest.run import run_agents  # lazy: see ao.api.base

        return run_agents(names, timeout=timeout, progress=progress)

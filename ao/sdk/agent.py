"""``AgentBase``: what agent adapters share, so that each keeps only what differs.

An adapter subclasses ``AgentBase`` (itself a subclass of the ``Agent`` Protocol, so mypy
checks the adapter against it) and the capability Protocols it implements, and sets a
few class attributes::

    class MyAgent(AgentBase, ProbedVersion, Interruptible):
        name = "my-agent"
        default_command = ("my-agent",)
        process = "my-agent"            # in evidence: "my-agent exited with status 1"
        env_prefixes = ("MY_AGENT_",)   # caller's variables passed to the pane
        interrupt_keys = ("Escape",)

        def launch(self, ctx: LaunchContext) -> LaunchSpec:
            words, delivery = self.prompt_args(ctx.task)
            argv = [*self.command, *self.model_args(ctx), *words]
            return LaunchSpec(argv, self.passthrough(), delivery)

        def activity(self, obs: Observation) -> Activity:
            return self.ended(obs.pane) or Activity("ready", Evidence("screen", "prompt"))

The options every adapter takes (``agents.<name>`` in the config) are read here:
``command`` (argv), ``model``, ``permissions`` and ``settle_delay``.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ao.sdk.agentkit import passthrough_env, probe_version
from ao.sdk.contracts import (
    API_VERSION,
    Activity,
    Agent,
    Evidence,
    LaunchContext,
    PaneState,
    Versioned,
)

Delivery = t.Literal["argv", "post-launch", "none"]
ARGV_PROMPT_LIMIT = 8000  # bytes; longer prompts are pasted (a runtime may cap a command)


class AgentBase(Agent):
    """The options, launch helpers and liveness rule that every adapter shares."""

    api_version = API_VERSION
    name: t.ClassVar[str] = ""
    default_command: t.ClassVar[tuple[str, ...]] = ()  # without a ``command`` option
    default_settle: t.ClassVar[float] = 0.3  # seconds between paste and Enter
    process: t.ClassVar[str] = "process"  # the agent's process, as evidence names it
    env_prefixes: t.ClassVar[tuple[str, ...]] = ()  # passed through (``passthrough``)
    env_names: t.ClassVar[tuple[str, ...]] = ()
    argv_prompt_limit: t.ClassVar[int] = ARGV_PROMPT_LIMIT

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        """Read the options every adapter takes; the rest stay in ``self.options``."""
        self.options: dict[str, t.Any] = dict(options or {})
        command = self.options.get("command") or self.initial_command()
        self.command: list[str] = [str(part) for part in command]
        self.binary = self.command[0]
        self.model: str | None = self.options.get("model")
        self.permissions: str | None = self.options.get("permissions")
        settle = self.options.get("settle_delay") or self.options.get("settleDelay")
        self._settle = float(settle or self.default_settle)

    def initial_command(self) -> list[str]:
        """The argv without a ``command`` option (``default_command``)."""
        return list(self.default_command)

    def settle_delay(self) -> float:
        """Pause between paste and Enter, so the CLI has taken the whole paste."""
        return self._settle

    # ------------------------------------------------------------------ launch

    def level(self, ctx: LaunchContext) -> str:
        """The permission level: the project's, or the agent's own option in its place when
        the project keeps the default."""
        if ctx.permissions == "default" and self.permissions:
            return self.permissions
        return ctx.permissions

    def model_args(self, ctx: LaunchContext, flag: str = "--model") -> list[str]:
        """``[flag, model]`` for the project's model, else the agent's option; else []."""
        model = ctx.model or self.model
        return [flag, model] if model else []

    def passthrough(self) -> dict[str, str]:
        """The caller's non-secret variables this CLI reads (``env_prefixes``/``env_names``)."""
        return passthrough_env(self.env_prefixes, self.env_names)

    def prompt_args(
        self, prompt: str | None, *, flag: str = "", unsafe: tuple[str, ...] = ()
    ) -> tuple[list[str], Delivery]:
        """How a first prompt reaches the CLI: ``[flag + prompt]`` on the command line when
        it fits ``argv_prompt_limit`` bytes and does not start with one of ``unsafe`` (an
        option's ``-``, a file's ``@``); else pasted once the CLI is up; ``none`` without one.
        """
        if not prompt:
            return [], "none"
        if prompt.startswith(unsafe) or len(prompt.encode()) > self.argv_prompt_limit:
            return [], "post-launch"
        return [f"{flag}{prompt}"], "argv"

    # ------------------------------------------------------------------ activity

    def ended(self, pane: PaneState) -> Activity | None:
        """``exited`` (with why) when the session or the agent's process is gone, else None."""
        if not pane.alive:
            return Activity("exited", Evidence("runtime", "the runtime session is gone"))
        if not pane.running:
            detail = f"{self.process} exited with status {pane.exit_status}"
            return Activity("exited", Evidence("runtime", detail))
        return None


class ProbedVersion(Versioned):
    """The ``Versioned`` capability from ``<binary> --version`` (cached per process)."""

    binary: str
    version_args: t.ClassVar[tuple[str, ...]] = ("--version",)

    def version(self) -> str | None:
        """The first ``x.y.z`` that ``<binary> --version`` prints; None when unknown."""
        return probe_version(self.binary, self.version_args)

"""The shape of ``agent-orchestrator.yaml``: pydantic v2 models, unknown keys rejected.

YAML keys are camelCase (``defaultBranch``); Python attributes are snake_case. The JSON
Schema served by ``ao config schema`` is generated from these models.
"""

from __future__ import annotations

import difflib
import re
import typing as t
from pathlib import Path

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ao.config.conditions import parse
from ao.config.events import (
    EVENT_TYPES,
    ROUTING_KEYS,
    Priority,
    event_reaction_problem,
    unknown_routing_key,
)
from ao.config.fields import (
    _ARGV,
    _DURATION,
    _SIZE,
    _STRING,
    Command,
    Model,
    _also,
    _also_items,
    _as_argv,
    parse_duration,
    parse_size,
)
from ao.config.names import default_prefix as default_prefix
from ao.config.reactions import BUILTINS
from ao.config.sections import CHECK_PARSERS as CHECK_PARSERS
from ao.config.sections import CheckConfig, Dashboard, Fix, Ports, Power, Tasks
from ao.sdk.errors import ConfigError


def tmux_installed() -> bool:
    """Whether tmux is on PATH (the default runtime needs it)."""
    import shutil  # lazy: only a config without a runtime asks

    return shutil.which("tmux") is not None


SCHEMA_VERSION = 1
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
PREFIX_RE = r"^[a-z0-9][a-z0-9_-]{0,31}$"
Permissions = t.Literal["default", "accept-edits", "auto", "bypass"]


class PostCreateCommand(Model):
    """A command run in a fresh worktree, with its own timeout."""

    run: Command = Field(
        description="The command: an argv list, or a string split like a shell would "
        "(never run by one).",
        json_schema_extra=_also(_STRING),
    )
    timeout: float = Field(default=300.0, gt=0, description="Seconds before the command is killed.")

    @field_validator("run", mode="before")
    @classmethod
    def _split(cls, v: t.Any) -> t.Any:
        return _as_argv(v)

    @field_validator("run")
    @classmethod
    def _non_empty(cls, v: Command) -> Command:
        if not v:
            raise ValueError("a command needs at least a program name")
        return v


class Defaults(Model):
    """Plugins used when a project does not choose its own."""

    runtime: str = Field(
        default="tmux",
        description="Runtime plugin that hosts sessions (unset and no tmux installed: process).",
    )
    agent: str = Field(
        default="auto", description="Agent plugin; 'auto' picks an installed agent CLI."
    )
    agent_strategy: t.Literal["heuristic", "fixed"] = Field(
        default="heuristic",
        description="How 'auto' picks: heuristic prefers a logged-in subscription (Claude "
        "Code, then Codex), then an API key; fixed takes the first installed in that order.",
    )
    workspace: str = Field(
        default="worktree", description="Workspace plugin that gives each session its checkout."
    )
    tracker: str = Field(default="github", description="Issue tracker plugin.")
    scm: str = Field(default="github", description="Code host plugin (pull requests, CI).")
    terminal: str = Field(default="tmux", description="Terminal plugin that opens sessions.")
    notifiers: list[str] = Field(
        default_factory=list,
        description="Notifiers (keys of 'notifiers') used when notificationRouting has no entry.",
    )

    @model_validator(mode="after")
    def _runtime_without_tmux(self) -> Defaults:
        """Unset, the runtime is tmux where tmux is installed, else the process runtime
        (no tmux needed); ``ao doctor`` says so."""
        if "runtime" not in self.model_fields_set and not tmux_installed():
            object.__setattr__(self, "runtime", "process")  # still "unset": not validated again
        return self


class ProjectConfig(Model):
    """One repository that ao runs sessions in."""

    name: str | None = Field(default=None, description="Display name (default: the project id).")
    repo: str | None = Field(default=None, description="owner/name on the code host, when known.")
    path: Path = Field(
        description="The repository's directory; relative to this file's directory, '~' expanded."
    )
    url: str | None = Field(
        default=None,
        description="Where the repository is cloned from when `path` holds no checkout yet: "
        "the first command that needs it clones it there.",
    )
    default_branch: str = Field(
        default="main", description="Branch new worktrees start from and pull requests target."
    )
    session_prefix: str | None = Field(
        default=None,
        pattern=PREFIX_RE,
        description="Prefix of session ids (default: initials of the project id); must be "
        "unique across projects.",
    )
    workdir: str | None = Field(
        default=None, description="Subdirectory of the worktree that agents start in."
    )
    agent: str | None = Field(default=None, description="Agent plugin (default: defaults.agent).")
    runtime: str | None = Field(
        default=None, description="Runtime plugin (default: defaults.runtime)."
    )
    workspace: str | None = Field(
        default=None, description="Workspace plugin (default: defaults.workspace)."
    )
    tracker: str | None = Field(
        default=None, description="Issue tracker plugin (default: defaults.tracker)."
    )
    scm: str | None = Field(default=None, description="Code host plugin (default: defaults.scm).")
    tracker_project: str | None = Field(
        default=None,
        description="The project's name in the tracker when it is not `repo`: a Linear "
        "team key, a GitLab project path.",
    )
    model: str | None = Field(default=None, description="Model the agent is asked to use.")
    permissions: Permissions = Field(
        default="default", description="How much the agent may do without asking."
    )
    agent_rules: str | None = Field(
        default=None, description="Extra instructions given to every agent of this project."
    )
    agent_rules_file: str | None = Field(
        default=None, description="File in the repository whose text is given as agent rules."
    )
    post_create: list[PostCreateCommand] = Field(
        default_factory=list,
        description="Commands run in each new worktree before the agent starts; an item may "
        "be a string, an argv list or {run, timeout}.",
        json_schema_extra=_also_items(_STRING, _ARGV),
    )
    verify: list[Command] = Field(
        default_factory=list,
        description="Commands that must pass in a task's worktree before the task is "
        "completed (`ao task create`); each an argv list or a string split like a shell "
        "would (never run by one).",
        json_schema_extra=_also_items(_STRING),
    )
    checks: dict[str, CheckConfig] = Field(
        default_factory=dict,
        description="Named checks `ao fix` runs and fixes, e.g. {tests: {run: 'pytest -q', "
        "parser: pytest}, lint: {run: 'ruff check .', parser: ruff}}.",
    )
    symlinks: list[str] = Field(
        default_factory=list,
        description="Paths symlinked from the main checkout into each worktree.",
    )
    copy_: list[str] = Field(
        default_factory=list,
        alias="copy",
        description="Paths copied from the main checkout into each worktree (e.g. .env).",
    )
    max_sessions: int | None = Field(
        default=None, ge=1, description="Most sessions of this project running at once."
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables set in every session of this project, over the "
        "caller's environment (which sessions get as a whole); write secrets as ${NAME}.",
    )

    @field_validator("post_create", mode="before")
    @classmethod
    def _commands(cls, v: t.Any) -> t.Any:
        if isinstance(v, list):
            return [{"run": c} if isinstance(c, str | list) else c for c in v]
        return v

    @field_validator("verify", mode="before")
    @classmethod
    def _verify_commands(cls, v: t.Any) -> t.Any:
        return [_as_argv(c) for c in v] if isinstance(v, list) else v

    @field_validator("verify")
    @classmethod
    def _verify_non_empty(cls, v: list[Command]) -> list[Command]:
        if any(not c for c in v):
            raise ValueError("a verify command needs at least a program name")
        return v

    @field_validator("symlinks", "copy_")
    @classmethod
    def _relative(cls, v: list[str]) -> list[str]:
        for item in v:
            p = Path(item)
            if p.is_absolute() or ".." in p.parts:
                raise ValueError(
                    f"{item!r} must be a path inside the repository (no '..', not absolute)"
                )
        return v

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, v: str | None) -> str | None:
        if v is not None and (Path(v).is_absolute() or ".." in Path(v).parts):
            raise ValueError("workdir must be a relative path inside the repository")
        return v

    @field_validator("agent_rules_file")
    @classmethod
    def _rules_file(cls, v: str | None) -> str | None:
        # like copy/symlinks/workdir; spawn also checks where symlinks lead
        if v and (Path(v).is_absolute() or ".." in Path(v).parts):
            raise ValueError(
                f"agentRulesFile {v!r} must be a file inside the repository "
                "(a relative path, no '..')"
            )
        return v

    @model_validator(mode="after")
    def _rules(self) -> ProjectConfig:
        if self.agent_rules and self.agent_rules_file:
            raise ValueError("set agentRules or agentRulesFile, not both")
        return self


class KeyedValueError(ValueError):
    """A mapping's value error that is about one of its keys (so errors can point at it).

    ``more`` goes further down: ``KeyedValueError("urgent", msg, 0)`` is about item 0 of
    the list under ``urgent``.
    """

    def __init__(self, key: str, message: str, *more: str | int) -> None:
        super().__init__(message)
        self.key = key
        self.keys: tuple[str | int, ...] = (key, *more)


def _project_id(pid: str) -> str:
    if not re.fullmatch(NAME_RE, pid):
        raise ValueError(
            f"project id {pid!r} must start with a letter or digit and use only "
            "letters, digits, '-' and '_' (at most 64 characters)"
        )
    return pid


ProjectId = t.Annotated[str, AfterValidator(_project_id)]


class AgentOptions(Model):
    """Per-agent settings under ``agents.<name>``."""

    command: Command | None = Field(
        default=None,
        description="Command line that starts the agent: argv list or string.",
        json_schema_extra=_also(_STRING),
    )
    model: str | None = Field(default=None, description="Model the agent is asked to use.")
    permissions: Permissions | None = Field(
        default=None, description="How much the agent may do without asking."
    )
    ready_pattern: str | None = Field(
        default=None, description="Regex that, once on screen, means the agent takes input."
    )
    settle_delay: float | None = Field(
        default=None, ge=0, description="Seconds of quiet output before input is sent."
    )
    question_pattern: str | None = Field(
        default=None,
        description="shell agent: regex that, on the last screen line, means the program "
        "asks a question (the session needs input).",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables for this agent's sessions, over the caller's and "
        "the project's; write secrets as ${NAME}.",
    )

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, v: t.Any) -> t.Any:
        return _as_argv(v)


class TmuxOptions(Model):
    """How ao talks to tmux."""

    socket: str | None = Field(
        default=None, description="tmux socket name (tmux -L); AO_TMUX_SOCKET overrides it."
    )


class Reaction(Model):
    """What the lifecycle does when a condition holds (used by ``ao watch``)."""

    auto: bool = Field(
        default=True,
        description="Act without asking; false notifies a human with the evidence instead.",
    )
    action: t.Literal["send-to-agent", "notify", "merge"] | None = Field(
        default=None,
        description="What to do when the reaction fires (default: the built-in reaction's "
        "action; notify for custom rules).",
    )
    retries: int | None = Field(
        default=None,
        ge=0,
        description="send-to-agent: how many times the agent is sent the message before a "
        "human is told; 0 means do not act, notify a human straight away.",
    )
    escalate_after: float | int | None = Field(
        default=None,
        description="Escalate to a notification after this many attempts (an integer) or "
        "this long (a duration such as '30m').",
        json_schema_extra=_also(_DURATION),
    )
    message: str | None = Field(
        default=None, description="Text sent to the agent or put in the notification."
    )
    priority: Priority | None = Field(default=None, description="Priority of the notification.")
    strategy: t.Literal["merge", "squash", "rebase"] | None = Field(
        default=None, description="How to merge when action is merge."
    )
    delete_after: float | None = Field(
        default=None,
        description="approved-and-green: how long after the merge the session is stopped and "
        "its worktree removed if nothing in it is unpushed (a duration; default 5m).",
        json_schema_extra=_also(_DURATION),
    )
    condition: str | None = Field(
        default=None,
        description="Custom rules: a condition such as `label == 'needs-tests'` "
        "(names: status, activity, ci, review, label(s), branch, draft, conflicts).",
    )
    threshold: float | None = Field(
        default=None,
        description="agent-stuck: how long without progress counts as stuck (a duration).",
        json_schema_extra=_also(_DURATION),
    )
    cooldown: float | None = Field(
        default=None,
        description="send-to-agent: least time between repeated sends while the condition "
        "holds (a duration; default 60s).",
        json_schema_extra=_also(_DURATION),
    )

    @field_validator("condition")
    @classmethod
    def _condition(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse(v, "condition")
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("condition: ")) from None
        return v

    @field_validator("delete_after", "threshold", "cooldown", mode="before")
    @classmethod
    def _duration(cls, v: t.Any) -> t.Any:
        return None if v is None else parse_duration(v)

    @field_validator("escalate_after", mode="before")
    @classmethod
    def _escalate(cls, v: t.Any) -> t.Any:
        # a bare integer is a number of attempts; a string is a duration
        if v is None or (isinstance(v, int) and not isinstance(v, bool)):
            return v
        return parse_duration(v)


class NotifierConfig(BaseModel):
    """``notifiers.<name>``: a plugin name plus that plugin's own options."""

    model_config = ConfigDict(extra="allow")

    plugin: str = Field(description="Notifier plugin; the other keys are its options.")


class AoConfig(Model):
    """The whole ``agent-orchestrator.yaml``."""

    schema_: str | None = Field(
        default=None,
        alias="$schema",
        description="Path or URL of this file's JSON Schema, for editors; ao ignores it.",
    )
    port: int = Field(
        default=3000, ge=1, le=65535, description="Port of the local dashboard and REST API."
    )
    dashboard: Dashboard = Field(
        default_factory=Dashboard, description="The local dashboard and REST API."
    )
    defaults: Defaults = Field(
        default_factory=Defaults, description="Plugins for projects that do not choose their own."
    )
    projects: dict[ProjectId, ProjectConfig] = Field(
        default_factory=dict,
        description="The repositories ao runs sessions in, keyed by project id.",
        json_schema_extra={"propertyNames": {"pattern": NAME_RE}},
    )
    agents: dict[str, AgentOptions] = Field(
        default_factory=dict, description="Settings per agent plugin, keyed by plugin name."
    )
    tmux: TmuxOptions = Field(default_factory=TmuxOptions, description="Which tmux server ao uses.")
    plugins: dict[str, dict[str, t.Any]] = Field(
        default_factory=dict,
        description="Options of tracker and SCM plugins, keyed by plugin name, e.g. "
        "`gitlab: {url: https://gitlab.example.com}`; each plugin documents its own keys.",
    )
    max_sessions: int | None = Field(
        default=None, ge=1, description="Most sessions running at once across all projects."
    )
    min_free_memory: int | None = Field(
        default=None,
        description="New sessions wait as `queued` while the machine has less memory "
        "available than this (a size such as '4GB'; Linux); the watcher admits one per pass.",
        json_schema_extra=_also(_SIZE),
    )
    restore_on_boot: bool = Field(
        default=False,
        description="When the watcher finds a session's tmux session gone (a reboot), "
        "restore it automatically instead of marking it exited.",
    )
    reactions: dict[str, Reaction] = Field(
        default_factory=dict,
        description="What `ao watch` does when a condition holds, keyed by condition name: "
        "a built-in reaction, a custom rule's name (with a condition), or an event type "
        "such as `merge.completed` (runs once each time that event happens; "
        "docs/notifications.md).",
    )
    notifiers: dict[str, NotifierConfig] = Field(
        default_factory=dict, description="Notification channels, keyed by a name you choose."
    )
    notification_routing: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Which notifiers receive each priority (urgent, action, warning, info) "
        "or event type (`ci.failing`, or a category glob such as `pr.*`): an event type's "
        "entry wins over its priority's, and naming one also sends that event "
        "(docs/notifications.md).",
        json_schema_extra={"propertyNames": {"enum": list(ROUTING_KEYS)}},
    )
    power: Power = Field(default_factory=Power, description="Power management while ao runs.")
    tasks: Tasks = Field(
        default_factory=lambda: Tasks(), description="How tasks are verified (`ao task`)."
    )
    fix: Fix = Field(default_factory=lambda: Fix(), description="How `ao fix` merges fixes back.")
    ports: Ports = Field(
        default_factory=Ports,
        description="Each session's own block of TCP ports, exported to its agent as AO_PORT "
        "(first), AO_PORT_LAST and AO_PORTS (`first-last`).",
    )

    @field_validator("min_free_memory", mode="before")
    @classmethod
    def _size(cls, v: t.Any) -> t.Any:
        return None if v is None else parse_size(v)

    @field_validator("reactions")
    @classmethod
    def _reaction_keys(cls, v: dict[str, Reaction]) -> dict[str, Reaction]:
        # a misspelt built-in (`ci-faild`) would otherwise be a rule that never fires

        for key, reaction in v.items():
            if key in EVENT_TYPES:  # runs once per event: no budget, no condition
                names = [Reaction.model_fields[n].alias or n for n in reaction.model_fields_set]
                if problem := event_reaction_problem(key, names, reaction.action):
                    raise KeyedValueError(key, problem[1], *problem[:1])
                continue
            if key in BUILTINS or reaction.condition:
                continue
            close = difflib.get_close_matches(key, [*BUILTINS, *EVENT_TYPES], n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise KeyedValueError(
                key,
                f"unknown reaction {key!r}: {guess}A custom reaction needs a condition; "
                f"built-in reactions: {', '.join(BUILTINS)}; or an event type such as "
                "merge.completed",
            )
        return v

    @field_validator("notification_routing")
    @classmethod
    def _routed_notifiers(
        cls, v: dict[str, list[str]], info: ValidationInfo
    ) -> dict[str, list[str]]:
        for key in v:
            problem = unknown_routing_key(key)
            if problem is not None:
                raise KeyedValueError(key, problem)
        known = info.data.get("notifiers")
        if known is None:
            return v  # `notifiers` itself is invalid; that error is reported already
        for key, names in v.items():
            for i, name in enumerate(names):
                _check_notifier(name, known, (key, i))
        return v

    @model_validator(mode="after")
    def _default_notifiers(self) -> AoConfig:
        for i, name in enumerate(self.defaults.notifiers):
            _check_notifier(name, self.notifiers, ("defaults", "notifiers", i))
        return self

    @field_validator("projects")
    @classmethod
    def _unique_prefixes(cls, v: dict[str, ProjectConfig]) -> dict[str, ProjectConfig]:
        # checked on the projects mapping (not the model) so errors point at `projects:`
        seen: dict[str, str] = {}
        for pid, proj in v.items():
            prefix = proj.session_prefix or default_prefix(pid)
            if prefix in seen:
                raise KeyedValueError(
                    pid,
                    f"projects {seen[prefix]!r} and {pid!r} share sessionPrefix {prefix!r}; "
                    "give one of them its own sessionPrefix",
                )
            seen[prefix] = pid
        return v


def _check_notifier(
    name: str, configured: t.Mapping[str, t.Any], where: tuple[str | int, ...]
) -> None:
    """A routed notifier must be a ``notifiers`` key or an installed notifier plugin."""
    # lazy: the entry-point scan only when notifications are routed by name
    from ao.registry import available

    plugins = available("notifier")
    if name in configured or name in plugins:
        return
    close = difflib.get_close_matches(name, [*configured, *plugins], n=1)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    raise KeyedValueError(
        str(where[0]),
        f"unknown notifier {name!r}{guess} (notifiers: {', '.join(configured) or 'none'}; "
        f"notifier plugins: {', '.join(sorted(plugins)) or 'none'})",
        *where[1:],
    )

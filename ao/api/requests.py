"""API calls as data: one frozen dataclass per operation, for front-ends that receive
calls from outside (an HTTP or MCP server) instead of as Python arguments.

``parse(name, document)`` turns a JSON object into the request for ``name`` (unknown
keys, missing required keys and values of the wrong type are a UsageError: nothing is
guessed), and ``Orchestrator.call(request)`` runs it. Each request's fields are exactly
the keyword arguments of the ``Orchestrator`` method it names (a test keeps them equal).
"""

from __future__ import annotations

import dataclasses
import typing as t

from ao.sdk.errors import UsageError

# the annotations a request field may have, and the JSON values each accepts
_CHECKS: dict[str, t.Callable[[object], bool]] = {
    "str": lambda v: isinstance(v, str),
    "str | None": lambda v: v is None or isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "int | None": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "tuple[str, ...]": lambda v: isinstance(v, list | tuple) and all(isinstance(x, str) for x in v),
}


@dataclasses.dataclass(frozen=True)
class Request:
    """One API call: ``method`` names the ``Orchestrator`` method, the fields its arguments."""

    method: t.ClassVar[str]

    @classmethod
    def from_json(cls, document: t.Mapping[str, object]) -> t.Self:
        """The request from a JSON object; UsageError for unknown, missing or ill-typed keys."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(document) - set(fields))
        if unknown:
            raise UsageError(
                f"{cls.method}: unknown key {unknown[0]!r}", hint=f"keys: {', '.join(fields)}"
            )
        values: dict[str, object] = {}
        for name, field in fields.items():
            if name not in document:
                required = field.default is dataclasses.MISSING
                if required and field.default_factory is dataclasses.MISSING:
                    raise UsageError(f"{cls.method}: {name!r} is required")
                continue
            value = document[name]
            kind = str(field.type)
            if not _CHECKS[kind](value):
                raise UsageError(f"{cls.method}: {name!r} must be {kind}, not {value!r}")
            values[name] = tuple(t.cast("list[str]", value)) if kind.startswith("tuple") else value
        return cls(**values)

    def arguments(self) -> dict[str, t.Any]:
        """The method's keyword arguments."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _request(method: str) -> t.Callable[[type[Request]], type[Request]]:
    def register(cls: type[Request]) -> type[Request]:
        cls.method = method
        REQUESTS[method] = cls
        return cls

    return register


REQUESTS: dict[str, type[Request]] = {}


# ----------------------------------------------------------------------------- projects


@_request("start_project")
@dataclasses.dataclass(frozen=True)
class StartProject(Request):
    """``start_project``: set up a repository (``ao start``)."""

    target: str | None = None
    name: str | None = None
    watch: bool = True
    dashboard: bool = True


@_request("dashboard")
@dataclasses.dataclass(frozen=True)
class Dashboard(Request):
    """``dashboard``: where the config's dashboard runs, if it does."""


@_request("add_project")
@dataclasses.dataclass(frozen=True)
class AddProject(Request):
    """``add_project``: add a repository to the config."""

    target: str
    name: str | None = None


@_request("remove_project")
@dataclasses.dataclass(frozen=True)
class RemoveProject(Request):
    """``remove_project``: take a project out of the config."""

    name: str
    force: bool = False


@_request("projects")
@dataclasses.dataclass(frozen=True)
class ListProjects(Request):
    """``projects``: every configured project."""


# ----------------------------------------------------------------------------- sessions


@_request("create")
@dataclasses.dataclass(frozen=True)
class Create(Request):
    """``create``: start a session from a task or an issue (``ao new``)."""

    task: str | None = None
    project: str | None = None
    issue: str | None = None
    agent: str | None = None
    branch: str | None = None
    name: str | None = None
    base: str | None = None
    parent: str | None = None
    host: str | None = None
    ready_timeout: float = 30.0


@_request("spawn_issues")
@dataclasses.dataclass(frozen=True)
class SpawnIssues(Request):
    """``spawn_issues``: one session per issue (``ao spawn``)."""

    issues: tuple[str, ...]
    project: str | None = None
    agent: str | None = None
    parallel: int = 4


@_request("sessions")
@dataclasses.dataclass(frozen=True)
class ListSessions(Request):
    """``sessions``: live (and with ``archived``, stopped) sessions (``ao list``)."""

    project: str | None = None
    archived: bool = False


@_request("cards")
@dataclasses.dataclass(frozen=True)
class Cards(Request):
    """``cards``: live sessions as the dashboard shows them."""

    project: str | None = None
    usage: bool = False


@_request("status")
@dataclasses.dataclass(frozen=True)
class Status(Request):
    """``status``: one session in detail (``ao status SESSION``)."""

    session_id: str
    project: str | None = None
    details: bool = True


@_request("send")
@dataclasses.dataclass(frozen=True)
class Send(Request):
    """``send``: deliver a message (``ao send``)."""

    session_id: str
    text: str
    project: str | None = None
    wait: float = 10.0
    interrupt: bool = False


@_request("send_keys")
@dataclasses.dataclass(frozen=True)
class SendKeys(Request):
    """``send_keys``: press keys in the agent."""

    session_id: str
    keys: tuple[str, ...]
    project: str | None = None


@_request("interrupt")
@dataclasses.dataclass(frozen=True)
class Interrupt(Request):
    """``interrupt``: stop the agent's turn in progress."""

    session_id: str
    project: str | None = None


@_request("logs")
@dataclasses.dataclass(frozen=True)
class Logs(Request):
    """``logs``: what the agent shows (``ao logs``)."""

    session_id: str
    project: str | None = None
    lines: int = 50


@_request("attach_command")
@dataclasses.dataclass(frozen=True)
class AttachCommand(Request):
    """``attach_command``: the command that opens the session for a human."""

    session_id: str
    project: str | None = None


@_request("view_command")
@dataclasses.dataclass(frozen=True)
class ViewCommand(Request):
    """``view_command``: the runtime's command that shows the session in a terminal."""

    session_id: str
    project: str | None = None


@_request("stop")
@dataclasses.dataclass(frozen=True)
class Stop(Request):
    """``stop``: end a session (``ao stop``)."""

    session_id: str
    project: str | None = None
    force: bool = False


@_request("stop_all")
@dataclasses.dataclass(frozen=True)
class StopAll(Request):
    """``stop_all``: end every session of a project (``ao stop --project P --all``)."""

    project: str
    force: bool = False


@_request("restore")
@dataclasses.dataclass(frozen=True)
class Restore(Request):
    """``restore``: revive a stopped or exited session (``ao restore``)."""

    session_id: str
    project: str | None = None
    resend: bool = False


@_request("gc")
@dataclasses.dataclass(frozen=True)
class Gc(Request):
    """``gc``: repair what crashes left behind (``ao gc``)."""

    project: str | None = None
    dry_run: bool = False


# ----------------------------------------------------------------------------- workspaces


@_request("finalize")
@dataclasses.dataclass(frozen=True)
class Finalize(Request):
    """``finalize``: commit, push, open the pull request (``ao finalize``)."""

    session_id: str
    project: str | None = None
    pr: bool = False
    title: str | None = None
    body: str | None = None
    draft: bool = False


@_request("merge")
@dataclasses.dataclass(frozen=True)
class Merge(Request):
    """``merge``: merge the session's pull request (``ao merge``)."""

    session_id: str
    project: str | None = None
    strategy: str = "squash"


# ----------------------------------------------------------------------------- lifecycle


@_request("run_pass")
@dataclasses.dataclass(frozen=True)
class RunPass(Request):
    """``run_pass``: one lifecycle pass (``ao watch --once``)."""

    project: str | None = None
    timeout: float = 120.0


@_request("simulate")
@dataclasses.dataclass(frozen=True)
class Simulate(Request):
    """``simulate``: what would fire for a session now (``ao reactions simulate``)."""

    session_id: str
    project: str | None = None


@_request("events")
@dataclasses.dataclass(frozen=True)
class Events(Request):
    """``events``: the event log since a cursor (``ao events``)."""

    since: str | None = None
    project: str | None = None
    session: str | None = None
    limit: int | None = None


@_request("notify_test")
@dataclasses.dataclass(frozen=True)
class NotifyTest(Request):
    """``notify_test``: a test notification (``ao notify test``)."""

    name: str | None = None
    priority: str = "info"
    timeout: float = 10.0


# ----------------------------------------------------------------------------- agents


@_request("agents")
@dataclasses.dataclass(frozen=True)
class ListAgents(Request):
    """``agents``: the agent adapters on this machine (``ao agents``)."""


@_request("choose_agent")
@dataclasses.dataclass(frozen=True)
class ChooseAgent(Request):
    """``choose_agent``: the agent a new session gets."""

    project: str | None = None
    agent: str | None = None


@_request("plugins")
@dataclasses.dataclass(frozen=True)
class ListPlugins(Request):
    """``plugins``: every registered plugin (``ao plugins``)."""


def parse(method: str, document: t.Mapping[str, object]) -> Request:
    """The request for ``method`` from a JSON object (UsageError for an unknown method)."""
    cls = REQUESTS.get(method)
    if cls is None:
        raise UsageError(f"unknown API method {method!r}", hint=f"one of: {', '.join(REQUESTS)}")
    return cls.from_json(document)

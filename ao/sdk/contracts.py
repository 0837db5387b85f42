"""Plugin contracts: one ``typing.Protocol`` per slot and the plain data they exchange.

This module imports only the standard library so that plugin authors can depend on
it without pulling in ao's machinery. Every plugin class exposes ``api_version`` (the
contract version it implements, currently ``API_VERSION``) and is constructed with one
argument: a mapping of its options from the config (may be empty).

What the core may ask beyond a slot's Protocol is an optional capability, a Protocol of
its own (``Resumable``, ``SetsAside``...; ``CAPABILITIES`` lists them per slot). The core
checks a plugin with ``isinstance`` against these Protocols, never by probing for a
member's name. docs/plugins.md tells how to write a plugin.
"""

from __future__ import annotations

import pathlib
import typing as t

from ao.sdk.data import (
    Activity,
    ActivityState,
    AuthState,
    Check,
    DialogAnswer,
    Evidence,
    HostCheck,
    Issue,
    LaunchContext,
    LaunchSpec,
    McpServer,
    Notification,
    Observation,
    PaneState,
    PrState,
    ReviewComment,
    RuntimeHandle,
    RuntimeSpec,
    SessionInfo,
    WorkspaceInfo,
    WorkspaceRequest,
    WorkspaceStatus,
)

__all__ = [
    "API_VERSION",
    "CAPABILITIES",
    "SLOTS",
    "SLOT_PROTOCOLS",
    "Activity",
    "ActivityState",
    "Agent",
    "AgentDetails",
    "AuthReporting",
    "AuthState",
    "Check",
    "Copying",
    "DialogAnswer",
    "DialogAnswering",
    "Evidence",
    "HostCheck",
    "Interruptible",
    "Isolating",
    "Issue",
    "IssueListing",
    "IssuePrompting",
    "IssueUpdating",
    "LaunchContext",
    "LaunchSpec",
    "McpClient",
    "McpServer",
    "MenuAnswering",
    "Notification",
    "Notifier",
    "Observation",
    "PaneState",
    "Placing",
    "PrOpening",
    "PrState",
    "Resumable",
    "ReviewComment",
    "Runtime",
    "RuntimeHandle",
    "RuntimeSpec",
    "Scm",
    "ScmDetails",
    "SelfTestable",
    "SessionInfo",
    "SessionInfoReader",
    "SetsAside",
    "Slot",
    "Terminal",
    "Tracker",
    "TrackerDetails",
    "Versioned",
    "Workspace",
    "WorkspaceInfo",
    "WorkspaceRequest",
    "WorkspaceStatus",
]

API_VERSION = 1

SLOTS = ("runtime", "agent", "workspace", "tracker", "scm", "notifier", "terminal")
Slot = t.Literal["runtime", "agent", "workspace", "tracker", "scm", "notifier", "terminal"]


# ----------------------------------------------------------------------------- runtime


@t.runtime_checkable
class Runtime(t.Protocol):
    """Runs a session's agent process and moves bytes in and out of it.

    The core never builds names, targets or server addresses itself: it derives a
    session's ``RuntimeSpec.name`` from its id, records the handle ``create`` returns,
    and asks ``handle`` for one it never recorded.
    """

    api_version: int

    def create(self, spec: RuntimeSpec) -> RuntimeHandle:
        """Start ``spec.argv`` as the session's process and return its handle."""

    def destroy(self, handle: RuntimeHandle, *, grace: float = 3.0) -> None:
        """End the process (its whole process group) and remove the session."""

    def probe(self) -> dict[str, PaneState]:
        """Liveness of every session on this runtime, keyed by runtime name, in one call."""

    def list_names(self, owner: str | None = None) -> list[str]:
        """Names of every session on this runtime (ao's and others'); with ``owner``, only
        those created from a ``RuntimeSpec`` with that owner."""

    def paste(self, handle: RuntimeHandle, text: str) -> None:
        """Deliver ``text`` as one (bracketed) paste, byte-exact, without pressing Enter."""

    def send_keys(self, handle: RuntimeHandle, *keys: str) -> None:
        """Press named keys in order: ``Enter``, ``Escape``, ``Tab``, ``BTab``, ``BSpace``,
        ``Up``/``Down``/``Left``/``Right``, ``C-<key>`` for a control key, or one character
        (the names agents use in ``DialogAnswer.keys`` and their interrupt and menu keys)."""

    def capture(self, handle: RuntimeHandle, lines: int = 200) -> str:
        """The last ``lines`` lines of the session's screen and scrollback, as plain text."""

    def capture_many(self, handles: list[RuntimeHandle], lines: int = 60) -> dict[str, str]:
        """Screens of many sessions keyed by runtime name, in as few calls as possible."""

    def attach_argv(self, handle: RuntimeHandle, *, inside: bool | None = None) -> list[str]:
        """The command a human runs to view the session. ``inside``: whether the human is
        already in one of this runtime's own views (then the view switches instead); None:
        the runtime tells from this process's environment."""

    def handle(self, name: str) -> RuntimeHandle:
        """The handle of the session called ``name`` on this runtime, for one whose handle
        was never recorded (a spawn killed before it wrote it, the watcher's session)."""

    def host_checks(self) -> list[HostCheck]:
        """What this runtime needs on this machine (programs, versions), for ``ao doctor``."""

    def sandbox_env(self, tag: str) -> dict[str, str]:
        """Environment variables that make ao processes run their sessions on a private
        instance of this runtime named by ``tag`` (``ao doctor --agents``, tests), apart
        from the user's sessions; ``{}`` when nothing is shared anyway."""

    def end_sandbox(self, tag: str) -> None:
        """End every process of that private instance and the instance itself."""


@t.runtime_checkable
class Isolating(t.Protocol):
    """Runtime capability: sessions run apart from this machine's user (a container,
    another host), where ao itself is not installed. ao's own processes (the watcher)
    then run on the local runtime this names instead."""

    def local_runtime(self) -> str:
        """The name of the runtime plugin that runs ao's own processes on this machine."""


@t.runtime_checkable
class Placing(t.Protocol):
    """Runtime capability: sessions can be placed (``ao new --host``; ``RuntimeSpec.where``)."""

    def places(self) -> list[str]:
        """The names a session may be placed on (the ssh runtime's hosts)."""


@t.runtime_checkable
class Copying(t.Protocol):
    """Runtime capability: a session may work on its own copy of the worktree, on a disk
    the core cannot read (a host without a shared filesystem). The core syncs the two
    before it reads the worktree (verification, publishing) and after it commits there;
    ``destroy`` brings the copy's work back before the copy is removed."""

    def sync_copy(self, handle: RuntimeHandle) -> bool:
        """Bring the copy's commits and files into the session's worktree here, and send
        commits made here on top of the copy's branch to it; False when the session works
        on the worktree itself. ConflictError when the branch moved both here and there
        (nothing is lost: the runtime keeps the copy's under a ref)."""


# ----------------------------------------------------------------------------- agent


@t.runtime_checkable
class Agent(t.Protocol):
    """Adapter for one coding-agent CLI.

    Optional capabilities are the Protocols below (``Resumable``, ``Interruptible``...):
    an adapter has one when it has its members, and says so by listing the Protocol among
    its bases; the core asks with ``isinstance``.
    """

    api_version: int
    binary: str  # the executable the adapter launches (checked in preflight)

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """The argv/env that start this agent in ``ctx.worktree``."""

    def activity(self, obs: Observation) -> Activity:
        """Interpret an observation; must not call out to the runtime itself."""

    def settle_delay(self) -> float:
        """Seconds to wait between pasting a message and pressing Enter."""


@t.runtime_checkable
class Resumable(t.Protocol):
    """Agent capability: continue a session's own conversation (``ao restore``)."""

    def resume(self, ctx: LaunchContext, session: t.Mapping[str, str]) -> LaunchSpec | None:
        """The launch that continues the session whose metadata is ``session``; None when
        there is nothing to continue (the core then calls ``launch``)."""


@t.runtime_checkable
class McpClient(t.Protocol):
    """Agent capability: the CLI can be given MCP servers to use (an orchestrator agent
    gets ao's own, ``ao mcp``), without a prompt before each of their tools."""

    def with_mcp(
        self, ctx: LaunchContext, spec: LaunchSpec, servers: t.Sequence[McpServer]
    ) -> LaunchSpec:
        """``spec`` (a launch or a resume) changed so the CLI starts ``servers`` and may
        call their tools; any file it needs goes in ``ctx.state_dir``."""


@t.runtime_checkable
class Interruptible(t.Protocol):
    """Agent capability: keys that stop the current turn without ending the session
    (``ao send --interrupt``), e.g. ``("Escape",)``."""

    interrupt_keys: tuple[str, ...]


@t.runtime_checkable
class MenuAnswering(t.Protocol):
    """Agent capability: answer the CLI's own permission menu from a reply's text."""

    def answer_keys(self, screen: str, text: str) -> tuple[str, ...] | None:
        """Keys that pick the option ``text`` names in the menu on ``screen``; None when no
        menu of this CLI is on screen (the generic numbered-menu rule then applies). May
        raise ``UsageError`` for a text the menu cannot take."""


@t.runtime_checkable
class DialogAnswering(t.Protocol):
    """Agent capability: recognise and answer known first-run dialogs."""

    def dialog(self, screen: str) -> DialogAnswer | None:
        """The known dialog on ``screen`` and the keys that answer it, or None."""


@t.runtime_checkable
class SessionInfoReader(t.Protocol):
    """Agent capability: read the CLI's own records of a session (``ao status``)."""

    def session_info(self, session: t.Mapping[str, str]) -> SessionInfo:
        """Id, summary, tokens and cost of the session whose metadata is ``session``
        (local files only)."""


@t.runtime_checkable
class Versioned(t.Protocol):
    """Agent capability: report the installed CLI's version (``ao agents``, doctor)."""

    def version(self) -> str | None:
        """The installed version, or None when unknown."""


@t.runtime_checkable
class AuthReporting(t.Protocol):
    """Agent capability: say how the CLI would authenticate (``ao agents``, ``auto``)."""

    def auth(self) -> AuthState:
        """From local files and env only: no network, no CLI call."""


@t.runtime_checkable
class SelfTestable(t.Protocol):
    """Agent capability: run against ao's scripted model (``ao doctor --agents``)."""

    def selftest_env(self, model_url: str, home: pathlib.Path) -> dict[str, str]:
        """Seed a scratch ``home`` so the CLI talks to the model server at ``model_url``;
        return the env that makes it do so."""


class AgentDetails(
    Versioned, AuthReporting, DialogAnswering, SessionInfoReader, Resumable, t.Protocol
):
    """Deprecated (one release): five agent capabilities as one Protocol; use each
    capability's own Protocol."""


# ----------------------------------------------------------------------------- workspace


@t.runtime_checkable
class Workspace(t.Protocol):
    """Creates and removes isolated checkouts of a repository."""

    api_version: int

    def create(self, req: WorkspaceRequest) -> WorkspaceInfo:
        """Create the checkout and run post-create steps; undo itself on failure."""

    def status(self, repo: pathlib.Path, info: WorkspaceInfo) -> WorkspaceStatus:
        """Report the work in the checkout: uncommitted, unpushed, ignored, nested repos."""

    def destroy(self, repo: pathlib.Path, info: WorkspaceInfo, *, force: bool = False) -> None:
        """Remove the checkout; refuse (ConflictError) if it holds work unless ``force``."""

    def snapshot(self, repo: pathlib.Path, info: WorkspaceInfo, message: str) -> str | None:
        """Commit uncommitted work on the branch (a WIP commit); return its id, or None.

        Never commits a nested repository (as a gitlink or otherwise).
        """

    def restore(self, req: WorkspaceRequest) -> WorkspaceInfo:
        """Recreate a missing checkout from its existing branch."""

    def list(self, repo: pathlib.Path) -> list[pathlib.Path]:
        """Paths of every checkout of ``repo`` this plugin manages."""


@t.runtime_checkable
class SetsAside(t.Protocol):
    """Workspace capability: move what a commit cannot carry out of a checkout.

    Without it, a checkout holding ignored files or nested repositories is kept when its
    session stops.
    """

    def set_aside(
        self, repo: pathlib.Path, info: WorkspaceInfo, dest: pathlib.Path
    ) -> tuple[str, ...]:
        """Move the ``ignored`` and ``nested`` work of ``status`` to the same relative paths
        under ``dest`` (created only when there is something to move); return those paths.

        Called before ``snapshot`` when a checkout holding work is removed.
        """


# ----------------------------------------------------------------------------- terminal


@t.runtime_checkable
class Terminal(t.Protocol):
    """Opens a human view of a session."""

    api_version: int

    def open_argv(self, attach_argv: list[str]) -> list[str]:
        """The command that shows the session to a human."""


# ----------------------------------------------------------------------------- tracker / scm


@t.runtime_checkable
class Tracker(t.Protocol):
    """Reads and updates issues."""

    api_version: int

    def get_issue(self, project_repo: str, issue_id: str) -> Issue:
        """Fetch one issue."""

    def branch_name(self, issue: Issue) -> str:
        """A git-safe branch name for work on ``issue``."""


@t.runtime_checkable
class IssuePrompting(t.Protocol):
    """Tracker capability: its own task text for an agent working on an issue."""

    def issue_prompt(self, issue: Issue, project_repo: str = "") -> str:
        """The task for an agent, the issue's (untrusted) text fenced as data."""


@t.runtime_checkable
class IssueListing(t.Protocol):
    """Tracker capability: list issues by labels, assignee and state."""

    def list_issues(
        self,
        project_repo: str,
        *,
        labels: t.Sequence[str] = (),
        assignee: str | None = None,
        state: str = "open",
        limit: int = 100,
    ) -> list[Issue]:
        """Up to ``limit`` issues, newest first."""


@t.runtime_checkable
class IssueUpdating(t.Protocol):
    """Tracker capability: comment on, label, close issues and ask if one is done."""

    def comment(self, project_repo: str, issue_id: str, body: str) -> None:
        """Add a comment."""

    def add_labels(self, project_repo: str, issue_id: str, labels: t.Sequence[str]) -> None:
        """Add labels (existing ones stay)."""

    def close(self, project_repo: str, issue_id: str, reason: str = "completed") -> None:
        """Close it as ``completed`` or ``not_planned``."""

    def is_completed(self, project_repo: str, issue_id: str) -> bool:
        """Whether it is closed (or done)."""


class TrackerDetails(IssuePrompting, IssueListing, IssueUpdating, t.Protocol):
    """Deprecated (one release): the tracker capabilities as one Protocol."""


@t.runtime_checkable
class Scm(t.Protocol):
    """Reads and acts on pull requests."""

    api_version: int

    def pr_states(self, repo: str, branches: t.Sequence[str]) -> dict[str, PrState]:
        """The newest PR of each branch that has one, in as few requests as possible."""

    def merge(self, repo: str, pr: PrState, strategy: str) -> None:
        """Merge ``pr`` with ``merge``, ``squash`` or ``rebase``; raise AoError on refusal."""


@t.runtime_checkable
class PrOpening(t.Protocol):
    """SCM capability: open pull requests (``ao finalize --pr``)."""

    def open_pr(
        self, repo: str, *, head: str, base: str, title: str, body: str = "", draft: bool = False
    ) -> PrState:
        """Open a pull request from ``head`` into ``base``, or return the open one that
        already exists for ``head``."""


class ScmDetails(PrOpening, t.Protocol):
    """Deprecated (one release): use ``PrOpening``."""


# ----------------------------------------------------------------------------- notifier


@t.runtime_checkable
class Notifier(t.Protocol):
    """Delivers notifications to a human."""

    api_version: int

    def notify(self, note: Notification) -> None:
        """Deliver ``note``; raise AoError on failure."""


# ----------------------------------------------------------------------------- slots


# the Protocol a plugin of each slot satisfies (the registry checks it on load)
SLOT_PROTOCOLS: dict[str, type] = {
    "runtime": Runtime,
    "agent": Agent,
    "workspace": Workspace,
    "tracker": Tracker,
    "scm": Scm,
    "notifier": Notifier,
    "terminal": Terminal,
}

# the optional capabilities the core asks each slot's plugins for (with ``isinstance``)
CAPABILITIES: dict[str, tuple[type, ...]] = {
    "runtime": (Isolating, Placing, Copying),
    "agent": (
        Resumable, Interruptible, MenuAnswering, DialogAnswering, SessionInfoReader, Versioned,
        AuthReporting, SelfTestable, McpClient,
    ),
    "workspace": (SetsAside,),
    "tracker": (IssuePrompting, IssueListing, IssueUpdating),
    "scm": (PrOpening,),
    "notifier": (),
    "terminal": (),
}  # fmt: skip

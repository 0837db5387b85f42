"""Plugin contracts: one ``typing.Protocol`` per slot and the plain data they exchange.

This module imports only the standard library so that plugin authors can depend on
it without pulling in ao's machinery. Every plugin class exposes ``api_version`` (the
contract version it implements, currently ``API_VERSION``) and is constructed with one
argument: a mapping of its options from the config (may be empty).
"""

from __future__ import annotations

import dataclasses
import pathlib
import typing as t

API_VERSION = 1

SLOTS = ("runtime", "agent", "workspace", "tracker", "scm", "notifier", "terminal")

ActivityState = t.Literal[
    "starting", "working", "ready", "needs_input", "blocked", "exited", "unknown"
]


# ----------------------------------------------------------------------------- runtime


@dataclasses.dataclass(frozen=True)
class RuntimeSpec:
    """What a runtime needs to start a session's process."""

    name: str  # runtime-level name, unique on the runtime (e.g. tmux session name)
    argv: list[str]  # the agent's own command: it becomes the pane's process
    cwd: pathlib.Path
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    width: int = 200
    height: int = 50
    owner: str = ""  # who started it (ao's state root); `list_names(owner=)` finds only these


@dataclasses.dataclass(frozen=True)
class RuntimeHandle:
    """Where a session runs, as recorded in its metadata."""

    runtime: str
    name: str
    target: str  # exact address of the process's input (tmux pane id like ``%3``)


@dataclasses.dataclass(frozen=True)
class PaneState:
    """Liveness of one session's process, read in one batch for all sessions."""

    alive: bool  # the runtime object (tmux session) exists
    running: bool  # the agent process is still running
    exit_status: int | None = None
    pid: int | None = None
    current_command: str = ""
    last_activity: float | None = None  # epoch seconds of the last output, if known


class Runtime(t.Protocol):
    """Runs a session's agent process and moves bytes in and out of it."""

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
        """Press named keys (``Enter``, ``Escape``, ``C-c``...) in order."""

    def capture(self, handle: RuntimeHandle, lines: int = 200) -> str:
        """The last ``lines`` lines of the session's screen and scrollback, as plain text."""

    def capture_many(self, handles: list[RuntimeHandle], lines: int = 60) -> dict[str, str]:
        """Screens of many sessions keyed by runtime name, in as few calls as possible."""

    def attach_argv(self, handle: RuntimeHandle, *, inside: bool) -> list[str]:
        """The command a human runs to view the session (switch-client when ``inside``)."""


# ----------------------------------------------------------------------------- agent


@dataclasses.dataclass(frozen=True)
class LaunchContext:
    """Everything an agent adapter may use to build its launch command."""

    session_id: str
    worktree: pathlib.Path
    task: str
    model: str | None = None
    permissions: str = "default"
    rules: str | None = None
    options: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)
    # a private per-session directory outside the repo for the CLI's config/home files
    state_dir: pathlib.Path | None = None


@dataclasses.dataclass(frozen=True)
class LaunchSpec:
    """How to start an agent and how it takes its first prompt."""

    argv: list[str]
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    prompt_delivery: t.Literal["argv", "post-launch", "none"] = "post-launch"
    # recorded in session metadata, e.g. {"native_session_id": ..., "agent_home": ...}
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Why an activity state was decided: where it came from and what matched."""

    source: str  # "runtime", "screen", "native:<file>", ...
    detail: str
    age: float | None = None  # seconds since the signal was produced, when known


@dataclasses.dataclass(frozen=True)
class Activity:
    """An agent's state with the evidence that decided it."""

    state: ActivityState
    evidence: Evidence


@dataclasses.dataclass(frozen=True)
class Observation:
    """What the core observed of a session, handed to the agent to interpret.

    ``session`` is the session's metadata (``worktree``, ``native_session_id``,
    ``agent_home``, ``created_at``...), so adapters can find their native signals.
    """

    pane: PaneState
    screen: str | None = None  # captured text; None when not captured this time
    session: t.Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class AuthState:
    """How an agent CLI would authenticate, read from local files and env only."""

    kind: t.Literal["api-key", "subscription", "none"]
    detail: str


@dataclasses.dataclass(frozen=True)
class DialogAnswer:
    """A known dialog on screen and the keys that answer it."""

    name: str  # e.g. "trust-folder", "theme", "api-key-confirm"
    keys: tuple[str, ...]  # tmux key names, sent in order


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """What an agent's own records say about a session."""

    native_session_id: str | None = None
    summary: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


class Agent(t.Protocol):
    """Adapter for one coding-agent CLI."""

    api_version: int
    binary: str  # the executable the adapter launches (checked in preflight)

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        """The argv/env that start this agent in ``ctx.worktree``."""

    def activity(self, obs: Observation) -> Activity:
        """Interpret an observation; must not call out to the runtime itself."""

    def settle_delay(self) -> float:
        """Seconds to wait between pasting a message and pressing Enter."""


class AgentDetails(t.Protocol):
    """Optional richer adapter surface (agent CLIs); the core checks with ``hasattr``.

    ``version`` returns the installed version or None; ``auth`` probes local files and
    env only; ``dialog`` recognises a known first-run dialog on screen; ``session_info``
    reads the CLI's own records; ``resume`` gives the launch that continues a session.
    An ``interrupt_keys`` attribute (e.g. ``("Escape",)``) names the keys that stop the
    current turn without ending the session (``ao send --interrupt``).
    """

    def version(self) -> str | None: ...

    def auth(self) -> AuthState: ...

    def dialog(self, screen: str) -> DialogAnswer | None: ...

    def session_info(self, session: t.Mapping[str, str]) -> SessionInfo: ...

    def resume(self, ctx: LaunchContext, session: t.Mapping[str, str]) -> LaunchSpec | None: ...


# ----------------------------------------------------------------------------- workspace


@dataclasses.dataclass(frozen=True)
class WorkspaceRequest:
    """A request for an isolated checkout of a project's repository."""

    repo: pathlib.Path
    session_id: str
    path: pathlib.Path  # where the checkout goes
    branch: str
    base: str  # default branch of the project
    copy: tuple[str, ...] = ()
    symlinks: tuple[str, ...] = ()
    post_create: tuple[tuple[str, ...], ...] = ()
    post_create_timeout: float = 300.0  # for commands without their own timeout
    log_path: pathlib.Path | None = None
    post_create_timeouts: tuple[float, ...] = ()  # seconds for each ``post_create`` command

    def post_create_steps(self) -> tuple[tuple[tuple[str, ...], float], ...]:
        """Each post-create argv with its own timeout (``post_create_timeout`` if unset)."""
        timeouts = self.post_create_timeouts
        return tuple(
            (argv, timeouts[i] if i < len(timeouts) else self.post_create_timeout)
            for i, argv in enumerate(self.post_create)
        )


@dataclasses.dataclass(frozen=True)
class WorkspaceInfo:
    """A checkout that exists, as recorded in session metadata."""

    path: pathlib.Path
    branch: str
    base: str
    created_branch: bool  # this workspace created the branch (rollback may delete it)


@dataclasses.dataclass(frozen=True)
class WorkspaceStatus:
    """Whether a checkout holds work that exists nowhere else.

    Besides uncommitted changes and unpushed commits, that is what a commit cannot carry:
    ``ignored`` files someone made or changed after setup (regenerable output such as
    ``node_modules`` or ``__pycache__`` aside), and ``nested`` repositories (their own
    ``.git``, not a registered submodule), whatever their state.
    """

    exists: bool
    dirty: tuple[str, ...] = ()  # `git status --porcelain` lines (nested repos not included)
    unpushed: int = 0  # commits on the branch not on any remote or the base
    ignored: tuple[str, ...] = ()  # relative paths; a directory ends with "/"
    nested: tuple[str, ...] = ()  # relative paths of nested repositories

    @property
    def has_work(self) -> bool:
        """True when destroying the checkout would lose something."""
        return bool(self.dirty or self.ignored or self.nested) or self.unpushed > 0

    def describe(self) -> str:
        """What it holds, for messages: '2 uncommitted changes, 1 unpushed commit and 1
        nested repo (vendor/lib)'; 'no work' when there is nothing."""

        def count(n: int, word: str) -> str:
            return f"{n} {word}" if n == 1 else f"{n} {word}s"

        def names(paths: tuple[str, ...]) -> str:
            shown = ["".join(c if c.isprintable() else "?" for c in p) for p in paths[:3]]
            more = f", +{len(paths) - 3} more" if len(paths) > 3 else ""
            return f"({', '.join(shown)}{more})"

        parts = []
        if self.dirty:
            parts.append(count(len(self.dirty), "uncommitted change"))
        if self.unpushed:
            parts.append(count(self.unpushed, "unpushed commit"))
        if self.ignored:
            made = count(len(self.ignored), "ignored file")
            parts.append(f"{made} made after setup {names(self.ignored)}")
        if self.nested:
            parts.append(f"{count(len(self.nested), 'nested repo')} {names(self.nested)}")
        if not parts:
            return "no work"
        return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


class Workspace(t.Protocol):
    """Creates and removes isolated checkouts of a repository."""

    api_version: int

    def create(self, req: WorkspaceRequest) -> WorkspaceInfo:
        """Create the checkout and run post-create steps; undo itself on failure."""

    def status(self, repo: pathlib.Path, info: WorkspaceInfo) -> WorkspaceStatus:
        """Report the work in the checkout: uncommitted, unpushed, ignored, nested repos."""

    def destroy(self, repo: pathlib.Path, info: WorkspaceInfo, *, force: bool = False) -> None:
        """Remove the checkout; refuse (ConflictError) if it holds work unless ``force``."""

    def set_aside(
        self, repo: pathlib.Path, info: WorkspaceInfo, dest: pathlib.Path
    ) -> tuple[str, ...]:
        """Move the ``ignored`` and ``nested`` work of ``status`` to the same relative paths
        under ``dest`` (created only when there is something to move); return those paths.

        Called before ``snapshot`` when a checkout holding work is removed. The core checks
        with ``hasattr``: without it, such a checkout is kept.
        """

    def snapshot(self, repo: pathlib.Path, info: WorkspaceInfo, message: str) -> str | None:
        """Commit uncommitted work on the branch (a WIP commit); return its id, or None.

        Never commits a nested repository (as a gitlink or otherwise).
        """

    def restore(self, req: WorkspaceRequest) -> WorkspaceInfo:
        """Recreate a missing checkout from its existing branch."""

    def list(self, repo: pathlib.Path) -> list[pathlib.Path]:
        """Paths of every checkout of ``repo`` this plugin manages."""


# ----------------------------------------------------------------------------- terminal


class Terminal(t.Protocol):
    """Opens a human view of a session."""

    api_version: int

    def open_argv(self, attach_argv: list[str]) -> list[str]:
        """The command that shows the session to a human."""


# ----------------------------------------------------------------------------- tracker / scm


@dataclasses.dataclass(frozen=True)
class Issue:
    """An issue from a tracker; text fields are untrusted."""

    id: str
    title: str
    body: str
    url: str
    labels: tuple[str, ...] = ()
    state: str = "open"


class Tracker(t.Protocol):
    """Reads and updates issues."""

    api_version: int

    def get_issue(self, project_repo: str, issue_id: str) -> Issue:
        """Fetch one issue."""

    def branch_name(self, issue: Issue) -> str:
        """A git-safe branch name for work on ``issue``."""


class TrackerDetails(t.Protocol):
    """Optional richer tracker surface; the core checks with ``hasattr``.

    ``issue_prompt`` is the task text for an agent with the issue's (untrusted) text
    fenced as data; ``close`` takes ``completed`` or ``not_planned``.
    """

    def list_issues(
        self,
        project_repo: str,
        *,
        labels: t.Sequence[str] = (),
        assignee: str | None = None,
        state: str = "open",
        limit: int = 100,
    ) -> list[Issue]: ...

    def issue_prompt(self, issue: Issue, project_repo: str = "") -> str: ...

    def comment(self, project_repo: str, issue_id: str, body: str) -> None: ...

    def add_labels(self, project_repo: str, issue_id: str, labels: t.Sequence[str]) -> None: ...

    def close(self, project_repo: str, issue_id: str, reason: str = "completed") -> None: ...

    def is_completed(self, project_repo: str, issue_id: str) -> bool: ...


@dataclasses.dataclass(frozen=True)
class Check:
    """One CI check of a pull request's head commit."""

    name: str
    state: t.Literal["passing", "failing", "pending"]
    url: str = ""
    log_excerpt: str = ""  # failing checks: the failing tests and last lines (untrusted)


@dataclasses.dataclass(frozen=True)
class ReviewComment:
    """A review comment (untrusted text), with where it points."""

    id: str
    author: str
    body: str
    path: str = ""
    line: int | None = None


@dataclasses.dataclass(frozen=True)
class PrState:
    """Everything the lifecycle needs to know about one pull request."""

    number: int
    url: str
    state: t.Literal["open", "closed", "merged"]
    head_sha: str
    draft: bool = False
    checks: tuple[Check, ...] = ()
    review_decision: t.Literal["approved", "changes_requested", "review_required", "none"] = "none"
    comments: tuple[ReviewComment, ...] = ()
    mergeable: bool | None = None  # None: the forge has not computed it yet
    conflicts: bool = False
    labels: tuple[str, ...] = ()

    @property
    def ci(self) -> t.Literal["passing", "failing", "pending", "none"]:
        """The rollup of all checks."""
        if not self.checks:
            return "none"
        states = {c.state for c in self.checks}
        if "failing" in states:
            return "failing"
        return "pending" if "pending" in states else "passing"


class Scm(t.Protocol):
    """Reads and acts on pull requests."""

    api_version: int

    def pr_states(self, repo: str, branches: t.Sequence[str]) -> dict[str, PrState]:
        """The newest PR of each branch that has one, in as few requests as possible."""

    def merge(self, repo: str, pr: PrState, strategy: str) -> None:
        """Merge ``pr`` with ``merge``, ``squash`` or ``rebase``; raise AoError on refusal."""


class ScmDetails(t.Protocol):
    """Optional richer SCM surface; the core checks with ``hasattr``.

    ``open_pr`` opens a pull request from ``head`` into ``base`` (or returns the open one
    that already exists for ``head``).
    """

    def open_pr(
        self, repo: str, *, head: str, base: str, title: str, body: str = "", draft: bool = False
    ) -> PrState: ...


# ----------------------------------------------------------------------------- notifier


@dataclasses.dataclass(frozen=True)
class Notification:
    """An event a human should see."""

    title: str
    message: str
    priority: t.Literal["urgent", "action", "warning", "info"] = "info"
    session: str | None = None
    project: str | None = None
    data: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)


class Notifier(t.Protocol):
    """Delivers notifications to a human."""

    api_version: int

    def notify(self, note: Notification) -> None:
        """Deliver ``note``; raise AoError on failure."""

"""The plain data the core and plugins exchange: specs, handles, observations, results.

Frozen dataclasses, standard library only; ``ao.sdk.contracts`` re-exports every one of
them next to the Protocols that use them.
"""

from __future__ import annotations

import dataclasses
import pathlib
import typing as t

ActivityState = t.Literal[
    "starting", "working", "ready", "needs_input", "blocked", "exited", "unreachable", "unknown"
]


@dataclasses.dataclass(frozen=True)
class RuntimeSpec:
    """What a runtime needs to start a session's process."""

    name: str  # runtime-level name, unique on the runtime (the core derives it from the id)
    argv: list[str]  # the agent's own command: it becomes the session's process
    cwd: pathlib.Path
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    width: int = 200
    height: int = 50
    owner: str = ""  # who started it (ao's state root); `list_names(owner=)` finds only these
    # Names in ``env`` the session sets itself (config, adapter, ao's own), as opposed to
    # those inherited from the caller's shell: what an isolating runtime passes on anyway.
    own_env: frozenset[str] = frozenset()
    # Host paths besides ``cwd`` the process reads and writes (the agent's state dir):
    # what an isolating runtime must make visible at the same path.
    paths: tuple[pathlib.Path, ...] = ()
    where: str = ""  # a place the user asked for (`ao new --host`), in the runtime's terms


@dataclasses.dataclass(frozen=True)
class RuntimeHandle:
    """Where a session runs, as recorded in its metadata.

    The core stores ``name`` and ``target`` and hands them back; only the runtime that
    made the handle knows what they mean.
    """

    runtime: str
    name: str
    target: str  # exact address of the process's input (opaque to the core)


@dataclasses.dataclass(frozen=True)
class PaneState:
    """Liveness of one session's process, read in one batch for all sessions."""

    alive: bool  # the runtime's session object exists (the process may have exited)
    running: bool  # the agent process is still running
    exit_status: int | None = None
    pid: int | None = None
    current_command: str = ""
    last_activity: float | None = None  # epoch seconds of the last output, if known
    # why the runtime cannot see the session now (its host is down), "" when it can: the
    # session is then neither running nor exited as far as anyone knows
    unreachable: str = ""


@dataclasses.dataclass(frozen=True)
class HostCheck:
    """Something a runtime needs on this machine, as ``ao doctor`` reports it."""

    name: str  # e.g. the program it drives
    ok: bool
    detail: str  # the version found, or what is missing and how to get it


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
class McpServer:
    """An MCP server (stdio) an agent CLI is to start and use: ``command`` is its argv,
    ``env`` the variables it needs on top of the agent's own."""

    name: str
    command: tuple[str, ...]
    env: t.Mapping[str, str] = dataclasses.field(default_factory=dict)


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
    keys: tuple[str, ...]  # key names as ``Runtime.send_keys`` takes them, sent in order


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """What an agent's own records say about a session."""

    native_session_id: str | None = None
    summary: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


@dataclasses.dataclass(frozen=True)
class WorkspaceRequest:
    """A request for an isolated checkout of a project's repository."""

    repo: pathlib.Path
    session_id: str
    path: pathlib.Path  # where the checkout goes
    branch: str
    base: str  # the branch to start from: the project's default, or another session's
    copy: tuple[str, ...] = ()
    symlinks: tuple[str, ...] = ()
    post_create: tuple[tuple[str, ...], ...] = ()
    post_create_timeout: float = 300.0  # for commands without their own timeout
    log_path: pathlib.Path | None = None
    post_create_timeouts: tuple[float, ...] = ()  # seconds for each ``post_create`` command
    # start from the local ``base`` when it is ahead of ``origin``'s: another session's
    # branch, whose unpushed commits are the point (a default branch prefers ``origin``)
    base_local: bool = False

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


@dataclasses.dataclass(frozen=True)
class Issue:
    """An issue from a tracker; text fields are untrusted."""

    id: str
    title: str
    body: str
    url: str
    labels: tuple[str, ...] = ()
    state: str = "open"


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


@dataclasses.dataclass(frozen=True)
class Notification:
    """An event a human should see."""

    title: str
    message: str
    priority: t.Literal["urgent", "action", "warning", "info"] = "info"
    session: str | None = None
    project: str | None = None
    data: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)

"""What the application API returns for the commands that must be fast (``ao list``,
``ao status``, ``ao send``): frozen dataclasses, each with ``to_json()``.

``to_json()`` is the ``data`` of the matching ``ao … --json`` document (the versioned v1
contract of docs/cli.md), so every front-end (the CLI, an HTTP or MCP server) serves the
same documents. The other results live in ``ao.api.outcomes`` (what changes sessions and
workspaces), ``ao.api.inventory`` (projects, agents, plugins) and ``ao.api.reports``
(the lifecycle); each is imported when a method needs it, since creating a dataclass
costs a fraction of a millisecond and ``ao list`` should not pay for all of them.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ao.store.record import Status, timestamp

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Evidence, SessionInfo
    from ao.session.ops import SessionView
    from ao.store.state import Session

JSON = dict[str, t.Any]


@dataclasses.dataclass(frozen=True)
class SessionState:
    """A session as listed: its record's main fields, status and live activity.

    ``status`` is the recorded status corrected by what the runtime shows now;
    ``activity`` is the agent's live state (``working``, ``ready``, ``needs_input``,
    ``exited``...). Archived (stopped) sessions have ``archived`` set.
    """

    id: str
    project: str | None
    agent: str | None
    runtime: str | None
    branch: str | None
    worktree: str | None
    status: str
    activity: str
    created_at: str | None
    updated_at: str | None
    tmux: str | None
    task: str | None
    error: str | None
    archived: bool = False
    archived_at: str | None = None
    role: str | None = None  # "orchestrator" for the agent that plans and delegates

    @classmethod
    def of_view(cls, view: SessionView) -> SessionState:
        """A live session as ``ao.session.ops`` observed it."""
        d = view.to_json()
        return cls(
            id=d["id"], project=d["project"], agent=d["agent"], runtime=d["runtime"],
            branch=d["branch"], worktree=d["worktree"], status=d["status"],
            activity=d["activity"], created_at=d["created_at"], updated_at=d["updated_at"],
            tmux=d["tmux"], task=d["task"], error=d["error"], role=d["role"],
        )  # fmt: skip

    @classmethod
    def of_archived(cls, record: Session) -> SessionState:
        """A stopped session from its archived record."""
        r = record
        return cls(
            id=r.id, project=r.project, agent=r.agent, runtime=r.runtime, branch=r.branch,
            worktree=str(r.worktree) if r.worktree else None,
            status=str(r.status_text or Status.KILLED), activity="exited",
            created_at=timestamp(r.created_at) if r.created_at else None,
            updated_at=timestamp(r.updated_at) if r.updated_at else None,
            tmux=None, task=r.task, error=r.error, archived=True,
            archived_at=timestamp(r.archived_at) if r.archived_at else None, role=r.role,
        )  # fmt: skip

    def to_json(self) -> JSON:
        """The v1 session object of ``ao list --json`` (archived rows: ``ao list --all``)."""
        if self.archived:
            return {
                "id": self.id, "project": self.project, "agent": self.agent,
                "runtime": self.runtime, "branch": self.branch, "worktree": self.worktree,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "task": self.task, "error": self.error, "archived_at": self.archived_at,
                "status": self.status, "activity": self.activity, "tmux": self.tmux,
                "role": self.role,
            }  # fmt: skip
        return {
            "id": self.id, "project": self.project, "agent": self.agent,
            "runtime": self.runtime, "branch": self.branch, "worktree": self.worktree,
            "status": self.status, "activity": self.activity, "created_at": self.created_at,
            "updated_at": self.updated_at, "tmux": self.tmux, "task": self.task,
            "error": self.error, "role": self.role,
        }  # fmt: skip


def _evidence(ev: Evidence) -> JSON:
    return {"source": ev.source, "detail": ev.detail, "age": ev.age}


@dataclasses.dataclass(frozen=True)
class SessionCard:
    """A live session as the dashboard shows it: its listed state, the evidence behind its
    activity (the question, when it needs input), its pull request and issue, and what the
    agent's own records say (tokens, cost) when they were read."""

    # the keys ``to_json`` adds to the ``ao list --json`` object
    EXTRA_KEYS: t.ClassVar[tuple[str, ...]] = (
        "evidence", "pr", "pr_number", "issue", "issue_url", "issue_title", "info",
    )  # fmt: skip

    session: SessionState
    evidence: Evidence
    pr: str | None  # the pull request's URL
    pr_number: int | None
    issue: str | None
    issue_url: str | None
    issue_title: str | None
    info: SessionInfo | None  # read only when asked (``Orchestrator.cards(usage=True)``)

    @property
    def id(self) -> str:
        """The session id."""
        return self.session.id

    def to_json(self) -> JSON:
        """The ``ao list --json`` object plus ``EXTRA_KEYS``. The evidence has no ``age``:
        a card changes when the session does, not every second."""
        return {
            **self.session.to_json(),
            "evidence": {"source": self.evidence.source, "detail": self.evidence.detail},
            "pr": self.pr, "pr_number": self.pr_number, "issue": self.issue,
            "issue_url": self.issue_url, "issue_title": self.issue_title,
            "info": dataclasses.asdict(self.info) if self.info is not None else None,
        }  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SessionDetail:
    """One session in detail (``ao status SESSION``): its state, the evidence behind its
    activity, its pane, port block, and what the agent's own records say."""

    session: SessionState
    evidence: Evidence
    pane: str | None
    prompt_delivery: str | None
    ports: str | None  # "first-last" of its port block
    info: SessionInfo | None  # tokens, cost, summary (agents that keep records)
    status_reason: str | None
    status_since: str | None

    @property
    def id(self) -> str:
        """The session id."""
        return self.session.id

    @property
    def status(self) -> str:
        """The session's status (see ``SessionState.status``)."""
        return self.session.status

    @property
    def activity(self) -> str:
        """The agent's live activity."""
        return self.session.activity

    def to_json(self) -> JSON:
        """The data of ``ao status SESSION --json``."""
        return {
            **self.session.to_json(),
            "evidence": _evidence(self.evidence),
            "pane": self.pane,
            "prompt_delivery": self.prompt_delivery,
            "ports": self.ports,
            "info": dataclasses.asdict(self.info) if self.info is not None else None,
        }

    def why_json(self) -> JSON:
        """The data of ``ao why SESSION --json``: the state and the evidence behind it."""
        return {
            "id": self.id,
            "activity": self.activity,
            "status": self.status,
            "evidence": _evidence(self.evidence),
            "status_reason": self.status_reason,
            "status_since": self.status_since,
        }


@dataclasses.dataclass(frozen=True)
class Sent:
    """A message's fate: ``delivered``, ``queued`` (the agent is busy; the watcher or the
    next send delivers it) or ``unconfirmed`` (it reached the input, no turn started)."""

    session: str
    status: str
    detail: str

    def to_json(self) -> JSON:
        """The data of ``ao send --json``."""
        return {"session": self.session, "status": self.status, "detail": self.detail}

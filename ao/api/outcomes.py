"""What the application API returns for operations that change sessions and workspaces:
create, stop, gc, keys, finalize, merge (see ``ao.api.results``).
"""

from __future__ import annotations

import dataclasses
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from ao.api.results import SessionState

JSON = dict[str, t.Any]


@dataclasses.dataclass(frozen=True)
class Created:
    """A session ``create`` started (or queued, past ``maxSessions``: ``delivery ==
    "queued"``, no worktree yet)."""

    id: str
    project: str
    branch: str
    worktree: Path | None
    delivery: str  # delivered | unconfirmed | queued | none
    seconds: float
    session: SessionState

    def to_json(self) -> JSON:
        """The data of ``ao new --json``: the session object plus ``delivery``."""
        return {**self.session.to_json(), "delivery": self.delivery}


@dataclasses.dataclass(frozen=True)
class IssueSpawn:
    """One issue's outcome in ``spawn_issues``: started, skipped (it already has a live
    session) or failed (``error``)."""

    issue: str
    ok: bool
    session: str | None = None
    branch: str | None = None
    delivery: str | None = None
    worktree: str | None = None
    skipped: bool = False
    detail: str | None = None
    error: str | None = None

    def to_json(self) -> JSON:
        """One element of ``ao spawn --json``."""
        if not self.ok:
            return {"issue": self.issue, "ok": False, "error": self.error}
        if self.skipped:
            return {"issue": self.issue, "ok": True, "skipped": True, "session": self.session,
                    "detail": self.detail}  # fmt: skip
        return {"issue": self.issue, "ok": True, "session": self.session, "branch": self.branch,
                "delivery": self.delivery, "worktree": self.worktree}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class KeysSent:
    """Keys typed into a session's agent (``send_keys``) or its turn interrupted."""

    session: str
    keys: tuple[str, ...]
    detail: str

    def to_json(self) -> JSON:
        """As a JSON object."""
        return {"session": self.session, "keys": list(self.keys), "detail": self.detail}


@dataclasses.dataclass(frozen=True)
class Interrupted:
    """What ``interrupt`` did: stopped the agent's turn, or nothing (it was not working)."""

    session: str
    interrupted: bool
    detail: str

    def to_json(self) -> JSON:
        """As a JSON object."""
        return {"session": self.session, "interrupted": self.interrupted, "detail": self.detail}


@dataclasses.dataclass(frozen=True)
class Stopped:
    """What ``stop`` did with one session."""

    id: str
    worktree: str | None
    worktree_removed: bool
    snapshot: str | None  # the WIP commit that saved uncommitted work (force)
    kept_reason: str | None  # why the worktree was kept (it holds work)
    archived: str  # the archived record's path
    saved: str | None  # where force moved ignored files and nested repos

    def to_json(self) -> JSON:
        """One element of ``ao stop --json``."""
        return {"id": self.id, "worktree": self.worktree, "worktree_removed": self.worktree_removed,
                "snapshot": self.snapshot, "kept_reason": self.kept_reason,
                "archived": self.archived, "saved": self.saved}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class GcItem:
    """One thing gc did (or would do with ``dry_run``)."""

    kind: str  # half-spawn | orphan-<runtime> | orphan-worktree | stale-lock | kept-worktree...
    target: str
    detail: str
    done: bool

    def to_json(self) -> JSON:
        """One element of ``ao gc --json``."""
        return {"kind": self.kind, "target": self.target, "detail": self.detail, "done": self.done}


@dataclasses.dataclass(frozen=True)
class Published:
    """What ``finalize`` did: commit, push, and the pull request when one was opened."""

    session: str
    branch: str
    committed: bool
    commits: int
    pr: str | None = None
    pr_number: int | None = None

    def to_json(self) -> JSON:
        """The data of ``ao finalize --json``."""
        data: JSON = {"session": self.session, "branch": self.branch, "committed": self.committed,
                      "commits": self.commits, "pushed": True}  # fmt: skip
        if self.pr is not None:
            data |= {"pr": self.pr, "pr_number": self.pr_number}
        return data


@dataclasses.dataclass(frozen=True)
class Merged:
    """A session's pull request that ``merge`` merged."""

    session: str
    pr: str
    number: int
    strategy: str

    def to_json(self) -> JSON:
        """The data of ``ao merge --json``."""
        return {"session": self.session, "pr": self.pr, "number": self.number,
                "strategy": self.strategy, "merged": True}  # fmt: skip

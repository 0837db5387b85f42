"""Session statuses and the table-driven transition function.

``decide`` maps what a tick observed (``Facts``) to the session's next status. The table
is ordered: the first rule whose guard holds wins. Every status has an exit: watcher
rules move live sessions between live statuses, and the user actions ``stop`` and
``restore`` (also rows of the table) leave and re-enter the terminal ones.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ao.sdk.contracts import ActivityState, PrState
from ao.store.record import ENDED_STATUSES, STATUSES, Status

TERMINAL = frozenset(ENDED_STATUSES)
__all__ = ["STATUSES", "TERMINAL", "Decision", "Facts", "Status", "decide"]


@dataclasses.dataclass(frozen=True)
class Facts:
    """What one tick knows about a session."""

    status: Status | None  # the recorded status (None: none this ao knows)
    activity: ActivityState = "unknown"
    idle_seconds: float = 0.0  # since the last progress signal (output, native event)
    stuck_after: float = 600.0
    pr: PrState | None = None
    slot_free: bool = True  # for queued sessions: the concurrency cap has room
    spawner_alive: bool = True  # for spawning sessions: the `ao new` process lives
    action: t.Literal["stop", "restore"] | None = None  # a user action, if any


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of the transition table."""

    name: str
    applies: t.Callable[[Facts], bool]
    to: t.Callable[[Facts], Status]
    reason: str


def _live(f: Facts) -> bool:
    return f.status not in TERMINAL and f.status not in (Status.QUEUED, Status.SPAWNING)


def _pr_status(pr: PrState) -> Status:
    if pr.ci == "failing":
        return Status.CI_FAILED
    if pr.review_decision == "changes_requested":
        return Status.CHANGES_REQUESTED
    if pr.review_decision == "approved":
        ready = pr.ci in ("passing", "none") and pr.mergeable is True and not pr.conflicts
        return Status.MERGEABLE if ready and not pr.draft else Status.APPROVED
    if pr.ci == "pending" or pr.draft:
        return Status.PR_OPEN
    return Status.REVIEW_PENDING


RULES: tuple[Rule, ...] = (
    Rule("user stops", lambda f: f.action == "stop",
         lambda f: Status.KILLED, "stopped by the user"),
    Rule("user restores", lambda f: f.action == "restore" and f.status in TERMINAL,
         lambda f: Status.WORKING, "restored by the user"),
    Rule("admitted", lambda f: f.status == Status.QUEUED and f.slot_free,
         lambda f: Status.SPAWNING, "a session slot is free"),
    Rule("spawn died", lambda f: f.status == Status.SPAWNING and not f.spawner_alive,
         lambda f: Status.ERRORED, "the spawning process died"),
    Rule("PR merged", lambda f: f.pr is not None and f.pr.state == "merged"
         and f.status != Status.DONE,
         lambda f: Status.MERGED, "the pull request was merged"),
    Rule("cleaned up", lambda f: f.status == Status.MERGED and f.activity == "exited",
         lambda f: Status.DONE, "merged and the agent has ended"),
    Rule("PR closed", lambda f: (_live(f) or f.status == Status.EXITED) and f.pr is not None
         and f.pr.state == "closed",
         lambda f: Status.DONE, "the pull request was closed without merging"),
    Rule("agent exited", lambda f: _live(f) and f.activity == "exited",
         lambda f: Status.EXITED, "the agent process ended"),
    Rule("needs input", lambda f: _live(f) and f.activity == "needs_input",
         lambda f: Status.NEEDS_INPUT, "the agent asks a question"),
    Rule("blocked", lambda f: _live(f) and f.activity == "blocked",
         lambda f: Status.BLOCKED, "the agent cannot continue (auth, usage limit, error)"),
    Rule("stuck", lambda f: _live(f) and f.activity in ("working", "unknown")
         and f.idle_seconds >= f.stuck_after,
         lambda f: Status.STUCK, "no progress signal past the stuck threshold"),
    Rule("PR state", lambda f: _live(f) and f.pr is not None and f.pr.state == "open",
         lambda f: _pr_status(t.cast(PrState, f.pr)), "pull request state"),
    Rule("working", lambda f: _live(f) and f.activity in ("working", "starting"),
         lambda f: Status.WORKING, "the agent is working"),
    Rule("ready", lambda f: _live(f) and f.activity == "ready",
         lambda f: Status.READY, "the agent finished its turn"),
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Decision:
    """The next status and the rule that chose it."""

    status: Status | None
    rule: str
    reason: str


def decide(facts: Facts) -> Decision:
    """The session's next status; unchanged when no rule applies."""
    for rule in RULES:
        if rule.applies(facts):
            return Decision(rule.to(facts), rule.name, rule.reason)
    return Decision(facts.status, "unchanged", "no rule applies")

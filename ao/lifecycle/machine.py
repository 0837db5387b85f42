"""Session statuses and the table-driven transition function.

``decide`` maps what a tick observed (``Facts``) to the session's next status. The table
is ordered: the first rule whose guard holds wins. Every status has an exit: watcher
rules move live sessions between live statuses, and the user actions ``stop`` and
``restore`` (also rows of the table) leave and re-enter the terminal ones.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ao.sdk.contracts import PrState
from ao.store.state import ENDED_STATUSES, STATUSES

TERMINAL = frozenset(ENDED_STATUSES)
__all__ = ["STATUSES", "TERMINAL", "Decision", "Facts", "decide"]
Activity = t.Literal["starting", "working", "ready", "needs_input", "blocked", "exited", "unknown"]


@dataclasses.dataclass(frozen=True)
class Facts:
    """What one tick knows about a session."""

    status: str  # the recorded status
    activity: Activity = "unknown"
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
    to: t.Callable[[Facts], str]
    reason: str


def _live(f: Facts) -> bool:
    return f.status not in TERMINAL and f.status not in ("queued", "spawning")


def _pr_status(pr: PrState) -> str:
    if pr.ci == "failing":
        return "ci_failed"
    if pr.review_decision == "changes_requested":
        return "changes_requested"
    if pr.review_decision == "approved":
        ready = pr.ci in ("passing", "none") and pr.mergeable is True and not pr.conflicts
        return "mergeable" if ready and not pr.draft else "approved"
    if pr.ci == "pending" or pr.draft:
        return "pr_open"
    return "review_pending"


RULES: tuple[Rule, ...] = (
    Rule("user stops", lambda f: f.action == "stop", lambda f: "killed", "stopped by the user"),
    Rule("user restores", lambda f: f.action == "restore" and f.status in TERMINAL,
         lambda f: "working", "restored by the user"),
    Rule("admitted", lambda f: f.status == "queued" and f.slot_free,
         lambda f: "spawning", "a session slot is free"),
    Rule("spawn died", lambda f: f.status == "spawning" and not f.spawner_alive,
         lambda f: "errored", "the spawning process died"),
    Rule("PR merged", lambda f: f.pr is not None and f.pr.state == "merged" and f.status != "done",
         lambda f: "merged", "the pull request was merged"),
    Rule("cleaned up", lambda f: f.status == "merged" and f.activity == "exited",
         lambda f: "done", "merged and the agent has ended"),
    Rule("PR closed", lambda f: (_live(f) or f.status == "exited") and f.pr is not None
         and f.pr.state == "closed",
         lambda f: "done", "the pull request was closed without merging"),
    Rule("agent exited", lambda f: _live(f) and f.activity == "exited",
         lambda f: "exited", "the agent process ended"),
    Rule("needs input", lambda f: _live(f) and f.activity == "needs_input",
         lambda f: "needs_input", "the agent asks a question"),
    Rule("blocked", lambda f: _live(f) and f.activity == "blocked",
         lambda f: "blocked", "the agent cannot continue (auth, usage limit, error)"),
    Rule("stuck", lambda f: _live(f) and f.activity in ("working", "unknown")
         and f.idle_seconds >= f.stuck_after,
         lambda f: "stuck", "no progress signal past the stuck threshold"),
    Rule("PR state", lambda f: _live(f) and f.pr is not None and f.pr.state == "open",
         lambda f: _pr_status(t.cast(PrState, f.pr)), "pull request state"),
    Rule("working", lambda f: _live(f) and f.activity in ("working", "starting"),
         lambda f: "working", "the agent is working"),
    Rule("ready", lambda f: _live(f) and f.activity == "ready",
         lambda f: "ready", "the agent finished its turn"),
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Decision:
    """The next status and the rule that chose it."""

    status: str
    rule: str
    reason: str


def decide(facts: Facts) -> Decision:
    """The session's next status; unchanged when no rule applies."""
    for rule in RULES:
        if rule.applies(facts):
            return Decision(rule.to(facts), rule.name, rule.reason)
    return Decision(facts.status, "unchanged", "no rule applies")

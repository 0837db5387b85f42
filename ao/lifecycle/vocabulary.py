"""The lifecycle's event vocabulary (``session.stuck``, ``ci.failing``, ``merge.ready``...),
derived in one place from what one tick saw.

``derive`` is pure: given what the session's record held before the tick (``Before``:
status, the PR it last saw and that PR's head), the status the tick moved it to, the PR
state now and the reactions that ran this tick, it returns the events to append. Every
event marks a transition, so a state that persists across ticks is reported once:

* PR events compare the PR the record stored last tick (``pr``, ``pr_head``) with now;
  ``pr.merged``/``pr.closed`` are the status moving to ``merged``/``done`` by the PR.
* CI, review and merge events compare the previous status with the new one (the status
  is the PR's state as the transition table reads it), except ``merge.conflicts``: a
  new conflicts episode is a ``merge-conflicts`` signature the record has not seen.
* ``ci.fix_sent``, ``ci.fix_failed``, ``review.comments_sent`` and ``merge.completed``
  are the reactions that ran this tick.

``status.changed`` stays the state machine's own event; these are the meaning of it.
"""

from __future__ import annotations

import dataclasses
import typing as t
from collections.abc import Sequence

from ao.config.events import EVENT_PRIORITIES, EVENT_TYPES, Priority
from ao.store.record import Status

if t.TYPE_CHECKING:
    from ao.sdk.contracts import PrState

# every type and its priority (the table lives with the configuration, which names them)
PRIORITIES: dict[str, Priority] = EVENT_PRIORITIES
TYPES = EVENT_TYPES

# statuses a session is in while its PR is open, as the transition table reads the PR
PR_STATUSES = frozenset(
    {
        Status.PR_OPEN,
        Status.CI_FAILED,
        Status.REVIEW_PENDING,
        Status.CHANGES_REQUESTED,
        Status.APPROVED,
        Status.MERGEABLE,
    }
)
_ENTERED: dict[Status, str] = {  # entering the status is the event
    Status.WORKING: "session.working",
    Status.STUCK: "session.stuck",
    Status.NEEDS_INPUT: "session.needs_input",
    Status.ERRORED: "session.errored",
    Status.KILLED: "session.killed",
}
# what a human notification of a reaction is about (``Notification.data["event"]``)
_NOTIFIED: dict[str, str] = {
    "agent-stuck": "session.stuck",
    "agent-needs-input": "session.needs_input",
    "ci-failed": "ci.failing",
    "changes-requested": "review.changes_requested",
    "merge-conflicts": "merge.conflicts",
    "approved-and-green": "merge.ready",
    "pr-closed": "pr.closed",
}


@dataclasses.dataclass(frozen=True)
class Before:
    """What the session's record held before this tick."""

    status: Status | None
    pr: str | None = None  # the PR's URL the watcher (or `ao finalize`) recorded
    pr_head: str | None = None  # its head SHA as the watcher last saw it
    first_seen: bool = False  # the watcher has never moved nor seen this spawned session
    conflicts_seen: bool = False  # the record holds this head's merge-conflicts signature


@dataclasses.dataclass(frozen=True)
class Ran:
    """One reaction action this tick carried out (or tried to)."""

    reaction: str
    kind: str  # send, notify, merge, escalate
    ok: bool
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Event:
    """One vocabulary event to append."""

    type: str
    priority: Priority
    message: str
    data: dict[str, t.Any]


def derive(
    session: str,
    before: Before,
    status: Status | None,
    pr: PrState | None,
    ran: Sequence[Ran] = (),
) -> list[Event]:
    """The vocabulary events of one session's tick, in order: session, PR, CI, review,
    merge, then what the reactions did."""

    prev = before.status
    moved = status != prev
    base: dict[str, t.Any] = {
        "session": session,
        "from": prev,
        "to": status,
        "pr": pr.url if pr else before.pr,
        "number": pr.number if pr else None,
        "head_sha": pr.head_sha if pr else before.pr_head,
        "ci": pr.ci if pr else None,
        "review": pr.review_decision if pr else None,
    }
    out: list[Event] = []

    def emit(kind: str, **extra: t.Any) -> None:
        about = f" ({base['pr']})" if base["pr"] else ""
        message = f"{session}: {kind}{about}"
        out.append(Event(kind, PRIORITIES[kind], message, {**base, **extra}))

    if before.first_seen:
        emit("session.spawned")
    if moved and status in _ENTERED:
        emit(_ENTERED[status])

    is_open = pr is not None and pr.state == "open"
    new_pr = pr is not None and (before.pr_head is None or before.pr != pr.url)
    if pr is not None and is_open and new_pr:
        emit("pr.created", draft=pr.draft)
    elif pr is not None and is_open and before.pr_head != pr.head_sha:
        emit("pr.updated", previous_head=before.pr_head)
    if moved and status == Status.MERGED:
        emit("pr.merged")
    if moved and status == Status.DONE and pr is not None and pr.state == "closed":
        emit("pr.closed")

    if pr is not None and is_open and moved and status in PR_STATUSES:
        failing = sorted(c.name for c in pr.checks if c.state == "failing")
        if status == Status.CI_FAILED:
            emit("ci.failing", failing=failing)
        elif pr.ci == "passing" and (prev in (Status.CI_FAILED, Status.PR_OPEN) or new_pr):
            emit("ci.passing")
        if status == Status.REVIEW_PENDING:
            emit("review.pending")
        approved = (Status.APPROVED, Status.MERGEABLE)
        if status in approved and prev not in approved:
            emit("review.approved")
        if status == Status.CHANGES_REQUESTED:
            emit("review.changes_requested")
        if status == Status.MERGEABLE:
            emit("merge.ready", mergeable=pr.mergeable)
    if pr is not None and is_open and pr.conflicts and not before.conflicts_seen:
        emit("merge.conflicts", mergeable=pr.mergeable, conflicts=True)

    for action in ran:
        facts = {"reaction": action.reaction, "detail": action.detail}
        if action.reaction == "ci-failed" and action.kind == "send":
            emit("ci.fix_sent" if action.ok else "ci.fix_failed", **facts)
        elif action.reaction == "ci-failed" and action.kind == "escalate":
            emit("ci.fix_failed", **facts)
        elif action.reaction == "changes-requested" and action.kind == "send" and action.ok:
            emit("review.comments_sent", **facts)
        elif action.kind == "merge" and action.ok:
            emit("merge.completed", **facts)
    return out


def of_notification(reaction: str, kind: str) -> str | None:
    """The vocabulary type a reaction's human notification is about, if any (a reaction
    keyed by a vocabulary type is about that type)."""
    if reaction in PRIORITIES:
        return reaction
    if reaction == "ci-failed" and kind == "escalate":
        return "ci.fix_failed"
    return _NOTIFIED.get(reaction)

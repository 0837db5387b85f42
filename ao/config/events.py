"""The lifecycle's event vocabulary (``session.stuck``, ``ci.failing``, ``merge.ready``...):
every type, its priority, and the ``notificationRouting`` keys that can name it.

Configuration knows them: ``notificationRouting`` and ``reactions`` may name a type (a
misspelt one is a config error with a suggestion; ``ao config-help`` points here). The
lifecycle derives them on each transition (``ao.lifecycle.vocabulary``) and the
notifiers route by them (``ao.notify``).
"""

from __future__ import annotations

import difflib
import typing as t
from collections.abc import Iterable

Priority = t.Literal["urgent", "action", "warning", "info"]
PRIORITY_NAMES: tuple[Priority, ...] = ("urgent", "action", "warning", "info")

# every type and its priority: urgent (a human must act now), action (ready for a human
# to act on: approved and ready, merged), warning (something failed), info (progress)
EVENT_PRIORITIES: dict[str, Priority] = {
    "session.spawned": "info",
    "session.working": "info",
    "session.stuck": "urgent",
    "session.needs_input": "urgent",
    "session.errored": "urgent",
    "session.killed": "info",
    "pr.created": "info",
    "pr.updated": "info",
    "pr.merged": "info",
    "pr.closed": "info",
    "ci.passing": "info",
    "ci.failing": "warning",
    "ci.fix_sent": "info",
    "ci.fix_failed": "warning",
    "review.pending": "info",
    "review.approved": "action",
    "review.changes_requested": "warning",
    "review.comments_sent": "info",
    "merge.ready": "action",
    "merge.conflicts": "warning",
    "merge.completed": "action",
}
EVENT_TYPES = tuple(EVENT_PRIORITIES)
# `pr.*` names every `pr.` type: one glob per category, nothing finer
GLOBS = tuple(dict.fromkeys(f"{kind.split('.')[0]}.*" for kind in EVENT_TYPES))
ROUTING_KEYS: tuple[str, ...] = (*PRIORITY_NAMES, *EVENT_TYPES, *GLOBS)


def routing_keys(event: str) -> tuple[str, str]:
    """The ``notificationRouting`` keys that name ``event``, most specific first: the type
    itself, then its category's glob (``ci.failing``, ``ci.*``)."""
    return event, f"{event.split('.')[0]}.*"


def unknown_routing_key(key: str) -> str | None:
    """Why ``key`` cannot be a ``notificationRouting`` key (with a suggestion), or None."""
    if key in ROUTING_KEYS:
        return None
    close = difflib.get_close_matches(key, ROUTING_KEYS, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"unknown routing key {key!r}: {guess}A key is a priority "
        f"({', '.join(PRIORITY_NAMES)}), an event type (e.g. ci.failing, merge.completed; "
        f"docs/cli.md lists them) or a category glob ({', '.join(GLOBS)})"
    )


# what a reaction keyed by an event type may set: it runs once per event (no budget)
EVENT_REACTION_KEYS = ("auto", "action", "message", "priority")


def event_reaction_problem(
    event: str, keys: Iterable[str], action: str | None
) -> tuple[str, str] | None:
    """Why ``reactions.<event>`` (setting ``keys``) is invalid: (the key at fault, the
    reason), or None when it is fine."""
    if action == "merge":
        return "action", "an event's reaction is notify or send-to-agent, not merge"
    for key in sorted(keys):
        if key not in EVENT_REACTION_KEYS:
            return key, (
                f"{key} does not apply to a reaction keyed by an event type (it runs once "
                f"each time {event} happens); its keys: {', '.join(EVENT_REACTION_KEYS)}"
            )
    return None

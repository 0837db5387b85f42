"""The built-in reactions: their names, default actions, priorities and messages.

Configuration knows them (a misspelt key is a config error; `ao config-help` lists them);
the lifecycle carries them out (``ao.lifecycle.reactions``).
"""

from __future__ import annotations

import dataclasses

CI_MESSAGE = (
    "CI failed on your branch {{branch}} ({{pr}}). Investigate the failures below, fix "
    "them, commit and push.\n\n{{errors}}"
)
REVIEW_MESSAGE = (
    "A reviewer asked for changes on {{pr}}. Address each comment below, commit and push, "
    "then reply on the PR.\n\n{{comments}}"
)
CONFLICT_MESSAGE = (
    "Your branch {{branch}} conflicts with the base branch. Rebase onto it (or merge it), "
    "resolve the conflicts, run the tests and push."
)
STUCK_MESSAGE = (
    "You have shown no progress for a while. If you are blocked, say what you need; "
    "otherwise continue, commit your work and push."
)


@dataclasses.dataclass(frozen=True)
class Builtin:
    """A built-in reaction: when it triggers and what it does by default."""

    action: str
    priority: str
    message: str
    retries: int = 0


BUILTINS: dict[str, Builtin] = {
    "ci-failed": Builtin("send-to-agent", "action", CI_MESSAGE, retries=2),
    "changes-requested": Builtin("send-to-agent", "action", REVIEW_MESSAGE, retries=2),
    "merge-conflicts": Builtin("send-to-agent", "action", CONFLICT_MESSAGE, retries=2),
    "approved-and-green": Builtin(
        "notify", "action", "{{pr}} is approved and green: ready to merge."
    ),
    "agent-stuck": Builtin("send-to-agent", "urgent", STUCK_MESSAGE, retries=1),
    "agent-needs-input": Builtin(
        "notify", "urgent", "{{session}} is waiting for an answer:\n{{question}}"
    ),
    "agent-exited": Builtin("notify", "urgent", "{{session}}'s agent exited: {{reason}}"),
    "pr-closed": Builtin("notify", "action", "{{pr}} was closed without merging."),
    "all-complete": Builtin("notify", "info", "All sessions of {{project}} are finished."),
}

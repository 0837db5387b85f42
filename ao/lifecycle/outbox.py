"""Draining the outbox: messages queued while an agent was busy, delivered once it is ready.

``ao send`` and the ``send-to-agent`` reactions queue a message in the session's outbox
(``$AO_HOME/<project>/outbox/<session>/``) when the agent is in the middle of a turn.
Each watcher tick hands the queued messages of a ready agent to it, oldest first, so a
CI log sent while the agent was still working reaches it as soon as the turn ends.
"""

from __future__ import annotations

import typing as t

from ao.sdk.errors import SessionBusyError
from ao.session.delivery import deliver, pending
from ao.store import events

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Agent, RuntimeHandle
    from ao.session.context import Context, Project
    from ao.session.delivery import Delivery
    from ao.store.state import Session

WAIT = 2.0  # seconds a queued message waits for the agent to take input
LOCK_WAIT = 2.0  # seconds the watcher waits for a send in progress before trying next tick


def drain(
    ctx: Context, project: Project, session: Session, agent: Agent, handle: RuntimeHandle
) -> list[Delivery]:
    """Deliver the session's queued messages, oldest first, until one is not taken.

    A message leaves the outbox only once its delivery is confirmed; one that was not
    (the agent got busy again) stays first in line for the next tick.
    """

    if not pending(project.paths.outbox(session.id)):
        return []
    try:
        with project.store.operation(session.id, timeout=LOCK_WAIT):
            return _drain_locked(ctx, project, session, agent, handle)
    except SessionBusyError:
        return []  # an `ao send` is delivering (and drains the outbox itself first)


def _drain_locked(
    ctx: Context, project: Project, session: Session, agent: Agent, handle: RuntimeHandle
) -> list[Delivery]:
    queued = pending(project.paths.outbox(session.id))
    runtime = ctx.runtime(session.runtime)
    results: list[Delivery] = []
    for path in queued:
        text = path.read_text(encoding="utf-8")
        result = deliver(runtime, agent, handle, text, wait=WAIT, session=session.as_kv())
        results.append(result)
        events.append(
            project.paths, "message.sent", session=session.id,
            message=f"queued message to {session.id}: {result.status}",
            data={"status": result.status, "bytes": len(text.encode()), "detail": result.detail,
                  "queued": path.name},
        )  # fmt: skip
        if result.status != "delivered":
            break
        path.unlink(missing_ok=True)
    return results

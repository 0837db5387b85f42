"""Carrying out planned reactions: sends, pane nudges, merges and human notifications.

Notifications never run inside a session's work. ``notify`` records the notification
(an event, the sink that always works) and puts it in the project's notification
outbox (``$AO_HOME/<project>/notify-outbox/``, one JSON file each, written atomically)
before the session's bookkeeping is written, so a watcher killed mid-tick loses none.
At the end of a tick ``flush`` delivers every pending notification concurrently, one
thread each under one shared deadline, so a hanging receiver costs a tick at most one
notifier timeout however many notifications there are. A delivery that failed stays in
the outbox, narrowed to the notifiers that failed, and is retried on later ticks (given
up after ``GIVE_UP`` with a ``notification.dropped`` event).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import typing as t
import uuid

from ao.lifecycle import reactions as rx
from ao.lifecycle import vocabulary
from ao.notify import DEFAULT_TIMEOUT, dispatch
from ao.registry import available
from ao.sdk.contracts import Notification, PrState
from ao.sdk.errors import AoError, ConflictError
from ao.sdk.textsafe import strip_controls
from ao.session.ops import handle_of, send
from ao.store import events
from ao.store.locks import atomic_write, write_private
from ao.store.record import reaction_key

if t.TYPE_CHECKING:
    from pathlib import Path

    from ao.notify import Delivered
    from ao.session.context import Context, Project
    from ao.store.state import Session

NUDGE_ECHO = 5.0  # seconds after a nudge in which pane output is the nudge's own echo
GIVE_UP = 86400.0  # a notification still failing after a day is dropped
MAX_PER_TICK = 64  # notifications delivered per tick (the rest wait for the next one)
SLACK = 1.0  # seconds the flush waits beyond the notifier timeout
BACKOFF = (30.0, 1800.0)  # first and longest wait before a failed notification is retried


@dataclasses.dataclass(frozen=True)
class Flushed:
    """One notification delivery attempt made by a tick."""

    session: str
    reaction: str
    ok: bool
    detail: str


def execute(
    ctx: Context,
    project: Project,
    session: Session,
    planned: rx.Planned,
    pr: PrState | None,
    cfg: t.Any,
) -> tuple[bool, str]:
    """Carry out one planned action; a failed action falls through to a human."""
    try:
        if planned.kind == "send" and planned.reaction == "agent-stuck":
            with project.store.operation(session.id, timeout=15.0):
                detail = nudge(ctx, project.store.read(session.id), planned.message)
        elif planned.kind == "send":
            current = project.store.read(session.id)
            result = send(ctx, project, current, planned.message, wait=2.0, lock_timeout=15.0)
            detail = f"{result.status}: {result.detail}"
        elif planned.kind == "merge":
            scm = ctx.project_scm(project)
            if scm is None or pr is None:
                raise AoError("no SCM plugin to merge with")
            strategy = (cfg.strategy if cfg is not None and cfg.strategy else None) or "squash"
            scm.merge(project.config.repo or "", pr, strategy)
            detail = f"merged {pr.url} ({strategy})"
        else:
            detail = notify(project, session.id, planned)
    except AoError as exc:
        escalation = dataclasses.replace(
            planned, kind="escalate", priority="urgent",
            message=f"ao could not {planned.kind} for {planned.reaction}: {exc}\n\n"
            + planned.message,
        )  # fmt: skip
        events.append(project.paths, "reaction.failed", session=session.id, priority="urgent",
                      message=str(exc), data={"reaction": planned.reaction})  # fmt: skip
        notify(project, session.id, escalation)
        return False, str(exc)
    events.append(
        project.paths, f"reaction.{planned.kind}", session=session.id, priority=planned.priority,
        message=f"{planned.reaction}: {detail}",
        data={"reaction": planned.reaction, "why": planned.why, "signature": planned.signature},
    )  # fmt: skip
    return True, detail


def nudge(ctx: Context, session: Session, text: str) -> str:
    """Type ``text`` straight into the agent's pane and press Enter.

    A stuck agent reads as working, so an ordinary send would only queue the nudge
    until a turn ends that never ends; the nudge goes to the pane instead.
    """

    handle = handle_of(session)
    if handle is None:
        raise ConflictError(f"{session.id} has no pane to nudge")
    runtime = ctx.runtime(session.runtime)
    agent = ctx.agent(session.agent or "")
    runtime.paste(handle, strip_controls(text))
    time.sleep(min(agent.settle_delay(), 2.0))
    runtime.send_keys(handle, "Enter")
    return "nudged in the agent's pane"


def nudged_at(session: Session) -> float:
    """When the agent-stuck nudge (or its escalation) last happened, 0 if never."""
    book = session.reactions.get(reaction_key("agent-stuck"))
    return book.last_at or 0.0 if book is not None else 0.0


# ----------------------------------------------------------------------------- notifications


def _outbox(project: Project) -> Path:
    return project.paths.root / "notify-outbox"


def notify(project: Project, session_id: str, planned: rx.Planned) -> str:
    """Record a human notification and queue it for delivery at the end of the tick."""

    data = {"reaction": planned.reaction, "kind": planned.kind}
    about = vocabulary.of_notification(planned.reaction, planned.kind)
    if about is not None:  # the vocabulary type, for webhook/Slack filters (`data.event`)
        data["event"] = about
    note = {
        "title": f"ao: {session_id or project.id} — {planned.reaction}",
        "message": planned.message,
        "priority": planned.priority,
        "session": session_id,
        "project": project.id,
        "data": data,
    }
    events.append(
        project.paths, "notification", session=session_id, priority=planned.priority,
        message=str(note["title"]), data={"reaction": planned.reaction, "body": planned.message},
    )  # fmt: skip
    entry = {"note": note, "created": time.time(), "attempts": 0, "names": None, "errors": []}
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
    write_private(_outbox(project) / name, json.dumps(entry, ensure_ascii=False))
    return "notification queued for the notifiers"


def pending(project: Project) -> list[Path]:
    """The project's undelivered notifications, oldest first."""
    folder = _outbox(project)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def flush(ctx: Context, projects: list[Project], now: float) -> list[Flushed]:
    """Deliver every pending notification concurrently; keep the failed ones for later."""

    queue: list[tuple[Project, Path, dict[str, t.Any]]] = []
    for project in projects:
        for path in pending(project):
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                path.unlink(missing_ok=True)  # half a file cannot happen (atomic writes)
                continue
            if float(entry.get("retry_at") or 0.0) <= now:  # a failing receiver is not hammered
                queue.append((project, path, entry))
    queue = queue[:MAX_PER_TICK]
    if not queue:
        return []
    available("notifier")  # scan the entry points once, before the threads start
    results: list[list[Delivered] | BaseException | None] = [None] * len(queue)

    def work(i: int, entry: dict[str, t.Any]) -> None:
        try:
            note = Notification(**entry["note"])
            results[i] = dispatch(ctx.config, note, names=entry.get("names"))
        except BaseException as exc:  # a config error must not stop the other notifications
            results[i] = exc

    threads = [
        threading.Thread(target=work, args=(i, e), name="ao-notify-flush", daemon=True)
        for i, (_, _, e) in enumerate(queue)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEFAULT_TIMEOUT + SLACK
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [
        _settle(project, path, entry, results[i], now)
        for i, (project, path, entry) in enumerate(queue)
    ]


def _settle(
    project: Project,
    path: Path,
    entry: dict[str, t.Any],
    result: list[Delivered] | BaseException | None,
    now: float,
) -> Flushed:
    """Drop a delivered notification; keep a failed one, narrowed to what failed."""

    note = entry["note"]
    session, reaction = str(note.get("session") or ""), str(note["data"].get("reaction", ""))
    everyone = entry.get("names") or ["*"]
    if result is None:
        failed = dict.fromkeys(everyone, "no answer before the tick's deadline")
        sent: list[str] = []
    elif isinstance(result, BaseException):
        failed = dict.fromkeys(everyone, str(result))
        sent = []
    else:
        failed = {r.name: r.error or "failed" for r in result if not r.ok}
        sent = [r.name for r in result if r.ok]
    if not failed:
        path.unlink(missing_ok=True)
        return Flushed(session, reaction, True, f"notified {', '.join(sent) or 'nobody'}")
    errors = "; ".join(f"{n}: {e}" for n, e in failed.items())
    attempts = int(entry.get("attempts") or 0) + 1
    if now - float(entry.get("created") or now) >= GIVE_UP:
        path.unlink(missing_ok=True)
        events.append(
            project.paths, "notification.dropped", session=session or None, priority="warning",
            message=f"gave up on a notification after {attempts} attempts: {errors}",
            data={"reaction": reaction, "attempts": attempts},
        )  # fmt: skip
        return Flushed(session, reaction, False, f"dropped after {attempts} attempts: {errors}")
    names = None if "*" in failed else sorted(failed)
    retry_at = now + min(BACKOFF[0] * 2 ** (attempts - 1), BACKOFF[1])
    atomic_write(path, json.dumps({**entry, "attempts": attempts, "names": names,
                                   "errors": [errors], "retry_at": retry_at},
                                  ensure_ascii=False))  # fmt: skip
    events.append(
        project.paths, "notification.failed", session=session or None, priority="warning",
        message=f"notification not delivered (attempt {attempts}, will retry): {errors}",
        data={"reaction": reaction, "attempts": attempts, "notifiers": names, "errors": errors},
    )  # fmt: skip
    sent_part = f"notified {', '.join(sent)}; " if sent else ""
    return Flushed(session, reaction, False, f"{sent_part}failed {errors}; will retry")

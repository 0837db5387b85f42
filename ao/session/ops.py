"""Operations on existing sessions: observe, send, logs, attach, stop, restore."""

from __future__ import annotations

import dataclasses
import re
import time
import typing as t
from collections.abc import Iterator

from ao.sdk.contracts import (
    Activity,
    Copying,
    Evidence,
    Interruptible,
    Observation,
    PaneState,
    RuntimeHandle,
    SessionInfo,
    SessionInfoReader,
    WorkspaceInfo,
)
from ao.sdk.errors import AoError, ConflictError, NotFoundError, UsageError
from ao.sdk.textsafe import strip_controls
from ao.session.delivery import Delivery, deliver, enqueue, look, pending
from ao.session.inputs import check_text_size
from ao.store import events
from ao.store.handles import recorded_handle
from ao.store.record import ORCHESTRATOR, timestamp
from ao.store.state import ARCHIVE_SUFFIX, ENDED_STATUSES, Session, Status

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Agent, Runtime
    from ao.session.context import Context, Project
    from ao.session.delivery import Delivery

GONE = PaneState(alive=False, running=False)


def handle_of(session: Session) -> RuntimeHandle | None:
    """The runtime handle recorded for ``session``, if it got that far."""
    return recorded_handle(session)


def workspace_info(session: Session) -> WorkspaceInfo | None:
    """The workspace recorded for ``session``, if it got that far."""
    if session.worktree is None:
        return None
    return WorkspaceInfo(
        path=session.worktree,
        branch=session.branch or "",
        base=session.base or "",
        created_branch=session.created_branch is True,
    )


def sync_copy(ctx: Context, session: Session) -> bool:
    """When ``session`` works on its own copy of the worktree elsewhere (a host without a
    shared filesystem), bring the copy's commits and files into the worktree here (what
    the core reads next is the agent's work) and send commits ao made here to the copy
    (the agent builds on them); False when it works on the worktree itself."""
    handle = handle_of(session)
    if handle is None or session.worktree is None:
        return False
    runtime = ctx.runtime(session.runtime)
    return isinstance(runtime, Copying) and runtime.sync_copy(handle)


@dataclasses.dataclass(frozen=True)
class SessionView:
    """A session with its live activity, as shown by list/status."""

    session: Session
    activity: Activity

    @property
    def status(self) -> str:
        """The recorded status, corrected by what the runtime shows right now.

        A live reading replaces ``working``/``ready``; the states the watcher decided
        from richer evidence (``needs_input``, ``blocked``, ``stuck``, PR states) only
        yield to certainties: the agent exited, or it is visibly working again (for
        ``stuck``, whose agent reads as working anyway: it finished its turn or asks).
        """
        recorded = str(self.session.status_text or "unknown")
        live = self.activity.state
        if recorded in ENDED_STATUSES or recorded in (Status.QUEUED, Status.SPAWNING):
            return recorded
        if live == "exited":
            return Status.EXITED.value
        observed = ("working", "ready", "needs_input", "blocked")  # activities named as statuses
        if recorded in (Status.WORKING, Status.READY) and live in observed:
            return live
        if recorded in (Status.NEEDS_INPUT, Status.BLOCKED) and live == "working":
            return live
        # a stuck agent reads as working: that is no news; a finished turn or a question is
        if recorded == Status.STUCK and live in ("ready", "needs_input", "blocked"):
            return live
        return recorded

    def to_json(self) -> dict[str, t.Any]:
        """The session object of the ``--json`` contract (v1)."""
        s = self.session
        return {
            "id": s.id,
            "project": s.project or "",
            "agent": s.agent or "",
            "runtime": s.runtime or "",
            "branch": s.branch or None,
            "worktree": str(s.worktree) if s.worktree else None,
            "status": self.status,
            "activity": self.activity.state,
            "created_at": timestamp(s.created_at) if s.created_at else "",
            "updated_at": timestamp(s.updated_at) if s.updated_at else None,
            "tmux": s.runtime_name or None,  # the v1 contract's name for the runtime name
            "task": s.task or "",
            "error": s.error or None,
            "role": s.role or None,
        }


def _observe(
    ctx: Context,
    session: Session,
    panes: dict[str, PaneState],
    *,
    screen: bool,
    screens: dict[str, str] | None = None,
) -> Activity:
    """The session's activity; its screen from ``screens`` (one batched capture) or, with
    ``screen``, captured here."""
    handle = handle_of(session)
    if handle is None:
        return Activity(
            "unknown", Evidence("metadata", f"no runtime recorded (step {session.step or ''})")
        )
    pane = panes.get(handle.name, GONE)
    if pane.unreachable:  # neither running nor exited as far as anyone knows
        return Activity("unreachable", Evidence("runtime", pane.unreachable))
    text = screens.get(handle.name) if screens is not None and pane.alive else None
    if text is None and screen and pane.alive:
        try:
            text = ctx.runtime(session.runtime).capture(handle, 60)
        except NotFoundError:
            pane = GONE
    try:
        agent = ctx.agent(session.agent or "")
    except Exception as exc:  # an uninstalled plugin must not hide the session
        return Activity("unknown", Evidence("plugin", str(exc)))
    return agent.activity(Observation(pane=pane, screen=text, session=session.as_kv()))


def views(ctx: Context, projects: list[Project], *, screen: bool = True) -> list[SessionView]:
    """Every live session of ``projects`` with its activity.

    One runtime probe and, with ``screen``, one batched capture of every live pane per
    runtime: a permission prompt that only the screen shows (Gemini, OpenCode) is
    ``needs_input`` in a listing as well.
    """
    sessions = [s for p in projects for s in p.store.list()]
    sessions.sort(key=lambda s: s.role != ORCHESTRATOR)  # orchestrators first, else in order
    panes: dict[str, PaneState] = {}
    screens: dict[str, str] = {}
    runtimes: dict[str, list[Session]] = {}
    for s in sessions:
        runtimes.setdefault(s.runtime or ctx.config.defaults.runtime, []).append(s)
    for name, group in runtimes.items():
        runtime = ctx.runtime(name)
        panes.update(runtime.probe())
        handles = [h for h in map(handle_of, group) if h is not None]
        live = [h for h in handles if panes.get(h.name, GONE).alive]
        if screen and live:
            screens.update(runtime.capture_many(live))
    return [
        SessionView(s, _observe(ctx, s, panes, screen=False, screens=screens)) for s in sessions
    ]


def view(ctx: Context, session: Session) -> SessionView:
    """One session with its activity read from the screen as well."""
    panes = ctx.runtime(session.runtime).probe()
    return SessionView(session, _observe(ctx, session, panes, screen=True))


def info(ctx: Context, session: Session) -> SessionInfo | None:
    """What the agent's own records say about ``session`` (tokens, cost), if it can tell.

    Adapters read local files only; a broken or missing record is no information, never
    an error of the status command.
    """

    try:
        agent = ctx.agent(session.agent or "")
        if not isinstance(agent, SessionInfoReader):
            return None
        return agent.session_info(session.as_kv())
    except (AoError, OSError, ValueError):
        return None


# ------------------------------------------------------------------------- send


def _interrupt(
    project: Project, session: Session, runtime: Runtime, agent: Agent, handle: RuntimeHandle
) -> str:
    """Stop the agent's turn in progress with its interrupt keys; what was done, or ""."""

    if agent.activity(look(runtime, handle, session.as_kv())).state != "working":
        return ""
    keys = agent.interrupt_keys if isinstance(agent, Interruptible) else ()
    if not keys:
        raise UsageError(
            f"ao cannot interrupt {session.agent or 'this'} agent",
            hint="send without --interrupt: the message is queued until the turn ends",
        )
    for key in keys:
        runtime.send_keys(handle, key)
        time.sleep(0.3)  # each key after the TUI took the last one ("esc again to interrupt")
    events.append(
        project.paths, "message.interrupt", session=session.id,
        message=f"interrupted {session.id}'s turn ({' '.join(keys)})", data={"keys": list(keys)},
    )  # fmt: skip
    return f"interrupted the turn ({' '.join(keys)})"


def interrupt(
    ctx: Context, project: Project, session: Session, *, lock_timeout: float = 60.0
) -> str:
    """Stop the agent's turn in progress (its interrupt keys); what was done, or "" when
    it was not working. Holds the session's operation lock, like ``send``."""
    with project.store.operation(session.id, timeout=lock_timeout):
        session = project.store.read(session.id)
        handle = _live_handle(session)
        runtime = ctx.runtime(session.runtime)
        return _interrupt(project, session, runtime, ctx.agent(session.agent or ""), handle)


def send_keys(
    ctx: Context, project: Project, session: Session, keys: t.Sequence[str],
    *, lock_timeout: float = 60.0,
) -> None:  # fmt: skip
    """Press ``keys`` (runtime key names: ``Enter``, ``Escape``, ``C-c``, ``Down``...) in
    the session's agent, one after another, under the session's operation lock."""
    with project.store.operation(session.id, timeout=lock_timeout):
        session = project.store.read(session.id)
        handle = _live_handle(session)
        runtime = ctx.runtime(session.runtime)
        for key in keys:
            runtime.send_keys(handle, key)
        events.append(
            project.paths, "message.keys", session=session.id,
            message=f"keys to {session.id}: {' '.join(keys)}", data={"keys": list(keys)},
        )  # fmt: skip


def send(
    ctx: Context,
    project: Project,
    session: Session,
    text: str,
    *,
    wait: float = 10.0,
    interrupt: bool = False,
    lock_timeout: float = 60.0,
) -> Delivery:
    """Deliver ``text`` to the session's agent; earlier queued messages go first.

    Sends to one session are serialised (the session's operation lock, waited for up to
    ``lock_timeout`` seconds): each message is pasted, submitted and confirmed before
    the next one starts.

    With ``interrupt``, a turn in progress is stopped first with the agent's own
    interrupt keys (``interrupt_keys``), so the message is taken now instead of queued.

    Control characters and escape sequences are removed first (newlines, tabs and other
    text stay byte-exact): an ``ESC [201~`` would end the bracketed paste early and let the
    rest of the message reach the agent as typed keys.
    """

    text = check_text_size(strip_controls(text))
    if not text.strip():
        raise UsageError("the message is empty once control characters are removed")
    # one delivery at a time per session: concurrent pastes would merge into one input
    with project.store.operation(session.id, timeout=lock_timeout):
        session = project.store.read(session.id)
        return _send_locked(ctx, project, session, text, wait=wait, interrupt=interrupt)


def _send_locked(
    ctx: Context, project: Project, session: Session, text: str, *, wait: float, interrupt: bool
) -> Delivery:
    from ao.session.spawn import dialog_logger  # lazy: `ao list` never loads spawn

    handle = _live_handle(session)
    runtime = ctx.runtime(session.runtime)
    agent = ctx.agent(session.agent or "")
    outbox = project.paths.outbox(session.id)
    interrupted = _interrupt(project, session, runtime, agent, handle) if interrupt else ""
    for queued in pending(outbox):
        first = deliver(
            runtime, agent, handle, queued.read_text(encoding="utf-8"), wait=wait,
            session=session.as_kv(), on_dialog=dialog_logger(project, session.id),
        )  # fmt: skip
        if first.status != "delivered":
            break
        queued.unlink()
    if pending(outbox):
        path = enqueue(outbox, text)
        return Delivery("queued", f"earlier messages are still queued; queued as {path.name}")
    result = deliver(
        runtime, agent, handle, text, wait=wait, outbox=outbox,
        session=session.as_kv(), on_dialog=dialog_logger(project, session.id),
    )  # fmt: skip
    if interrupted:
        result = dataclasses.replace(result, detail=f"{interrupted}; {result.detail}")
    events.append(
        project.paths, "message.sent", session=session.id,
        message=f"message to {session.id}: {result.status}",
        data={"status": result.status, "bytes": len(text.encode()), "detail": result.detail},
    )  # fmt: skip
    return result


def _live_handle(session: Session) -> RuntimeHandle:
    handle = handle_of(session)
    if handle is None or session.status in ENDED_STATUSES:
        raise ConflictError(
            f"session {session.id} is {session.status or 'unknown'}; it has no running agent",
            hint=f"`ao restore {session.id}` first",
        )
    return handle


# ------------------------------------------------------------------------- logs / attach


def logs(ctx: Context, project: Project, session_id: str, lines: int) -> str:
    """The last ``lines`` lines the session's pane shows, or its saved final screen."""

    if project.store.exists(session_id):
        session = project.store.read(session_id)
        handle = handle_of(session)
        if handle is not None:
            try:
                return strip_controls(ctx.runtime(session.runtime).capture(handle, lines))
            except NotFoundError:
                pass

    name = re.compile(re.escape(session_id) + ARCHIVE_SUFFIX + r"\.screen\.txt")
    saved = (
        sorted(p for p in project.paths.logs.iterdir() if name.fullmatch(p.name))
        if project.paths.logs.is_dir()
        else []
    )
    if saved:
        text = saved[-1].read_text(encoding="utf-8")
        return "\n".join(text.rstrip("\n").splitlines()[-lines:])
    raise NotFoundError(
        f"no output recorded for session {session_id!r}", hint="see `ao list --all`"
    )


def follow(ctx: Context, session: Session, interval: float = 0.5) -> Iterator[str]:
    """Yield new lines of the pane's output as they appear, until the session ends."""

    handle = _live_handle(session)
    runtime = ctx.runtime(session.runtime)
    seen: list[str] = []
    while True:
        try:
            lines = strip_controls(runtime.capture(handle, 2000)).splitlines()
        except NotFoundError:
            return
        start = _overlap(seen, lines)
        yield from lines[start:]
        seen = lines
        pane = runtime.probe().get(handle.name, GONE)
        if not pane.running:
            return
        time.sleep(interval)


def _overlap(old: list[str], new: list[str]) -> int:
    """Index in ``new`` after the longest suffix of ``old`` that starts ``new``."""
    if not old:
        return 0
    for size in range(min(len(old), len(new)), 0, -1):
        if old[-size:] == new[:size]:
            return size
    # the screen was rewritten or scrolled past: print only what is genuinely new
    common = 0
    while common < min(len(old), len(new)) and old[common] == new[common]:
        common += 1
    return common


def attach_argv(ctx: Context, session: Session, *, inside: bool | None = None) -> list[str]:
    """The command that puts a human in front of the session (``inside``: already in one
    of the runtime's own views; None: the runtime tells)."""
    handle = _live_handle(session)
    runtime_name = session.runtime or ctx.config.defaults.runtime
    runtime = ctx.runtime(runtime_name)
    if not runtime.probe().get(handle.name, GONE).alive:
        raise ConflictError(
            f"session {session.id} has no {runtime_name} session",
            hint=f"`ao restore {session.id}`",
        )
    return ctx.terminal().open_argv(runtime.attach_argv(handle, inside=inside))
